//! Rich messaging (issue 6): replies, mentions, links, locations, reactions, edits,
//! deletes and forwards, each with its bad input and its privacy rule, on both backends.

use serde_json::{Value, json};

use super::support::{StatusCode, TestServer, User, frames_within, next_json, next_of, stream};

fn id(message: &Value) -> &str {
    message["id"].as_str().expect("message id")
}

async fn send_body(
    server: &TestServer,
    user: &User,
    conversation: &str,
    body: Value,
) -> (StatusCode, Value) {
    server
        .post(
            &format!("/api/v1/conversations/{conversation}/messages"),
            user,
            body,
        )
        .await
}

/// Percent-encodes an emoji for a path segment.
fn encoded(emoji: &str) -> String {
    emoji.bytes().map(|b| format!("%{b:02X}")).collect()
}

async fn react(
    server: &TestServer,
    user: &User,
    method: &str,
    message: &str,
    emoji: &str,
) -> (StatusCode, Value) {
    server
        .call(
            method,
            &format!("/api/v1/messages/{message}/reactions/{}", encoded(emoji)),
            Some(&user.token),
            None,
        )
        .await
}

#[tokio::test]
async fn replies_quote_a_live_message_of_the_same_conversation() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let cai = server.register("cai").await;
    let direct = server.direct(&ana, &bob).await;
    let other = server.direct(&ana, &cai).await;
    let long = format!("{} fin", "palabra ".repeat(30));
    let original = server.send(&bob, &direct, "t1", &long).await;
    let elsewhere = server.send(&cai, &other, "t1", "en otra").await;

    let (status, reply) = send_body(
        &server,
        &ana,
        &direct,
        json!({"client_txn_id": "t2", "text": "¡sí!", "reply_to": id(&original)}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    assert_eq!(reply["reply_to"]["id"], original["id"]);
    assert_eq!(reply["reply_to"]["seq"], 1);
    assert_eq!(reply["reply_to"]["sender_id"], bob.id.as_str());
    assert_eq!(reply["reply_to"]["deleted"], false);
    let excerpt = reply["reply_to"]["excerpt"].as_str().expect("excerpt");
    assert!(excerpt.starts_with("palabra palabra"));
    assert!(
        excerpt.ends_with('…') && excerpt.chars().count() == 100,
        "{excerpt}"
    );

    let before = server.count("messages").await;
    for (reply_to, why) in [
        (
            id(&elsewhere).to_owned(),
            "a message of another conversation",
        ),
        ("no-such-message".to_owned(), "a forged id"),
        (String::new(), "an empty id"),
    ] {
        let (status, body) = send_body(
            &server,
            &ana,
            &direct,
            json!({"client_txn_id": format!("bad-{why}"), "text": "x", "reply_to": reply_to}),
        )
        .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_reply_to")),
            "{why}"
        );
    }
    assert_eq!(server.count("messages").await, before, "nothing stored");

    // The original deleted for everyone: the reply shows its tombstone, and it can no
    // longer be quoted.
    let (status, _) = server
        .delete(
            &format!("/api/v1/messages/{}?scope=everyone", id(&original)),
            &bob,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, reread) = server
        .get(&format!("/api/v1/messages/{}", id(&reply)), &bob)
        .await;
    assert_eq!(reread["reply_to"]["deleted"], true);
    assert_eq!(reread["reply_to"]["excerpt"], Value::Null);
    assert_eq!(reread["reply_to"]["id"], original["id"]);
    let (status, body) = send_body(
        &server,
        &ana,
        &direct,
        json!({"client_txn_id": "t3", "text": "x", "reply_to": id(&original)}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn mentions_name_current_members_and_reach_them_whatever_their_notify_level() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let cai = server.register("cai").await;
    let group = server.group(&ana, "equipo", &[&bob]).await;
    let (status, _) = server
        .patch(
            &format!("/api/v1/conversations/{group}/settings"),
            &bob,
            json!({"notify": "mentions"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut bobs = stream(&server, &bob).await;
    let sent = server
        .send(
            &ana,
            &group,
            "t1",
            "hola @Bob y @cai (no está) y @nadie, escribe a bob@example.com",
        )
        .await;
    assert_eq!(sent["mentions"], json!([bob.id]), "members only, once");
    let event = next_of(&mut bobs, "message.created").await;
    assert_eq!(event["message"]["mentions"], json!([bob.id]));
    assert_eq!(event["message"]["id"], sent["id"]);

    // An edit recomputes the mentions; cai, added later, is mentionable.
    let (status, _) = server
        .post(
            &format!("/api/v1/conversations/{group}/members"),
            &ana,
            json!({"usernames": ["cai"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, edited) = server
        .patch(
            &format!("/api/v1/messages/{}", id(&sent)),
            &ana,
            json!({"text": "solo @cai"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["mentions"], json!([cai.id]));
}

#[tokio::test]
async fn links_are_entities_and_locations_are_validated() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let direct = server.direct(&ana, &bob).await;
    let sent = server
        .send(
            &ana,
            &direct,
            "t1",
            "mira ñ https://hilo.chat/x y www.example.org",
        )
        .await;
    assert_eq!(
        sent["entities"],
        json!([
            {"type": "link", "offset": 7, "length": 19, "url": "https://hilo.chat/x"},
            {"type": "link", "offset": 29, "length": 15, "url": "https://www.example.org"}
        ])
    );
    assert_eq!(
        server.send(&ana, &direct, "t2", "sin enlaces").await["entities"],
        json!([])
    );

    // A location alone, and one with a label and text.
    let (status, place) = send_body(
        &server,
        &ana,
        &direct,
        json!({"client_txn_id": "t3", "location": {"lat": 40.4168, "lon": -3.7038}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{place}");
    assert_eq!(place["text"], Value::Null);
    assert_eq!(
        place["location"],
        json!({"lat": 40.4168, "lon": -3.7038, "label": null})
    );
    let (status, labelled) = send_body(
        &server,
        &ana,
        &direct,
        json!({"client_txn_id": "t4", "text": "aquí", "location": {"lat": -33.9, "lon": 151.2, "label": "Sídney"}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, read) = server
        .get(&format!("/api/v1/messages/{}", id(&labelled)), &bob)
        .await;
    assert_eq!(read["location"]["label"], "Sídney");
    assert_eq!(read["text"], "aquí");

    let before = server.count("messages").await;
    for (n, body) in [
        json!({"lat": 123, "lon": 0}),
        json!({"lat": 0, "lon": -180.5}),
        json!({"lat": 0, "lon": 0, "label": ""}),
    ]
    .into_iter()
    .enumerate()
    {
        let (status, answer) = send_body(
            &server,
            &ana,
            &direct,
            json!({"client_txn_id": format!("bad{n}"), "location": body}),
        )
        .await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_location")),
            "{body}"
        );
    }
    let (status, answer) =
        send_body(&server, &ana, &direct, json!({"client_txn_id": "empty"})).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_text")),
        "a message needs text or a location"
    );
    assert_eq!(server.count("messages").await, before, "nothing stored");
}

#[tokio::test]
async fn reactions_are_one_emoji_once_per_person_with_counts() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let eve = server.register("eve").await;
    let direct = server.direct(&ana, &bob).await;
    let message = server.send(&ana, &direct, "t1", "¿cena?").await;
    let message = id(&message).to_owned();
    let mut anas = stream(&server, &ana).await;

    let (status, body) = react(&server, &bob, "PUT", &message, "👍").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["reactions"],
        json!([{"emoji": "👍", "count": 1, "user_ids": [bob.id]}])
    );
    let event = next_of(&mut anas, "message.updated").await;
    assert_eq!(event["message"]["reactions"][0]["count"], 1);
    // Again: no second reaction, no event.
    let (status, body) = react(&server, &bob, "PUT", &message, "👍").await;
    assert_eq!(
        (status, &body["reactions"][0]["count"]),
        (StatusCode::OK, &json!(1))
    );
    let (_, body) = react(&server, &ana, "PUT", &message, "👍🏽").await;
    assert_eq!(
        body["reactions"][1]["emoji"], "👍🏽",
        "a skin tone is its own emoji"
    );
    let (_, body) = react(&server, &ana, "PUT", &message, "👍").await;
    assert_eq!(
        body["reactions"][0],
        json!({"emoji": "👍", "count": 2, "user_ids": [bob.id, ana.id]})
    );
    // "❤" without its presentation selector is the same reaction as "❤️".
    react(&server, &bob, "PUT", &message, "❤").await;
    let (_, body) = react(&server, &bob, "PUT", &message, "❤️").await;
    assert_eq!(
        body["reactions"][2],
        json!({"emoji": "❤️", "count": 1, "user_ids": [bob.id]})
    );
    let next = next_of(&mut anas, "message.updated").await;
    assert_eq!(
        next["message"]["reactions"][1]["emoji"], "👍🏽",
        "the repeat made no event"
    );

    let before = server.count("reactions").await;
    for bad in ["a", "ok", "👍👍", "👍a", "1", " "] {
        let (status, body) = react(&server, &bob, "PUT", &message, bad).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_emoji")),
            "{bad:?}"
        );
    }
    assert_eq!(server.count("reactions").await, before, "nothing stored");
    let (status, _) = react(&server, &eve, "PUT", &message, "👍").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "an outsider cannot react");
    let (status, _) = react(&server, &bob, "PUT", "no-such-message", "👍").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, body) = react(&server, &bob, "DELETE", &message, "👍").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["reactions"],
        json!([
            {"emoji": "👍🏽", "count": 1, "user_ids": [ana.id]},
            {"emoji": "👍", "count": 1, "user_ids": [ana.id]},
            {"emoji": "❤️", "count": 1, "user_ids": [bob.id]}
        ]),
        "ordered by each emoji's first use among the reactions there now"
    );
    let (_, page) = server
        .get(&format!("/api/v1/conversations/{direct}/messages"), &bob)
        .await;
    assert_eq!(
        page["messages"][0]["reactions"], body["reactions"],
        "history shows them too"
    );

    // At most 20 different emoji per person per message: bob has ❤️ and adds 19 more.
    let emoji = [
        "😀", "😃", "😄", "😁", "😆", "😅", "😂", "🤣", "😊", "😇", "🙂", "🙃", "😉", "😌", "😍",
        "🥰", "😘", "😗", "😙", "😚",
    ];
    for e in &emoji[..19] {
        let (status, body) = react(&server, &bob, "PUT", &message, e).await;
        assert_eq!(status, StatusCode::OK, "{e}: {body}");
    }
    let (status, body) = react(&server, &bob, "PUT", &message, emoji[19]).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("too_many_reactions"))
    );
    let (status, _) = react(&server, &bob, "PUT", &message, "❤️").await;
    assert_eq!(status, StatusCode::OK, "one already there is no new one");
}

#[tokio::test]
async fn edits_belong_to_the_sender_and_keep_earlier_versions_for_them() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let eve = server.register("eve").await;
    let direct = server.direct(&ana, &bob).await;
    let message = server.send(&ana, &direct, "t1", "nos vemos a las 8").await;
    let path = format!("/api/v1/messages/{}", id(&message));
    let mut bobs = stream(&server, &bob).await;

    let (status, edited) = server
        .patch(&path, &ana, json!({"text": "nos vemos a las 9"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["text"], "nos vemos a las 9");
    assert!(edited["edited_at"].is_string());
    assert_eq!(
        edited["seq"], message["seq"],
        "an edit keeps the message's place"
    );
    let event = next_of(&mut bobs, "message.updated").await;
    assert_eq!(event["message"]["text"], "nos vemos a las 9");
    assert_eq!(event["message"]["edited_at"], edited["edited_at"]);
    server.patch(&path, &ana, json!({"text": "a las 10"})).await;

    let (status, versions) = server.get(&format!("{path}/versions"), &ana).await;
    assert_eq!(status, StatusCode::OK);
    let texts: Vec<&str> = versions["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| v["text"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(texts, ["nos vemos a las 8", "nos vemos a las 9"]);
    let (status, body) = server.get(&format!("{path}/versions"), &bob).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("not_message_sender")),
        "earlier versions are the sender's"
    );
    assert_eq!(
        server.get(&format!("{path}/versions"), &eve).await.0,
        StatusCode::NOT_FOUND
    );

    // Someone else's message, an outsider, bad text: refused, nothing changes.
    let (status, body) = server.patch(&path, &bob, json!({"text": "hackeado"})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("not_message_sender"))
    );
    let (status, _) = server.patch(&path, &eve, json!({"text": "hackeado"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for bad in [
        json!({"text": ""}),
        json!({"text": "   "}),
        json!({"text": "x".repeat(10_001)}),
        json!({}),
    ] {
        let (status, _) = server.patch(&path, &ana, bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    assert_eq!(server.get(&path, &bob).await.1["text"], "a las 10");
    assert_eq!(server.count("message_versions").await, 2);

    // A deleted message cannot be edited, and its versions are gone.
    server.delete(&format!("{path}?scope=everyone"), &ana).await;
    let (status, body) = server
        .patch(&path, &ana, json!({"text": "resucitado"}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("message_deleted"))
    );
    assert_eq!(server.count("message_versions").await, 0);
}

#[tokio::test]
async fn delete_for_everyone_leaves_a_tombstone_and_delete_for_me_hides_it_for_me_only() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let eve = server.register("eve").await;
    let direct = server.direct(&ana, &bob).await;
    let first = server.send(&ana, &direct, "t1", "ups @bob").await;
    let second = server.send(&ana, &direct, "t2", "otra").await;
    react(&server, &bob, "PUT", id(&first), "😮").await;
    let first_path = format!("/api/v1/messages/{}", id(&first));
    let mut bobs = stream(&server, &bob).await;

    for (user, scope, want) in [
        (&bob, "everyone", StatusCode::FORBIDDEN),
        (&eve, "everyone", StatusCode::NOT_FOUND),
        (&eve, "me", StatusCode::NOT_FOUND),
        (&ana, "nobody", StatusCode::BAD_REQUEST),
    ] {
        let (status, _) = server
            .delete(&format!("{first_path}?scope={scope}"), user)
            .await;
        assert_eq!(status, want, "{} scope={scope}", user.username);
    }
    let (status, _) = server
        .delete(&format!("{first_path}?scope=everyone"), &ana)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let event = next_of(&mut bobs, "message.updated").await;
    assert_eq!(event["message"]["deleted"], true);
    for user in [&ana, &bob] {
        let (_, tombstone) = server.get(&first_path, user).await;
        assert_eq!(tombstone["deleted"], true);
        assert_eq!(tombstone["text"], Value::Null);
        assert_eq!(tombstone["reactions"], json!([]));
        assert_eq!(tombstone["mentions"], json!([]));
        assert_eq!(tombstone["seq"], 1, "the tombstone keeps its place");
    }
    assert_eq!(
        server
            .db
            .text("SELECT CAST(COUNT(*) AS TEXT) FROM messages WHERE text = 'ups @bob' OR mentions IS NOT NULL")
            .await,
        "0",
        "the text is gone from the stored rows"
    );
    let (status, _) = server
        .delete(&format!("{first_path}?scope=everyone"), &ana)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "deleting twice is fine");

    // For me: bob hides the second message; ana still has it; bob's other device hears.
    let second_path = format!("/api/v1/messages/{}", id(&second));
    let bob2 = server.login("bob").await;
    let unread_before = conversation(&server, &bob2, &direct).await["unread_count"].clone();
    let (status, _) = server
        .delete(&format!("{second_path}?scope=me"), &bob)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let hidden = next_of(&mut bobs, "message.hidden").await;
    assert_eq!(hidden["message_id"], second["id"]);
    assert_eq!(hidden["conversation_id"], direct.as_str());
    assert_eq!(
        server.get(&second_path, &bob2).await.0,
        StatusCode::NOT_FOUND
    );
    let bobs_history = server.all_messages(&bob2, &direct).await;
    assert!(bobs_history.iter().all(|m| m["id"] != second["id"]));
    let view = conversation(&server, &bob2, &direct).await;
    assert_eq!(
        view["last_message"]["id"], first["id"],
        "the preview skips it"
    );
    assert_eq!(
        view["unread_count"].as_i64(),
        unread_before.as_i64().map(|n| n - 1),
        "a hidden message is not unread"
    );
    assert_eq!(server.get(&second_path, &ana).await.1["text"], "otra");
    assert_eq!(server.all_messages(&ana, &direct).await.len(), 2);
}

async fn conversation(server: &TestServer, user: &User, id: &str) -> Value {
    let (status, body) = server
        .get(&format!("/api/v1/conversations/{id}"), user)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test]
async fn forwards_copy_into_another_conversation_of_the_caller() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let cai = server.register("cai").await;
    let with_bob = server.direct(&ana, &bob).await;
    let with_cai = server.direct(&ana, &cai).await;
    let bob_cai = server.direct(&bob, &cai).await;
    let (_, original) = send_body(
        &server,
        &bob,
        &with_bob,
        json!({"client_txn_id": "t1", "text": "la fiesta es aquí", "location": {"lat": 1.5, "lon": 2.5, "label": "casa"}}),
    )
    .await;
    let path = format!("/api/v1/messages/{}/forward", id(&original));

    let (status, forwarded) = server
        .post(
            &path,
            &ana,
            json!({"conversation_id": with_cai, "client_txn_id": "f1"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{forwarded}");
    assert_eq!(forwarded["forwarded"], true);
    assert_eq!(forwarded["text"], "la fiesta es aquí");
    assert_eq!(forwarded["location"]["label"], "casa");
    assert_eq!(forwarded["sender"]["id"], ana.id.as_str());
    assert_eq!(forwarded["conversation_id"], with_cai.as_str());
    let (status, again) = server
        .post(
            &path,
            &ana,
            json!({"conversation_id": with_cai, "client_txn_id": "f1"}),
        )
        .await;
    assert_eq!(
        (status, &again["id"]),
        (StatusCode::OK, &forwarded["id"]),
        "idempotent"
    );
    assert_eq!(server.all_messages(&cai, &with_cai).await.len(), 1);

    // Into a conversation ana is not in, or from a message she cannot see: not found.
    let before = server.count("messages").await;
    for (user, target, txn, want) in [
        (&ana, &bob_cai, "f2", StatusCode::NOT_FOUND),
        (&cai, &with_cai, "f3", StatusCode::NOT_FOUND),
        (&ana, &with_cai, "", StatusCode::BAD_REQUEST),
    ] {
        let (status, _) = server
            .post(
                &path,
                user,
                json!({"conversation_id": target, "client_txn_id": txn}),
            )
            .await;
        assert_eq!(status, want, "{} into {target} with {txn:?}", user.username);
    }
    server
        .delete(
            &format!("/api/v1/messages/{}?scope=everyone", id(&original)),
            &bob,
        )
        .await;
    let (status, body) = server
        .post(
            &path,
            &ana,
            json!({"conversation_id": with_cai, "client_txn_id": "f4"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("message_deleted"))
    );
    assert_eq!(server.count("messages").await, before, "nothing stored");
    let (_, copy) = server
        .get(&format!("/api/v1/messages/{}", id(&forwarded)), &cai)
        .await;
    assert_eq!(
        copy["text"], "la fiesta es aquí",
        "the forwarded copy stays"
    );
}

/// Every event in `user`'s stream after `since`, by long polling (no waiting).
async fn events_since(server: &TestServer, user: &User, since: &str) -> Vec<Value> {
    let (status, body) = server
        .get(&format!("/api/v1/events?since={since}&timeout=0"), user)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["events"].as_array().expect("events").clone()
}

async fn head(server: &TestServer, user: &User) -> String {
    let (_, body) = server.get("/api/v1/events?timeout=0", user).await;
    body["cursor"].as_str().expect("cursor").to_owned()
}

fn reads_by<'a>(events: &'a [Value], reader: &User) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["type"] == "read" && e["user_id"] == reader.id.as_str())
        .collect()
}

#[tokio::test]
async fn read_receipts_off_works_both_ways() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let cai = server.register("cai").await;
    // Friends: the group is in everyone's inbox, where receipts are shared.
    server.make_friends(&ana, &bob).await;
    server.make_friends(&ana, &cai).await;
    let group = server.group(&ana, "trío", &[&bob, &cai]).await;
    let (status, _) = server
        .patch(
            "/api/v1/me",
            &cai,
            json!({"settings": {"read_receipts": false}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    server.send(&ana, &group, "t1", "¿leído?").await;
    let (ana_at, cai_at) = (head(&server, &ana).await, head(&server, &cai).await);
    let cai2 = server.login("cai").await;

    for reader in [&bob, &cai] {
        let (status, _) = server
            .post(
                &format!("/api/v1/conversations/{group}/read"),
                reader,
                json!({"seq": 1}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let anas = events_since(&server, &ana, &ana_at).await;
    assert_eq!(reads_by(&anas, &bob).len(), 1, "bob shares his reading");
    assert!(
        reads_by(&anas, &cai).is_empty(),
        "cai does not send receipts"
    );
    let cais = events_since(&server, &cai2, &cai_at).await;
    assert!(reads_by(&cais, &bob).is_empty(), "…nor sees others'");
    assert_eq!(
        reads_by(&cais, &cai).len(),
        1,
        "her own devices still clear their badge"
    );

    let (_, receipts) = server
        .get(&format!("/api/v1/conversations/{group}/receipts"), &ana)
        .await;
    assert_eq!(
        receipts["receipts"],
        json!([
            {"user_id": bob.id, "delivered_seq": 1, "last_read_seq": 1},
            {"user_id": cai.id, "delivered_seq": 1, "last_read_seq": null}
        ]),
        "per member; cai's reading stays hers (reading implies delivery, which shows)"
    );
    let (_, receipts) = server
        .get(&format!("/api/v1/conversations/{group}/receipts"), &cai)
        .await;
    assert_eq!(
        receipts["receipts"],
        json!([
            {"user_id": ana.id, "delivered_seq": 1, "last_read_seq": null},
            {"user_id": bob.id, "delivered_seq": 1, "last_read_seq": null}
        ]),
        "with receipts off she sees nobody's reading"
    );
    let (status, _) = server
        .get(
            &format!("/api/v1/conversations/{group}/receipts"),
            &server.register("eve").await,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "an outsider sees no receipts"
    );
}

#[tokio::test]
async fn a_mute_ends_by_itself_at_its_time() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let direct = server.direct(&ana, &bob).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as i64;
    let until = hilo_proto::rfc3339(hilo_core::Timestamp(now + 1_500));
    let (status, view) = server
        .patch(
            &format!("/api/v1/conversations/{direct}/settings"),
            &ana,
            json!({ "muted_until": until }),
        )
        .await;
    assert_eq!(
        (status, &view["muted_until"]),
        (StatusCode::OK, &json!(until))
    );
    tokio::time::sleep(std::time::Duration::from_millis(2_000)).await;
    let (_, view) = server
        .get(&format!("/api/v1/conversations/{direct}"), &ana)
        .await;
    assert_eq!(view["muted_until"], Value::Null, "the mute is over");
    let (_, list) = server.get("/api/v1/conversations", &ana).await;
    assert_eq!(list["conversations"][0]["muted_until"], Value::Null);
}

#[tokio::test]
async fn typing_ends_by_itself_and_when_the_typist_sends() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let direct = server.direct(&ana, &bob).await;
    let mut bobs = stream(&server, &bob).await;
    let typing = |on: bool| json!({ "typing": on });
    let path = format!("/api/v1/conversations/{direct}/typing");

    server.post(&path, &ana, typing(true)).await;
    assert_eq!(next_of(&mut bobs, "typing").await["typing"], true);
    // No refresh: it ends on its own (TYPING_TTL, 5 s; next_of waits up to 10 s).
    let started = std::time::Instant::now();
    let ended = next_of(&mut bobs, "typing").await;
    assert_eq!(
        (ended["typing"].clone(), ended["user_id"].clone()),
        (json!(false), json!(ana.id))
    );
    assert!(started.elapsed() >= hilo_service::TYPING_TTL - std::time::Duration::from_millis(500));

    // Sending ends it at once, and no late timer ends a later indicator.
    server.post(&path, &ana, typing(true)).await;
    assert_eq!(next_of(&mut bobs, "typing").await["typing"], true);
    server.send(&ana, &direct, "t1", "listo").await;
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let event = next_json(&mut bobs).await;
        if event["type"] == "typing" || event["type"] == "message.created" {
            seen.push(event["type"].as_str().unwrap_or_default().to_owned());
            if event["type"] == "typing" {
                assert_eq!(event["typing"], false);
            }
        }
    }
    assert_eq!(seen, ["message.created", "typing"]);
}

#[tokio::test]
async fn presence_follows_streams_and_shows_only_where_allowed() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let eve = server.register("eve").await;
    server.direct(&ana, &bob).await;
    let mut bobs = stream(&server, &bob).await;
    let mut eves = stream(&server, &eve).await;

    let anas = stream(&server, &ana).await;
    let online = next_of(&mut bobs, "presence").await;
    assert_eq!(
        (online["user_id"].clone(), online["online"].clone()),
        (json!(ana.id), json!(true))
    );
    let (_, profile) = server.get("/api/v1/users/ana", &bob).await;
    assert_eq!(profile["online"], true);
    drop(anas);
    let offline = next_of(&mut bobs, "presence").await;
    assert_eq!(offline["online"], false);
    let last_seen = offline["last_seen_at"]
        .as_str()
        .expect("last seen")
        .to_owned();
    let (_, profile) = server.get("/api/v1/users/ana", &bob).await;
    assert_eq!(profile["online"], false);
    assert!(
        profile["last_seen_at"].as_str().expect("last seen") >= last_seen.as_str(),
        "{profile} vs {last_seen}"
    );
    super::support::assert_quiet(&mut eves, 300).await;

    // Hidden last seen stays hidden: no events, nothing on the profile.
    let (status, _) = server
        .patch(
            "/api/v1/me",
            &ana,
            json!({"settings": {"last_seen_visibility": "nobody"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let anas = stream(&server, &ana).await;
    super::support::assert_quiet(&mut bobs, 500).await;
    let (_, profile) = server.get("/api/v1/users/ana", &bob).await;
    assert!(
        profile.get("online").is_none() && profile.get("last_seen_at").is_none(),
        "{profile}"
    );
    drop(anas);
    super::support::assert_quiet(&mut bobs, 500).await;
}

#[tokio::test]
async fn delivered_receipts_follow_the_recipients_devices() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let cai = server.register("cai").await;
    server.make_friends(&ana, &bob).await;
    server.make_friends(&ana, &cai).await;
    let group = server.group(&ana, "entregas", &[&bob, &cai]).await;
    let receipts = |user: &User| {
        let path = format!("/api/v1/conversations/{group}/receipts");
        let server = &server;
        let user = user.clone();
        async move {
            let (status, body) = server.get(&path, &user).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body["receipts"].clone()
        }
    };
    let mut anas = stream(&server, &ana).await;
    let mut bobs = stream(&server, &bob).await;
    let sent = server.send(&ana, &group, "t1", "¿llegó?").await;
    assert_eq!(
        next_of(&mut bobs, "message.created").await["message"]["id"],
        sent["id"]
    );
    // Bob's device got it: ana (the sender) hears so; cai has no device connected.
    let delivered = next_of(&mut anas, "delivered").await;
    assert_eq!(
        (
            delivered["user_id"].clone(),
            delivered["seq"].clone(),
            delivered["conversation_id"].clone()
        ),
        (json!(bob.id), json!(1), json!(group))
    );
    let now = receipts(&ana).await;
    assert_eq!(
        now[0],
        json!({"user_id": bob.id, "delivered_seq": 1, "last_read_seq": 0})
    );
    assert_eq!(
        now[1],
        json!({"user_id": cai.id, "delivered_seq": 0, "last_read_seq": 0})
    );

    // Cai's long poll catches up: delivered then, from the replayed event.
    let (status, _) = server.get("/api/v1/events?since=0&timeout=0", &cai).await;
    assert_eq!(status, StatusCode::OK);
    let delivered = next_of(&mut anas, "delivered").await;
    assert_eq!(delivered["user_id"], cai.id.as_str());
    assert_eq!(receipts(&bob).await[1]["delivered_seq"], 1);
    // Bob sent nothing, so no delivery concerns him (presence and the like may come).
    for event in frames_within(&mut bobs, 1_200).await {
        assert_ne!(event["type"], "delivered", "{event}");
    }
}

#[tokio::test]
async fn a_new_display_name_reaches_everyone_who_shares_a_conversation() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let eve = server.register("eve").await;
    server.direct(&ana, &bob).await;
    let mut bobs = stream(&server, &bob).await;
    let mut eves = stream(&server, &eve).await;
    let ana2 = server.login("ana").await;
    let mut anas = stream(&server, &ana2).await;
    let (status, _) = server
        .patch("/api/v1/me", &ana, json!({"display_name": "Ana María"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let seen = next_of(&mut bobs, "user.updated").await;
    assert_eq!(seen["user"]["id"], ana.id.as_str());
    assert_eq!(seen["user"]["display_name"], "Ana María");
    assert!(
        seen.get("me").is_none(),
        "bob sees what members see: {seen}"
    );
    let own = next_of(&mut anas, "user.updated").await;
    assert_eq!(own["me"]["display_name"], "Ana María");
    assert_eq!(own["me"]["settings"]["read_receipts"], true);
    // A settings change concerns her own devices only; eve shares nothing with her.
    server
        .patch(
            "/api/v1/me",
            &ana,
            json!({"settings": {"read_receipts": false}}),
        )
        .await;
    assert_eq!(
        next_of(&mut anas, "user.updated").await["me"]["settings"]["read_receipts"],
        false
    );
    for ws in [&mut bobs, &mut eves] {
        for event in frames_within(ws, 500).await {
            assert_ne!(event["type"], "user.updated", "{event}");
        }
    }
}

/// Found by `properties::events_applied_to_a_snapshot_equal_a_fresh_snapshot`: someone who
/// left a group still has messages there, shown under their current name, so the members
/// hear of a new one.
#[tokio::test]
async fn a_new_display_name_reaches_the_groups_one_has_left() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let group = server.group(&bob, "trip", &[&ana]).await;
    server.send(&ana, &group, "a1", "hola").await;
    let (status, _) = server
        .delete(&format!("/api/v1/conversations/{group}/members/ana"), &ana)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let mut bobs = stream(&server, &bob).await;
    let (status, _) = server
        .patch("/api/v1/me", &ana, json!({"display_name": "Ana María"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let seen = next_of(&mut bobs, "user.updated").await;
    assert_eq!(seen["user"]["display_name"], "Ana María");
    let history = server.all_messages(&bob, &group).await;
    assert_eq!(history[0]["sender"]["display_name"], "Ana María");
}

#[tokio::test]
async fn a_long_polling_client_between_polls_does_not_flap_offline() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    server.direct(&ana, &bob).await;
    let mut bobs = stream(&server, &bob).await;
    for _ in 0..3 {
        let (status, _) = server.get("/api/v1/events?timeout=0", &ana).await;
        assert_eq!(status, StatusCode::OK);
    }
    let window = hilo_service::OFFLINE_GRACE.as_millis() as u64 + 2_000;
    let seen: Vec<Value> = frames_within(&mut bobs, window)
        .await
        .into_iter()
        .filter(|event| event["type"] == "presence")
        .map(|event| event["online"].clone())
        .collect();
    assert_eq!(
        seen,
        [json!(true), json!(false)],
        "online once, offline once after the grace"
    );
}
