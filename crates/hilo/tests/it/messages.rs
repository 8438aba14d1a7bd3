//! Messages: sends, idempotency, gap-free seq, history pages, read markers.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::json;

use super::support::{StatusCode, TestServer, next_json};

#[tokio::test]
async fn sends_are_numbered_and_idempotent() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let id = server.direct(&ana, &bob).await;
    let first = server.send(&ana, &id, "txn-1", "hola").await;
    assert_eq!(
        (
            first["seq"].as_i64(),
            first["text"].as_str(),
            first["channel"].as_str()
        ),
        (Some(1), Some("hola"), Some("chat"))
    );
    assert_eq!(first["sender"]["username"], "ana");
    assert_eq!(first["sender"]["kind"], "user");
    assert_eq!(first["deleted"], false);
    assert_eq!(first["reactions"], json!([]));
    let (status, repeat) = server
        .post(
            &format!("/api/v1/conversations/{id}/messages"),
            &ana,
            json!({"client_txn_id": "txn-1", "text": "different"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(repeat["id"], first["id"]);
    assert_eq!(
        repeat["text"], "hola",
        "a repeated client_txn_id returns the original, whatever the new text"
    );
    let second = server
        .send(&bob, &id, "txn-1", "same key, other sender")
        .await;
    assert_eq!(second["seq"], 2, "keys are per sender");
    let other = server.register("cai").await;
    let elsewhere = server.direct(&ana, &other).await;
    let independent = server
        .send(&ana, &elsewhere, "txn-1", "same key, other conversation")
        .await;
    assert_ne!(independent["id"], first["id"]);
    assert_eq!(server.count("messages").await, 3);
    let (status, fetched) = server
        .get(
            &format!("/api/v1/messages/{}", first["id"].as_str().unwrap_or("")),
            &bob,
        )
        .await;
    assert_eq!((status, &fetched["text"]), (StatusCode::OK, &json!("hola")));
    let (status, _) = server
        .get(
            &format!("/api/v1/messages/{}", first["id"].as_str().unwrap_or("")),
            &other,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "others' messages are invisible"
    );
}

#[tokio::test]
async fn parallel_duplicates_store_one_message() {
    let server = Arc::new(TestServer::start().await);
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let id = server.direct(&ana, &bob).await;
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (server, ana, id) = (server.clone(), ana.clone(), id.clone());
            tokio::spawn(async move {
                server
                    .post(
                        &format!("/api/v1/conversations/{id}/messages"),
                        &ana,
                        json!({"client_txn_id": "dup", "text": "once"}),
                    )
                    .await
            })
        })
        .collect();
    let mut ids = BTreeSet::new();
    let mut created = 0;
    for task in tasks {
        let (status, body) = task.await.expect("task");
        created += usize::from(status == StatusCode::CREATED);
        ids.insert(
            body["id"]
                .as_str()
                .unwrap_or_else(|| panic!("{status} {body}"))
                .to_owned(),
        );
    }
    assert_eq!((ids.len(), created), (1, 1));
    assert_eq!(server.count("messages").await, 1);
}

#[tokio::test]
async fn seq_is_gap_free_under_32_concurrent_senders() {
    let server = Arc::new(TestServer::start().await);
    let mut users = Vec::new();
    for i in 0..32 {
        users.push(server.register(&format!("user{i}")).await);
    }
    let others: Vec<&super::support::User> = users[1..].iter().collect();
    let group = server.group(&users[0], "everyone", &others).await;
    let per_sender = 10;
    let tasks: Vec<_> = users
        .iter()
        .cloned()
        .map(|user| {
            let (server, group) = (server.clone(), group.clone());
            tokio::spawn(async move {
                let mut seqs = Vec::new();
                for n in 0..per_sender {
                    let message = server
                        .send(
                            &user,
                            &group,
                            &format!("{}-{n}", user.username),
                            &format!("{} #{n}", user.username),
                        )
                        .await;
                    seqs.push(message["seq"].as_i64().expect("seq"));
                }
                seqs
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        let seqs = task.await.expect("task");
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "each sender's messages keep their order: {seqs:?}"
        );
        all.extend(seqs);
    }
    all.sort_unstable();
    let expected: Vec<i64> = (1..=(32 * per_sender)).collect();
    assert_eq!(all, expected, "every seq from 1 to N exactly once");
    // History agrees: ascending, no gap, nothing twice.
    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let page = server
            .history(&users[5], &group, &format!("?after={after}&limit=37"))
            .await;
        let messages = page["messages"].as_array().expect("messages").clone();
        seen.extend(messages.iter().map(|m| m["seq"].as_i64().unwrap_or(-1)));
        if !page["has_more"].as_bool().unwrap_or(false) {
            break;
        }
        after = *seen.last().expect("a page");
    }
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn history_pages_backwards_and_forwards() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let id = server.direct(&ana, &bob).await;
    for n in 1..=7 {
        server
            .send(&ana, &id, &format!("t{n}"), &format!("m{n}"))
            .await;
    }
    let seqs = |page: &serde_json::Value| -> Vec<i64> {
        page["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .map(|m| m["seq"].as_i64().unwrap_or(-1))
            .collect()
    };
    let latest = server.history(&bob, &id, "?limit=3").await;
    assert_eq!(
        (seqs(&latest), latest["has_more"].as_bool()),
        (vec![5, 6, 7], Some(true))
    );
    let older = server.history(&bob, &id, "?before=5&limit=3").await;
    assert_eq!(
        (seqs(&older), older["has_more"].as_bool()),
        (vec![2, 3, 4], Some(true))
    );
    let oldest = server.history(&bob, &id, "?before=2&limit=3").await;
    assert_eq!(
        (seqs(&oldest), oldest["has_more"].as_bool()),
        (vec![1], Some(false))
    );
    let newer = server.history(&bob, &id, "?after=5").await;
    assert_eq!(
        (seqs(&newer), newer["has_more"].as_bool()),
        (vec![6, 7], Some(false))
    );
    let hole = server.history(&bob, &id, "?after=2&before=6").await;
    assert_eq!(
        seqs(&hole),
        vec![3, 4, 5],
        "a hole fetch returns exactly the missing set"
    );
    for bad in [
        "?limit=0",
        "?limit=201",
        "?limit=-1",
        "?before=abc",
        "?after=-3",
    ] {
        let (status, body) = server
            .get(&format!("/api/v1/conversations/{id}/messages{bad}"), &bob)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    let stranger = server.register("eve").await;
    let (status, body) = server
        .get(&format!("/api/v1/conversations/{id}/messages"), &stranger)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.get("messages").is_none(), "no data for non-members");
}

#[tokio::test]
async fn read_markers_drive_unread_counts_and_events() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    // Friends: bob's reading reaches ana (not so from a message request).
    server.make_friends(&ana, &bob).await;
    let id = server.direct(&ana, &bob).await;
    for n in 1..=3 {
        server.send(&ana, &id, &format!("t{n}"), "hi").await;
    }
    let (_, view) = server
        .get(&format!("/api/v1/conversations/{id}"), &bob)
        .await;
    assert_eq!(view["unread_count"], 3);
    let (_, view) = server
        .get(&format!("/api/v1/conversations/{id}"), &ana)
        .await;
    assert_eq!(view["unread_count"], 0, "own messages are never unread");
    let mut ana_ws = server.ws(&ana, None).await;
    next_json(&mut ana_ws).await;
    let (status, body) = server
        .post(
            &format!("/api/v1/conversations/{id}/read"),
            &bob,
            json!({"seq": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (
            body["last_read_seq"].as_i64(),
            body["unread_count"].as_i64()
        ),
        (Some(2), Some(1))
    );
    let event = next_json(&mut ana_ws).await;
    assert_eq!(
        (
            event["type"].as_str(),
            event["user_id"].as_str(),
            event["seq"].as_i64()
        ),
        (Some("read"), Some(bob.id.as_str()), Some(2))
    );
    let (_, body) = server
        .post(
            &format!("/api/v1/conversations/{id}/read"),
            &bob,
            json!({"seq": 1}),
        )
        .await;
    assert_eq!(body["last_read_seq"], 2, "markers never move backwards");
    let (_, body) = server
        .post(
            &format!("/api/v1/conversations/{id}/read"),
            &bob,
            json!({"seq": 99}),
        )
        .await;
    assert_eq!(
        (
            body["last_read_seq"].as_i64(),
            body["unread_count"].as_i64()
        ),
        (Some(3), Some(0)),
        "clamped to the newest message"
    );
    let event = next_json(&mut ana_ws).await;
    assert_eq!(
        (event["type"].as_str(), event["seq"].as_i64()),
        (Some("read"), Some(3)),
        "only real moves are announced"
    );
    let (status, _) = server
        .post(
            &format!("/api/v1/conversations/{id}/read"),
            &bob,
            json!({"seq": -1}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // With read receipts off, others hear nothing.
    server
        .call(
            "PATCH",
            "/api/v1/me",
            Some(&bob.token),
            Some(json!({"settings": {"read_receipts": false}})),
        )
        .await;
    server.send(&ana, &id, "t4", "more").await;
    assert_eq!(next_json(&mut ana_ws).await["type"], "message.created");
    server
        .post(
            &format!("/api/v1/conversations/{id}/read"),
            &bob,
            json!({"seq": 4}),
        )
        .await;
    super::support::assert_quiet_but(&mut ana_ws, 300, &["delivered"]).await;
}

#[tokio::test]
async fn typing_reaches_the_other_members_only() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let id = server.direct(&ana, &bob).await;
    let mut bob_ws = server.ws(&bob, None).await;
    next_json(&mut bob_ws).await;
    let (status, _) = server
        .post(
            &format!("/api/v1/conversations/{id}/typing"),
            &ana,
            json!({"typing": true}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let event = next_json(&mut bob_ws).await;
    assert_eq!(
        (
            event["type"].as_str(),
            event["typing"].as_bool(),
            event["user_id"].as_str()
        ),
        (Some("typing"), Some(true), Some(ana.id.as_str()))
    );
    let stranger = server.register("eve").await;
    let (status, _) = server
        .post(
            &format!("/api/v1/conversations/{id}/typing"),
            &stranger,
            json!({"typing": true}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
