//! Bad input never yields a 500 or a partial write (T11).

use serde_json::json;

use serde_json::Value;

use super::authz;
use super::support::{StatusCode, TestServer, User};

#[tokio::test]
async fn malformed_bodies_get_the_contract_error_shape() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let id = server.direct(&ana, &bob).await;
    let path = format!("/api/v1/conversations/{id}/messages");
    let json_type = Some("application/json");
    let cases: Vec<(&str, Option<&str>, Vec<u8>, StatusCode)> = vec![
        (
            "malformed JSON",
            json_type,
            b"{\"client_txn_id\": ".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "trailing garbage",
            json_type,
            b"{\"client_txn_id\":\"a\",\"text\":\"b\"} x".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "wrong type",
            json_type,
            br#"{"client_txn_id": 5, "text": "x"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "missing field",
            json_type,
            br#"{"text": "x"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "invalid UTF-8",
            json_type,
            b"{\"client_txn_id\":\"a\",\"text\":\"\xff\xfe\"}".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "lone surrogate",
            json_type,
            br#"{"client_txn_id":"a","text":"\ud800"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "not JSON content type",
            Some("text/plain"),
            br#"{"client_txn_id":"a","text":"b"}"#.to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "no content type",
            None,
            br#"{"client_txn_id":"a","text":"b"}"#.to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "over 1 MiB",
            json_type,
            format!(
                "{{\"client_txn_id\":\"a\",\"text\":\"{}\"}}",
                "x".repeat(1024 * 1024 + 10)
            )
            .into_bytes(),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    for (name, content_type, body, want) in cases {
        let (status, answer) = server
            .raw("POST", &path, Some(&ana.token), content_type, body)
            .await;
        assert_eq!(status, want, "{name}: {answer}");
        assert!(
            answer["error"]["code"]
                .as_str()
                .is_some_and(|c| !c.is_empty()),
            "{name}: {answer}"
        );
        assert!(answer["error"]["message"].is_string(), "{name}");
    }
    for (name, body, code) in [
        (
            "empty text",
            json!({"client_txn_id": "a", "text": "   "}),
            "invalid_text",
        ),
        ("no text", json!({"client_txn_id": "a"}), "invalid_text"),
        (
            "text too long",
            json!({"client_txn_id": "a", "text": "x".repeat(10_001)}),
            "text_too_long",
        ),
        (
            // Refused before any field is read: no string anywhere may carry a NUL.
            "NUL in text",
            json!({"client_txn_id": "a", "text": "a\u{0}b"}),
            "nul_character",
        ),
        (
            "empty txn id",
            json!({"client_txn_id": "", "text": "x"}),
            "invalid_client_txn_id",
        ),
        (
            "txn id too long",
            json!({"client_txn_id": "t".repeat(65), "text": "x"}),
            "invalid_client_txn_id",
        ),
    ] {
        let (status, answer) = server.post(&path, &ana, body).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some(code)),
            "{name}"
        );
    }
    let (status, ok) = server
        .post(
            &path,
            &ana,
            json!({"client_txn_id": "t".repeat(64), "text": "é".repeat(10_000)}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "limits are inclusive and count characters: {ok}"
    );
    assert_eq!(
        server.count("messages").await,
        1,
        "nothing but the valid send was written"
    );
    assert_eq!(
        server.count("user_events").await,
        4,
        "two conversation.created + two message.created, no stray events"
    );
}

#[tokio::test]
async fn unknown_routes_ids_and_missing_tokens() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let (status, body) = server
        .call("GET", "/api/v1/nowhere", Some(&ana.token), None)
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, body) = server
        .call("PUT", "/api/v1/me", Some(&ana.token), None)
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed"))
    );
    for path in [
        "/api/v1/conversations/01234567-no-such",
        "/api/v1/messages/nope",
        "/api/v1/conversations/nope/messages",
    ] {
        let (status, body) = server.call("GET", path, Some(&ana.token), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert!(body["error"]["code"].is_string());
    }
    for (method, path) in [
        ("GET", "/api/v1/me"),
        ("GET", "/api/v1/conversations"),
        ("POST", "/api/v1/conversations"),
        ("GET", "/api/v1/sessions"),
        ("GET", "/api/v1/users?q=a"),
    ] {
        let (status, body) = server.call(method, path, None, Some(json!({}))).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("unauthenticated")),
            "{method} {path}"
        );
        let (status, _) = server
            .call(method, path, Some("hilo_not-a-real-token"), Some(json!({})))
            .await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{method} {path} with a forged token"
        );
    }
    let (status, _) = server
        .raw("GET", "/api/v1/me?token=x", None, None, Vec::new())
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "tokens are never read from the query string"
    );
    let (status, body) = server
        .post("/api/v1/conversations", &ana, json!({"kind": "channel"}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_kind"))
    );
    let (status, _) = server
        .post(
            "/api/v1/conversations",
            &ana,
            json!({"kind": "group", "name": "x".repeat(101), "members": []}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = server
        .post(
            "/api/v1/conversations",
            &ana,
            json!({"kind": "group", "name": "ok", "members": ["ghost"]}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for body in [
        json!({"kind": "group", "name": "ok", "members": [], "with": ""}),
        json!({"kind": "group", "name": "ok", "members": [], "with": "ana"}),
        json!({"kind": "direct", "with": "ana", "name": ""}),
        json!({"kind": "direct", "with": "ana", "members": []}),
    ] {
        let (status, answer) = server
            .post("/api/v1/conversations", &ana, body.clone())
            .await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_field")),
            "{body}: another kind's fields are refused, never silently ignored"
        );
    }
    assert_eq!(
        server.count("conversations").await,
        0,
        "refused creations write nothing"
    );
}

/// Every route that names a conversation or a message answers a non-member exactly as it
/// answers an id that does not exist, and writes nothing (T9, for this issue's routes).
#[tokio::test]
async fn strangers_get_404_and_write_nothing_on_every_conversation_route() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let eve = server.register("eve").await;
    let id = server.group(&ana, "private", &[&bob]).await;
    let message = server.send(&ana, &id, "t1", "secret").await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let routes = [
        ("GET", format!("/api/v1/conversations/{id}"), None),
        (
            "PATCH",
            format!("/api/v1/conversations/{id}"),
            Some(json!({"name": "mine now"})),
        ),
        (
            "POST",
            format!("/api/v1/conversations/{id}/members"),
            Some(json!({"usernames": ["eve"]})),
        ),
        (
            "DELETE",
            format!("/api/v1/conversations/{id}/members/bob"),
            None,
        ),
        (
            "PATCH",
            format!("/api/v1/conversations/{id}/settings"),
            Some(json!({"folder": "archived"})),
        ),
        (
            "POST",
            format!("/api/v1/conversations/{id}/read"),
            Some(json!({"seq": 1})),
        ),
        (
            "POST",
            format!("/api/v1/conversations/{id}/typing"),
            Some(json!({"typing": true})),
        ),
        (
            "POST",
            format!("/api/v1/conversations/{id}/messages"),
            Some(json!({"client_txn_id": "x", "text": "hi"})),
        ),
        ("GET", format!("/api/v1/conversations/{id}/messages"), None),
        ("GET", format!("/api/v1/messages/{message}"), None),
    ];
    let events_before = server.count("user_events").await;
    for (method, path, body) in routes {
        let (status, answer) = server
            .call(method, &path, Some(&eve.token), body.clone())
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {answer}");
        let missing = path
            .replace(&id, "00000000-0000-7000-8000-000000000000")
            .replace(&message, "00000000-0000-7000-8000-000000000001");
        let (missing_status, missing_answer) =
            server.call(method, &missing, Some(&eve.token), body).await;
        assert_eq!(
            (status, answer["error"]["code"].clone()),
            (missing_status, missing_answer["error"]["code"].clone()),
            "{method} {path}: no existence oracle"
        );
        assert!(
            !answer.to_string().contains("secret") && !answer.to_string().contains("private"),
            "{method} {path} leaked data"
        );
    }
    assert_eq!(server.count("messages").await, 1);
    assert_eq!(
        server.count("user_events").await,
        events_before,
        "no events were written"
    );
    let (_, view) = server
        .get(&format!("/api/v1/conversations/{id}"), &ana)
        .await;
    assert_eq!(
        (
            view["name"].as_str(),
            view["members"].as_array().map(Vec::len)
        ),
        (Some("private"), Some(2))
    );
}

/// The structural bad-input table, over every route that takes a body (the authorization
/// matrix lists them all, each with a body its rightful caller would send, so a new route
/// is covered as soon as it is listed there): each case is a 4xx in the contract's error
/// shape and changes nothing in the database.
#[tokio::test]
async fn every_body_refuses_broken_json_and_writes_nothing() {
    let w = authz::world().await;
    let (_, doc) = w
        .server
        .call("GET", "/api/v1/openapi.json", None, None)
        .await;
    let mut failures = Vec::new();
    let mut covered = 0;
    for (route, access, body) in authz::matrix() {
        let (method, template) = route.split_once(' ').expect("METHOD path");
        // The SMS providers' signed forms: what they refuse is in sms.rs.
        let content = &doc["paths"][template][method.to_lowercase()]["requestBody"]["content"];
        if !content["application/x-www-form-urlencoded"].is_null() {
            continue;
        }
        // JSON bodies; the upload's multipart body has tables of its own (attachments.rs).
        let documented = !doc["paths"][template][method.to_lowercase()]["requestBody"]["content"]
            ["application/json"]
            .is_null();
        if documented != body.is_some() {
            failures.push(format!(
                "{route}: the matrix says body {}, the OpenAPI document says {documented}",
                body.is_some()
            ));
        }
        let Some(body) = authz::fill_body(&body, &w) else {
            continue;
        };
        covered += 1;
        let path = authz::fill(route, access, &w);
        let token = authz::rightful(access, &w).map(|u| u.token.as_str());
        let valid = body.to_string();
        let json = Some("application/json");
        let deep = format!("{}{}", "[".repeat(33), "]".repeat(33));
        let mut cases: Vec<RawCase> = vec![
            ("malformed JSON", json, b"{\"a\": ".to_vec(), &[400]),
            (
                "trailing garbage",
                json,
                format!("{valid} x").into_bytes(),
                &[400],
            ),
            ("an array", json, b"[]".to_vec(), &[400]),
            ("null", json, b"null".to_vec(), &[400]),
            (
                "text/plain",
                Some("text/plain"),
                valid.clone().into_bytes(),
                &[415],
            ),
            ("no content type", None, valid.clone().into_bytes(), &[415]),
            (
                "invalid UTF-8",
                json,
                b"{\"x\":\"\xff\xfe\"}".to_vec(),
                &[400],
            ),
            (
                "nesting 33 deep in an extra field",
                json,
                with_field(&valid, &format!("\"extra\":{deep}")).into_bytes(),
                &[400],
            ),
            (
                "over 1 MiB",
                json,
                with_field(&valid, &format!("\"extra\":\"{}\"", "x".repeat(1 << 20))).into_bytes(),
                &[413],
            ),
        ];
        if let Some((key, value)) = body.as_object().and_then(|o| o.iter().next()) {
            cases.push((
                "a duplicate key",
                json,
                with_field(&valid, &format!("{}:{value}", Value::from(key.as_str()))).into_bytes(),
                &[400],
            ));
        }
        for (case, content_type, bytes, allowed) in cases {
            let before = w.server.db.text(authz::FINGERPRINT).await;
            let (status, answer) = w
                .server
                .raw(method, &path, token, content_type, bytes)
                .await;
            let after = w.server.db.text(authz::FINGERPRINT).await;
            if !allowed.contains(&status.as_u16()) || answer["error"]["code"].as_str().is_none() {
                failures.push(format!("{route}, {case}: {status} {answer}"));
            }
            if before != after {
                failures.push(format!("{route}, {case}: wrote ({before} -> {after})"));
            }
        }
    }
    assert!(covered >= 10, "only {covered} routes with a body");
    assert!(failures.is_empty(), "{failures:#?}");
}

/// `valid` (a JSON object) with one more member written first.
fn with_field(valid: &str, member: &str) -> String {
    let rest = valid.trim_start_matches('{');
    if rest.trim() == "}" {
        format!("{{{member}}}")
    } else {
        format!("{{{member},{rest}")
    }
}

/// The field-level bad-input table: odd names, unknown enum values, impossible numbers and
/// times, malformed ids and queries. Each is a 4xx with a machine code and writes nothing.
#[tokio::test]
async fn odd_values_are_refused_with_a_code_and_write_nothing() {
    let w = authz::world().await;
    let g = w.group.as_str();
    let pw = "correct horse battery";
    let long = format!("\"{}\"", "n".repeat(10_000));
    // JSON literals, written out so a lone surrogate can be sent at all.
    let names = [
        ("NUL", r#""a\u0000b""#),
        ("a lone surrogate", r#""a\ud800b""#),
        ("a bidi override", r#""evil\u202egnp""#),
        ("a zero-width space only", r#""\u200b""#),
        ("empty", r#""""#),
        ("over-long", long.as_str()),
    ];
    // (what, method, path, caller, body with {V} for the odd value)
    let name_fields: [(&str, &str, String, Option<&User>, String); 6] = [
        (
            "username",
            "POST",
            "/api/v1/accounts".into(),
            None,
            format!(r#"{{"username":{{V}},"password":"{pw}"}}"#),
        ),
        (
            "display name at sign-up",
            "POST",
            "/api/v1/accounts".into(),
            None,
            format!(r#"{{"username":"newbie","password":"{pw}","display_name":{{V}}}}"#),
        ),
        (
            "display name",
            "PATCH",
            "/api/v1/me".into(),
            Some(&w.ana),
            r#"{"display_name":{V}}"#.into(),
        ),
        (
            "device name",
            "POST",
            "/api/v1/sessions".into(),
            None,
            format!(r#"{{"username":"ana","password":"{pw}","device_name":{{V}}}}"#),
        ),
        (
            "group name",
            "POST",
            "/api/v1/conversations".into(),
            Some(&w.ana),
            r#"{"kind":"group","name":{V},"members":[]}"#.into(),
        ),
        (
            "new group name",
            "PATCH",
            format!("/api/v1/conversations/{g}"),
            Some(&w.ana),
            r#"{"name":{V}}"#.into(),
        ),
    ];
    let mut cases: Vec<Case> = Vec::new();
    for (field, method, path, caller, template) in &name_fields {
        for (what, literal) in &names {
            cases.push((
                format!("{field}: {what}"),
                method,
                path.clone(),
                *caller,
                Some(template.replace("{V}", literal)),
                &[400],
            ));
        }
    }
    let too_many = too_many_usernames();
    let m = w.message.as_str();
    let forward_without_key = format!(r#"{{"conversation_id":"{g}","client_txn_id":""}}"#);
    let bodies: Vec<(&str, &str, String, &str)> = vec![
        (
            "unknown conversation kind",
            "POST",
            "/api/v1/conversations".into(),
            r#"{"kind":"channel","name":"x"}"#,
        ),
        (
            "unknown folder",
            "PATCH",
            format!("/api/v1/conversations/{g}/settings"),
            r#"{"folder":"trash"}"#,
        ),
        (
            "unknown notify level",
            "PATCH",
            format!("/api/v1/conversations/{g}/settings"),
            r#"{"notify":"sometimes"}"#,
        ),
        (
            "a time past year 9999",
            "PATCH",
            format!("/api/v1/conversations/{g}/settings"),
            r#"{"muted_until":"+275760-09-13T00:00:00Z"}"#,
        ),
        (
            "a time that is no time",
            "PATCH",
            format!("/api/v1/conversations/{g}/settings"),
            r#"{"muted_until":"tomorrow"}"#,
        ),
        (
            "a negative read position",
            "POST",
            format!("/api/v1/conversations/{g}/read"),
            r#"{"seq":-1}"#,
        ),
        (
            "a read position past i64",
            "POST",
            format!("/api/v1/conversations/{g}/read"),
            r#"{"seq":99999999999999999999}"#,
        ),
        (
            "a fractional read position",
            "POST",
            format!("/api/v1/conversations/{g}/read"),
            r#"{"seq":1.5}"#,
        ),
        (
            "typing as a string",
            "POST",
            format!("/api/v1/conversations/{g}/typing"),
            r#"{"typing":"yes"}"#,
        ),
        (
            "a NUL in a username to add",
            "POST",
            format!("/api/v1/conversations/{g}/members"),
            r#"{"usernames":["gu\u0000s"]}"#,
        ),
        (
            "a NUL in the other party's username",
            "POST",
            "/api/v1/conversations".into(),
            r#"{"kind":"direct","with":"b\u0000ob"}"#,
        ),
        (
            "a NUL in a login's username",
            "POST",
            "/api/v1/sessions".into(),
            r#"{"username":"a\u0000na","password":"correct horse battery"}"#,
        ),
        (
            "settings as a list (fields by position)",
            "PATCH",
            "/api/v1/me".into(),
            r#"{"settings":[null,null]}"#,
        ),
        (
            "settings as a list of values",
            "PATCH",
            "/api/v1/me".into(),
            r#"{"settings":["nobody","nobody",false]}"#,
        ),
        (
            "a display name padded past 64 characters",
            "PATCH",
            "/api/v1/me".into(),
            r#"{"display_name":"  aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa  "}"#,
        ),
        (
            "usernames not a list",
            "POST",
            format!("/api/v1/conversations/{g}/members"),
            r#"{"usernames":"gus"}"#,
        ),
        (
            "too many usernames",
            "POST",
            format!("/api/v1/conversations/{g}/members"),
            &too_many,
        ),
        (
            "latitude 123",
            "POST",
            format!("/api/v1/conversations/{g}/messages"),
            r#"{"client_txn_id":"bad-lat","location":{"lat":123,"lon":0}}"#,
        ),
        (
            "a latitude past f64",
            "POST",
            format!("/api/v1/conversations/{g}/messages"),
            r#"{"client_txn_id":"bad-lat","location":{"lat":1e999,"lon":0}}"#,
        ),
        (
            "a latitude as text",
            "POST",
            format!("/api/v1/conversations/{g}/messages"),
            r#"{"client_txn_id":"bad-lat","location":{"lat":"40.1","lon":0}}"#,
        ),
        (
            "a location as a list",
            "POST",
            format!("/api/v1/conversations/{g}/messages"),
            r#"{"client_txn_id":"bad-lat","location":[40.1,0]}"#,
        ),
        (
            "a location label on two lines",
            "POST",
            format!("/api/v1/conversations/{g}/messages"),
            r#"{"client_txn_id":"bad-lat","location":{"lat":1,"lon":1,"label":"a
b"}}"#,
        ),
        (
            "neither text nor location",
            "POST",
            format!("/api/v1/conversations/{g}/messages"),
            r#"{"client_txn_id":"nothing"}"#,
        ),
        (
            "a forged reply id",
            "POST",
            format!("/api/v1/conversations/{g}/messages"),
            r#"{"client_txn_id":"bad-reply","text":"x","reply_to":"forged"}"#,
        ),
        (
            "an edit to no text",
            "PATCH",
            format!("/api/v1/messages/{m}"),
            r#"{"text":" "}"#,
        ),
        (
            "an edit with a control character",
            "PATCH",
            format!("/api/v1/messages/{m}"),
            r#"{"text":"ab"}"#,
        ),
        (
            "a forward without its idempotency key",
            "POST",
            format!("/api/v1/messages/{m}/forward"),
            &forward_without_key,
        ),
    ];
    for (what, method, path, body) in bodies {
        cases.push((
            what.into(),
            method,
            path,
            Some(&w.ana),
            Some(body.into()),
            &[400],
        ));
    }
    let long_id = "i".repeat(10_000);
    let queries: Vec<(&str, String, &[u16])> = vec![
        (
            "a negative limit",
            format!("/api/v1/conversations/{g}/messages?limit=-1"),
            &[400],
        ),
        (
            "a zero limit",
            format!("/api/v1/conversations/{g}/messages?limit=0"),
            &[400],
        ),
        (
            "a huge limit",
            format!("/api/v1/conversations/{g}/messages?limit=99999999999999999999"),
            &[400],
        ),
        (
            "a limit that is no number",
            format!("/api/v1/conversations/{g}/messages?limit=ten"),
            &[400],
        ),
        (
            "a negative before",
            format!("/api/v1/conversations/{g}/messages?before=-5"),
            &[400],
        ),
        ("a NUL in a search", "/api/v1/users?q=a%00n".into(), &[400]),
        ("an empty search", "/api/v1/users?q=".into(), &[400]),
        (
            "a search padded past 64 characters",
            format!("/api/v1/users?q=%20{}%20", "q".repeat(63)),
            &[400],
        ),
        (
            "an over-long search",
            format!("/api/v1/users?q={}", "q".repeat(1_000)),
            &[400],
        ),
        (
            "a NUL in a message search",
            "/api/v1/search/messages?q=a%00n".into(),
            &[400],
        ),
        (
            "a message search with no words",
            "/api/v1/search/messages?q=%22*%22".into(),
            &[400],
        ),
        (
            "an over-long message search",
            format!("/api/v1/search/messages?q={}", "q".repeat(1_000)),
            &[400],
        ),
        (
            "a message search past the deepest page",
            "/api/v1/search/messages?q=hola&cursor=999999999999999999999".into(),
            &[400],
        ),
        (
            "a message search with a date that is no date",
            "/api/v1/search/messages?q=hola&before=2026-13-45".into(),
            &[400],
        ),
        (
            "a cursor that is no cursor",
            "/api/v1/events?since=abc&timeout=0".into(),
            &[400],
        ),
        (
            "a negative long-poll timeout",
            "/api/v1/events?timeout=-1".into(),
            &[400],
        ),
        (
            "an unknown conversation id",
            "/api/v1/conversations/nope".into(),
            &[404],
        ),
        (
            "an over-long conversation id",
            format!("/api/v1/conversations/{long_id}"),
            &[400, 404, 414],
        ),
        (
            "a NUL in an id",
            "/api/v1/conversations/a%00b/messages".into(),
            &[400, 404],
        ),
        (
            "a path in an id",
            "/api/v1/messages/..%2F..%2Fetc".into(),
            &[400, 404],
        ),
        (
            "an unknown user",
            "/api/v1/users/no%20such%20user".into(),
            &[400, 404],
        ),
    ];
    for (what, path, allowed) in queries {
        cases.push((what.into(), "GET", path, Some(&w.ana), None, allowed));
    }
    for (what, method, path, allowed) in [
        (
            "an emoji that is text",
            "PUT",
            format!("/api/v1/messages/{m}/reactions/ok"),
            &[400][..],
        ),
        (
            "two emoji",
            "PUT",
            format!("/api/v1/messages/{m}/reactions/%F0%9F%91%8D%F0%9F%91%8D"),
            &[400],
        ),
        (
            "an emoji and text",
            "DELETE",
            format!("/api/v1/messages/{m}/reactions/%F0%9F%91%8Dx"),
            &[400],
        ),
        (
            "a reaction to a forged message",
            "PUT",
            "/api/v1/messages/forged/reactions/%F0%9F%91%8D".into(),
            &[404],
        ),
        (
            "an unknown delete scope",
            "DELETE",
            format!("/api/v1/messages/{m}?scope=all"),
            &[400],
        ),
        (
            "deleting a forged message",
            "DELETE",
            "/api/v1/messages/forged?scope=everyone".into(),
            &[404],
        ),
    ] {
        cases.push((what.into(), method, path, Some(&w.ana), None, allowed));
    }
    cases.push((
        "revoking an unknown session".into(),
        "DELETE",
        "/api/v1/sessions/nope".into(),
        Some(&w.ana),
        None,
        &[404],
    ));

    let mut failures = Vec::new();
    for (what, method, path, caller, body, allowed) in cases {
        let before = w.server.db.text(authz::FINGERPRINT).await;
        let token = caller.map(|u| u.token.as_str());
        let (status, answer) = match body {
            Some(body) => {
                w.server
                    .raw(
                        method,
                        &path,
                        token,
                        Some("application/json"),
                        body.into_bytes(),
                    )
                    .await
            }
            None => w.server.call(method, &path, token, None).await,
        };
        let after = w.server.db.text(authz::FINGERPRINT).await;
        if !allowed.contains(&status.as_u16()) || answer["error"]["code"].as_str().is_none() {
            failures.push(format!(
                "{what} ({method} {}): {status} {answer}",
                shorten(&path)
            ));
        }
        if before != after {
            failures.push(format!("{what}: wrote ({before} -> {after})"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

fn too_many_usernames() -> String {
    let names: Vec<String> = (0..1_000).map(|n| format!("user{n}")).collect();
    serde_json::json!({ "usernames": names }).to_string()
}

fn shorten(path: &str) -> String {
    path.chars().take(80).collect()
}

/// A raw-body case: its name, the content type, the bytes, the statuses that count as a
/// refusal.
type RawCase<'a> = (&'a str, Option<&'a str>, Vec<u8>, &'static [u16]);

/// A request case: what it tries, method, path, caller, raw JSON body, the statuses that
/// count as a refusal.
type Case<'a> = (
    String,
    &'a str,
    String,
    Option<&'a User>,
    Option<String>,
    &'static [u16],
);
