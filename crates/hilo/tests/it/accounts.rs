//! Accounts, sessions, registration policy, `/me` and users.

use serde_json::json;

use super::support::{StatusCode, TestServer, close_code, next_json};

#[tokio::test]
async fn first_account_is_admin_and_later_ones_are_not() {
    let server = TestServer::start().await;
    let (status, body) = server.call("POST", "/api/v1/accounts", None, Some(json!({"username": "Ana.Admin", "password": "correct horse", "display_name": "Ana"}))).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        body["user"]["username"], "ana.admin",
        "usernames are case-insensitive, stored lower case"
    );
    assert_eq!(body["user"]["is_admin"], true);
    assert_eq!(body["user"]["display_name"], "Ana");
    assert_eq!(body["user"]["email_address"], "ana.admin@localhost");
    assert!(
        body["token"].as_str().is_some_and(|t| t.len() >= 40),
        "a token with at least 128 bits: {body}"
    );
    let bob = server.register("bob").await;
    let (_, me) = server.get("/api/v1/me", &bob).await;
    assert_eq!(me["is_admin"], false);
    // Passwords are Argon2id PHC strings; tokens and passwords never reach the database.
    let hash = server
        .db
        .text("SELECT password_hash FROM users WHERE username = 'bob'")
        .await;
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(
        !server.db.contains(&bob.token).await,
        "the bearer token is stored only hashed"
    );
    assert!(
        !server.db.contains("correct horse battery").await,
        "the password is stored only hashed"
    );
    assert_eq!(
        me["settings"],
        json!({"who_can_message": "everyone", "last_seen_visibility": "everyone", "read_receipts": true})
    );
}

#[tokio::test]
async fn usernames_are_validated_and_unique() {
    let server = TestServer::start().await;
    server.register("carla").await;
    for (username, status, code) in [
        ("CARLA", StatusCode::CONFLICT, "username_taken"),
        ("ab", StatusCode::BAD_REQUEST, "invalid_username"),
        (&"a".repeat(33), StatusCode::BAD_REQUEST, "invalid_username"),
        ("with space", StatusCode::BAD_REQUEST, "invalid_username"),
        ("émile", StatusCode::BAD_REQUEST, "invalid_username"),
    ] {
        let (got, body) = server
            .call(
                "POST",
                "/api/v1/accounts",
                None,
                Some(json!({"username": username, "password": "correct horse"})),
            )
            .await;
        assert_eq!(got, status, "{username}: {body}");
        assert_eq!(body["error"]["code"], code, "{username}");
    }
    let (status, body) = server
        .call(
            "POST",
            "/api/v1/accounts",
            None,
            Some(json!({"username": "a".repeat(32), "password": "correct horse"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "32 characters are allowed: {body}"
    );
    let (status, body) = server
        .call(
            "POST",
            "/api/v1/accounts",
            None,
            Some(json!({"username": "dave", "password": "short"})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("weak_password"))
    );
    let (status, _) = server.call("POST", "/api/v1/accounts", None, Some(json!({"username": "dave", "password": "correct horse", "display_name": "x".repeat(65)}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        server.count("users WHERE deleted_at IS NULL").await,
        2,
        "refused registrations write nothing"
    );
}

#[tokio::test]
async fn login_gives_the_same_answer_for_unknown_users_and_wrong_passwords() {
    let server = TestServer::start().await;
    server.register("erin").await;
    let (wrong, wrong_body) = server
        .call(
            "POST",
            "/api/v1/sessions",
            None,
            Some(json!({"username": "erin", "password": "not the password"})),
        )
        .await;
    let (unknown, unknown_body) = server
        .call(
            "POST",
            "/api/v1/sessions",
            None,
            Some(json!({"username": "nobody", "password": "not the password"})),
        )
        .await;
    assert_eq!(wrong, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_body, unknown_body);
    assert_eq!(wrong_body["error"]["code"], "invalid_credentials");
    let second = server.login("ERIN").await;
    let (status, me) = server.get("/api/v1/me", &second).await;
    assert_eq!(
        (status, me["username"].as_str()),
        (StatusCode::OK, Some("erin"))
    );
}

#[tokio::test]
async fn sessions_are_listed_and_revoked() {
    let server = TestServer::start().await;
    let first = server.register("fran").await;
    let second = server.login("fran").await;
    let (status, body) = server.get("/api/v1/sessions", &first).await;
    assert_eq!(status, StatusCode::OK);
    let sessions = body["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 2);
    let current: Vec<_> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], first.session_id.as_str());
    assert!(
        sessions
            .iter()
            .any(|s| s["device_name"] == "second device" && s["ip"] == "127.0.0.1")
    );

    // Another user cannot revoke it; unknown ids are 404.
    let other = server.register("gus").await;
    let (status, _) = server
        .call(
            "DELETE",
            &format!("/api/v1/sessions/{}", second.session_id),
            Some(&other.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = server
        .call(
            "DELETE",
            &format!("/api/v1/sessions/{}", second.session_id),
            Some(&first.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = server.get("/api/v1/me", &second).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthenticated"))
    );

    // Logging out the current session.
    let (status, _) = server
        .call(
            "DELETE",
            "/api/v1/sessions/current",
            Some(&first.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = server.get("/api/v1/me", &first).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn revoking_a_session_closes_its_event_streams() {
    let server = TestServer::start().await;
    let phone = server.register("hana").await;
    let laptop = server.login("hana").await;
    let mut phone_ws = server.ws(&phone, None).await;
    let mut laptop_ws = server.ws(&laptop, None).await;
    assert_eq!(next_json(&mut phone_ws).await["type"], "ready");
    assert_eq!(next_json(&mut laptop_ws).await["type"], "ready");
    let (status, _) = server
        .call(
            "DELETE",
            &format!("/api/v1/sessions/{}", phone.session_id),
            Some(&laptop.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let event = next_json(&mut phone_ws).await;
    assert_eq!(event["type"], "session.revoked");
    assert_eq!(
        close_code(&mut phone_ws).await,
        4001,
        "the revoked session's stream closes"
    );
    let event = next_json(&mut laptop_ws).await;
    assert_eq!(
        (event["type"].as_str(), event["session_id"].as_str()),
        (Some("session.revoked"), Some(phone.session_id.as_str())),
        "other devices learn of it and stay open"
    );
}

#[tokio::test]
async fn me_can_be_changed_and_bad_settings_are_refused() {
    let server = TestServer::start().await;
    let ivan = server.register("ivan").await;
    let (status, body) = server.call("PATCH", "/api/v1/me", Some(&ivan.token), Some(json!({"display_name": " Iván ", "settings": {"who_can_message": "friends", "read_receipts": false}}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["display_name"], "Iván");
    assert_eq!(
        body["settings"],
        json!({"who_can_message": "friends", "last_seen_visibility": "everyone", "read_receipts": false})
    );
    let (status, body) = server
        .call(
            "PATCH",
            "/api/v1/me",
            Some(&ivan.token),
            Some(json!({"display_name": "New", "settings": {"last_seen_visibility": "aliens"}})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_settings"))
    );
    let (_, me) = server.get("/api/v1/me", &ivan).await;
    assert_eq!(
        me["display_name"], "Iván",
        "a refused patch changes nothing"
    );
    assert_eq!(
        me["settings"]["read_receipts"], false,
        "settings are stored"
    );
}

#[tokio::test]
async fn users_can_be_looked_up_and_searched() {
    let server = TestServer::start().await;
    let juan = server.register("juan").await;
    let (status, _) = server
        .call(
            "PATCH",
            "/api/v1/me",
            Some(&juan.token),
            Some(json!({"display_name": "Juan Pérez"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let kim = server.register("kim").await;
    let (status, body) = server.get("/api/v1/users/JUAN", &kim).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (body["username"].as_str(), body["relationship"].as_str()),
        (Some("juan"), Some("none"))
    );
    assert_eq!(body["online"], false);
    let (_, body) = server.get("/api/v1/users/kim", &kim).await;
    assert_eq!(body["relationship"], "self");
    let (status, body) = server.get("/api/v1/users/nobody", &kim).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("user_not_found"))
    );
    // Presence follows open streams, and privacy hides it.
    let mut ws = server.ws(&juan, None).await;
    next_json(&mut ws).await;
    let (_, body) = server.get("/api/v1/users/juan", &kim).await;
    assert_eq!(body["online"], true);
    server
        .call(
            "PATCH",
            "/api/v1/me",
            Some(&juan.token),
            Some(json!({"settings": {"last_seen_visibility": "nobody"}})),
        )
        .await;
    let (_, body) = server.get("/api/v1/users/juan", &kim).await;
    assert!(
        body.get("online").is_none() && body.get("last_seen_at").is_none(),
        "{body}"
    );

    let (status, body) = server.get("/api/v1/users?q=p%C3%A9rez", &kim).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<_> = body["users"]
        .as_array()
        .expect("users")
        .iter()
        .map(|u| u["username"].clone())
        .collect();
    assert_eq!(names, vec![json!("juan")]);
    let (status, _) = server.get("/api/v1/users?q=", &kim).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn invite_registration_needs_a_single_use_admin_invite() {
    let server = TestServer::start_with(|args| args.registration = Some("invite".into())).await;
    let admin = server.register("root").await;
    let (status, body) = server
        .call(
            "POST",
            "/api/v1/accounts",
            None,
            Some(json!({"username": "lena", "password": "correct horse"})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("invite_required"))
    );
    let member = {
        let (status, body) = server
            .post("/api/v1/admin/invites", &admin, json!({}))
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let code = body["code"].as_str().expect("code").to_owned();
        let (status, body) = server
            .call(
                "POST",
                "/api/v1/accounts",
                None,
                Some(json!({"username": "lena", "password": "correct horse", "invite_code": code})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = server
            .call(
                "POST",
                "/api/v1/accounts",
                None,
                Some(json!({"username": "mara", "password": "correct horse", "invite_code": code})),
            )
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("invite_required")),
            "an invite works once"
        );
        super::support::user_from(&body_for(&server, "lena").await)
    };
    let (status, body) = server
        .post("/api/v1/admin/invites", &member, json!({}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("admin_only"))
    );
    let (status, _) = server
        .call(
            "POST",
            "/api/v1/accounts",
            None,
            Some(
                json!({"username": "nina", "password": "correct horse", "invite_code": "made-up"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Without a valid invite, a taken username answers like a free one: no enumeration.
    let (status, body) = server
        .call(
            "POST",
            "/api/v1/accounts",
            None,
            Some(
                json!({"username": "lena", "password": "correct horse", "invite_code": "made-up"}),
            ),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("invite_required"))
    );
    assert_eq!(server.count("users WHERE deleted_at IS NULL").await, 2);
}

async fn body_for(server: &TestServer, username: &str) -> serde_json::Value {
    server
        .call(
            "POST",
            "/api/v1/sessions",
            None,
            Some(json!({"username": username, "password": "correct horse"})),
        )
        .await
        .1
}

#[tokio::test]
async fn closed_registration_refuses_everyone_but_the_bootstrap_account() {
    let server = TestServer::start_with(|args| args.registration = Some("closed".into())).await;
    server.register("owner").await;
    let (status, body) = server
        .call(
            "POST",
            "/api/v1/accounts",
            None,
            Some(json!({"username": "olga", "password": "correct horse"})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("registration_closed"))
    );
}
