//! Reports and the moderation queue (issue 7): from the reporter's side, the moderator's
//! and the reported person's, on both backends.

use serde_json::{Value, json};

use super::support::{StatusCode, TestServer, User, next_of, stream};

async fn report(server: &TestServer, user: &User, body: Value) -> (StatusCode, Value) {
    server.post("/api/v1/reports", user, body).await
}

async fn resolve(server: &TestServer, user: &User, id: &str, action: &str) -> (StatusCode, Value) {
    server
        .post(
            &format!("/api/v1/admin/reports/{id}/resolve"),
            user,
            json!({ "action": action }),
        )
        .await
}

#[tokio::test]
async fn a_reported_message_reaches_the_queue_in_context_and_its_deletion_tells_the_reporter() {
    let server = TestServer::start().await;
    let admin = server.register("admin").await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let group = server.group(&ana, "grupo", &[&bob]).await;
    let mut sent = Vec::new();
    for n in 1..=7 {
        sent.push(
            server
                .send(&ana, &group, &format!("t{n}"), &format!("mensaje {n}"))
                .await,
        );
    }
    let bad = sent[4]["id"].as_str().expect("id").to_owned();

    let (status, made) = report(
        &server,
        &bob,
        json!({"message_id": bad, "reason": "  insultos  "}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    assert_eq!(
        (made["status"].as_str(), made["reason"].as_str()),
        (Some("open"), Some("insultos"))
    );
    assert_eq!(
        made["user"]["username"], "ana",
        "a message's report names its sender"
    );
    assert!(
        made.get("context").is_none(),
        "the context is for moderators"
    );
    let id = made["id"].as_str().expect("id").to_owned();

    // Only administrators see the queue.
    let (status, body) = server.get("/api/v1/admin/reports", &bob).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("admin_only"))
    );
    let (status, queue) = server.get("/api/v1/admin/reports", &admin).await;
    assert_eq!(status, StatusCode::OK);
    let entry = &queue["reports"][0];
    assert_eq!(entry["id"], id.as_str());
    assert_eq!(entry["reporter"]["username"], "bob");
    assert_eq!(entry["message"]["text"], "mensaje 5");
    let context: Vec<i64> = entry["context"]
        .as_array()
        .expect("context")
        .iter()
        .map(|m| m["seq"].as_i64().expect("seq"))
        .collect();
    assert_eq!(
        context,
        [2, 3, 4, 5, 6, 7],
        "three before, the message, and what follows"
    );

    // Deleting it: a tombstone for everyone, and the reporter hears it was handled.
    let mut bobs = stream(&server, &bob).await;
    let (status, resolved) = resolve(&server, &admin, &id, "delete_message").await;
    assert_eq!(
        (status, resolved["status"].as_str()),
        (StatusCode::OK, Some("message_deleted")),
        "{resolved}"
    );
    assert!(resolved["resolved_at"].is_string());
    let updated = next_of(&mut bobs, "message.updated").await;
    assert_eq!(updated["message"]["deleted"], true);
    let told = next_of(&mut bobs, "report.resolved").await;
    assert_eq!(
        (told["report_id"].as_str(), told["status"].as_str()),
        (Some(id.as_str()), Some("message_deleted"))
    );
    let (_, message) = server.get(&format!("/api/v1/messages/{bad}"), &ana).await;
    assert_eq!(
        (message["deleted"].as_bool(), message["text"].clone()),
        (Some(true), Value::Null)
    );
    // Once only; the queue of open reports is empty, the resolved one is listed by status.
    let (status, body) = resolve(&server, &admin, &id, "dismiss").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("already_resolved"))
    );
    let (_, queue) = server.get("/api/v1/admin/reports", &admin).await;
    assert_eq!(queue["reports"], json!([]));
    let (_, done) = server
        .get("/api/v1/admin/reports?status=message_deleted", &admin)
        .await;
    assert_eq!(done["reports"][0]["id"], id.as_str());
}

#[tokio::test]
async fn suspending_a_reported_person_ends_every_session_of_theirs() {
    let server = TestServer::start().await;
    let admin = server.register("admin").await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let bob_phone = server.login("bob").await;
    let (status, made) = report(&server, &ana, json!({"username": "BOB", "reason": "spam"})).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let id = made["id"].as_str().expect("id");
    let mut anas = stream(&server, &ana).await;
    let mut bobs = stream(&server, &bob).await;

    let (status, resolved) = resolve(&server, &admin, id, "suspend_user").await;
    assert_eq!(
        (status, resolved["status"].as_str()),
        (StatusCode::OK, Some("user_suspended"))
    );
    assert_eq!(
        next_of(&mut bobs, "session.revoked").await["type"],
        "session.revoked"
    );
    for token in [&bob, &bob_phone] {
        let (status, _) = server.get("/api/v1/me", token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "every session is over");
    }
    let (status, body) = server
        .call(
            "POST",
            "/api/v1/sessions",
            None,
            Some(json!({"username": "bob", "password": "correct horse battery"})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("account_suspended"))
    );
    assert_eq!(
        next_of(&mut anas, "report.resolved").await["status"],
        "user_suspended"
    );
}

#[tokio::test]
async fn reports_refuse_what_the_reporter_cannot_see_or_name_and_write_nothing() {
    let server = TestServer::start().await;
    let admin = server.register("admin").await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let eve = server.register("eve").await;
    let direct = server.direct(&ana, &bob).await;
    let hers = server.send(&ana, &direct, "t1", "privado").await;
    let hers = hers["id"].as_str().expect("id");
    for (who, body, status, code) in [
        (
            &eve,
            json!({"message_id": hers, "reason": "x"}),
            StatusCode::NOT_FOUND,
            "message_not_found",
        ),
        (
            &bob,
            json!({"reason": "x"}),
            StatusCode::BAD_REQUEST,
            "missing_field",
        ),
        (
            &bob,
            json!({"username": "bob", "reason": "x"}),
            StatusCode::BAD_REQUEST,
            "invalid_report",
        ),
        (
            &ana,
            json!({"message_id": hers, "reason": "x"}),
            StatusCode::BAD_REQUEST,
            "invalid_report",
        ),
        (
            &bob,
            json!({"message_id": hers, "username": "eve", "reason": "x"}),
            StatusCode::BAD_REQUEST,
            "invalid_report",
        ),
        (
            &bob,
            json!({"username": "ghost", "reason": "x"}),
            StatusCode::NOT_FOUND,
            "user_not_found",
        ),
        (
            &bob,
            json!({"username": "ana", "reason": "   "}),
            StatusCode::BAD_REQUEST,
            "invalid_reason",
        ),
        (
            &bob,
            json!({"username": "ana", "reason": "x".repeat(1001)}),
            StatusCode::BAD_REQUEST,
            "invalid_reason",
        ),
    ] {
        let (got, answer) = report(&server, who, body.clone()).await;
        assert_eq!(
            (got, answer["error"]["code"].as_str()),
            (status, Some(code)),
            "{body}"
        );
    }
    assert_eq!(server.count("reports").await, 0);
    let (status, made) = report(&server, &bob, json!({"username": "ana", "reason": "x"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let id = made["id"].as_str().expect("id");
    for (action, code) in [("delete_message", "no_message"), ("ban", "invalid_action")] {
        let (status, body) = resolve(&server, &admin, id, action).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some(code))
        );
    }
    let (status, body) = resolve(&server, &bob, id, "dismiss").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("admin_only"))
    );
    let (status, _) = resolve(&server, &admin, "no-such-report", "dismiss").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, queue) = server.get("/api/v1/admin/reports", &admin).await;
    assert_eq!(
        queue["reports"][0]["status"], "open",
        "refusals changed nothing"
    );
}
