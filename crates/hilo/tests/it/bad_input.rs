//! Bad input never yields a 500 or a partial write (T11).

use serde_json::json;

use super::support::{StatusCode, TestServer};

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
            "NUL in text",
            json!({"client_txn_id": "a", "text": "a\u{0}b"}),
            "invalid_text",
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
