//! Conversations: one direct conversation per pair, groups, membership, settings.

use serde_json::json;

use super::support::{StatusCode, TestServer, next_json};

#[tokio::test]
async fn there_is_exactly_one_direct_conversation_per_pair() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let (status, first) = server
        .post(
            "/api/v1/conversations",
            &ana,
            json!({"kind": "direct", "with": "bob"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(first["kind"], "direct");
    assert_eq!(first["folder"], "inbox");
    assert_eq!(first["unread_count"], 0);
    let members: Vec<_> = first["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| (m["username"].clone(), m["kind"].clone()))
        .collect();
    assert_eq!(members.len(), 2);
    assert!(members.contains(&(json!("bob"), json!("user"))));
    let (status, again) = server
        .post(
            "/api/v1/conversations",
            &ana,
            json!({"kind": "direct", "with": "BOB"}),
        )
        .await;
    assert_eq!((status, &again["id"]), (StatusCode::OK, &first["id"]));
    let (status, reverse) = server
        .post(
            "/api/v1/conversations",
            &bob,
            json!({"kind": "direct", "with": "ana"}),
        )
        .await;
    assert_eq!((status, &reverse["id"]), (StatusCode::OK, &first["id"]));
    let (status, body) = server
        .post(
            "/api/v1/conversations",
            &ana,
            json!({"kind": "direct", "with": "ghost"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("user_not_found"))
    );
}

#[tokio::test]
async fn concurrent_creation_from_both_sides_yields_one_conversation() {
    let server = std::sync::Arc::new(TestServer::start().await);
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let mut tasks = Vec::new();
    for i in 0..16 {
        let (server, me, other) = if i % 2 == 0 {
            (server.clone(), ana.clone(), bob.clone())
        } else {
            (server.clone(), bob.clone(), ana.clone())
        };
        tasks.push(tokio::spawn(async move {
            server
                .post(
                    "/api/v1/conversations",
                    &me,
                    json!({"kind": "direct", "with": other.username}),
                )
                .await
        }));
    }
    let mut ids = std::collections::BTreeSet::new();
    let mut created = 0;
    for task in tasks {
        let (status, body) = task.await.expect("task");
        created += usize::from(status == StatusCode::CREATED);
        ids.insert(body["id"].as_str().expect("id").to_owned());
    }
    assert_eq!(ids.len(), 1, "one conversation: {ids:?}");
    assert_eq!(created, 1, "exactly one request created it");
    assert_eq!(server.count("conversations").await, 1);
}

#[tokio::test]
async fn groups_are_created_renamed_grown_and_left() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let cai = server.register("cai").await;
    let dan = server.register("dan").await;
    let (status, group) = server
        .post(
            "/api/v1/conversations",
            &ana,
            json!({"kind": "group", "name": "Trip", "members": ["bob", "BOB", "ana"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    assert_eq!(
        (group["kind"].as_str(), group["name"].as_str()),
        (Some("group"), Some("Trip"))
    );
    assert_eq!(
        group["members"].as_array().map(Vec::len),
        Some(2),
        "duplicates and the creator are folded"
    );
    let id = group["id"].as_str().expect("id").to_owned();

    let (status, renamed) = server
        .call(
            "PATCH",
            &format!("/api/v1/conversations/{id}"),
            Some(&bob.token),
            Some(json!({"name": "Trip 2026"})),
        )
        .await;
    assert_eq!(
        (status, renamed["name"].as_str()),
        (StatusCode::OK, Some("Trip 2026"))
    );
    let (status, _) = server
        .call(
            "PATCH",
            &format!("/api/v1/conversations/{id}"),
            Some(&bob.token),
            Some(json!({"name": "x".repeat(101)})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = server
        .call(
            "PATCH",
            &format!("/api/v1/conversations/{id}"),
            Some(&cai.token),
            Some(json!({"name": "hijack"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "non-members cannot see or change it"
    );

    let (status, grown) = server
        .post(
            &format!("/api/v1/conversations/{id}/members"),
            &bob,
            json!({"usernames": ["cai", "dan"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(grown["members"].as_array().map(Vec::len), Some(4));
    let (status, _) = server
        .post(
            &format!("/api/v1/conversations/{id}/members"),
            &bob,
            json!({"usernames": ["ghost"]}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Only admins remove others; anyone leaves.
    let (status, body) = server
        .call(
            "DELETE",
            &format!("/api/v1/conversations/{id}/members/dan"),
            Some(&cai.token),
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("not_group_admin"))
    );
    let (status, _) = server
        .call(
            "DELETE",
            &format!("/api/v1/conversations/{id}/members/dan"),
            Some(&ana.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = server
        .get(&format!("/api/v1/conversations/{id}"), &dan)
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a removed member no longer sees it"
    );
    let (status, _) = server
        .post(
            &format!("/api/v1/conversations/{id}/messages"),
            &dan,
            json!({"client_txn_id": "t1", "text": "still here?"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nor posts to it");
    let (status, _) = server
        .call(
            "DELETE",
            &format!("/api/v1/conversations/{id}/members/cai"),
            Some(&cai.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "leaving");
    // The last admin leaving hands the group to the longest-standing member.
    let (status, _) = server
        .call(
            "DELETE",
            &format!("/api/v1/conversations/{id}/members/ana"),
            Some(&ana.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = server
        .post(
            &format!("/api/v1/conversations/{id}/members"),
            &bob,
            json!({"usernames": ["dan"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server
        .call(
            "DELETE",
            &format!("/api/v1/conversations/{id}/members/dan"),
            Some(&bob.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "bob became admin");
}

#[tokio::test]
async fn membership_changes_reach_members_as_events() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let mut bob_ws = server.ws(&bob, None).await;
    next_json(&mut bob_ws).await;
    let id = server.group(&ana, "Club", &[]).await;
    server
        .post(
            &format!("/api/v1/conversations/{id}/members"),
            &ana,
            json!({"usernames": ["bob"]}),
        )
        .await;
    let event = next_json(&mut bob_ws).await;
    assert_eq!(
        (
            event["type"].as_str(),
            event["conversation"]["name"].as_str()
        ),
        (Some("conversation.created"), Some("Club"))
    );
    server
        .call(
            "DELETE",
            &format!("/api/v1/conversations/{id}/members/bob"),
            Some(&ana.token),
            None,
        )
        .await;
    let event = next_json(&mut bob_ws).await;
    assert_eq!(event["type"], "conversation.updated");
    assert_eq!(event["removed_user_id"], bob.id.as_str());
    assert!(
        event["conversation"].is_null(),
        "an ex-member gets no conversation data: {event}"
    );
}

#[tokio::test]
async fn conversations_are_listed_by_recent_activity_with_pages() {
    let server = TestServer::start().await;
    let me = server.register("owner").await;
    let mut ids = Vec::new();
    for name in ["pal1", "pal2", "pal3"] {
        let other = server.register(name).await;
        ids.push(server.direct(&me, &other).await);
    }
    server.send(&me, &ids[0], "t", "bump").await;
    let (status, page) = server.get("/api/v1/conversations?limit=2", &me).await;
    assert_eq!(status, StatusCode::OK);
    let first: Vec<_> = page["conversations"]
        .as_array()
        .expect("list")
        .iter()
        .map(|c| c["id"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(
        first,
        vec![ids[0].clone(), ids[2].clone()],
        "most recent activity first"
    );
    assert_eq!(page["conversations"][0]["last_message"]["text"], "bump");
    let cursor = page["next_cursor"].as_str().expect("a next page");
    let (_, page) = server
        .get(
            &format!("/api/v1/conversations?limit=2&cursor={cursor}"),
            &me,
        )
        .await;
    let second: Vec<_> = page["conversations"]
        .as_array()
        .expect("list")
        .iter()
        .map(|c| c["id"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(second, vec![ids[1].clone()]);
    assert!(page["next_cursor"].is_null());
    let (status, body) = server
        .get("/api/v1/conversations?folder=nowhere", &me)
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_folder"))
    );
    let (_, requests) = server
        .get("/api/v1/conversations?folder=requests", &me)
        .await;
    assert_eq!(requests["conversations"], json!([]));
}

#[tokio::test]
async fn own_settings_move_archive_and_mute() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    server.make_friends(&ana, &bob).await;
    let id = server.direct(&ana, &bob).await;
    let (status, body) = server.call("PATCH", &format!("/api/v1/conversations/{id}/settings"), Some(&ana.token), Some(json!({"folder": "archived", "notify": "mentions", "muted_until": "2030-01-01T00:00:00Z"}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (
            body["folder"].as_str(),
            body["notify"].as_str(),
            body["muted_until"].as_str()
        ),
        (
            Some("archived"),
            Some("mentions"),
            Some("2030-01-01T00:00:00.000Z")
        )
    );
    let (_, archived) = server
        .get("/api/v1/conversations?folder=archived", &ana)
        .await;
    assert_eq!(archived["conversations"].as_array().map(Vec::len), Some(1));
    let (_, bob_view) = server
        .get(&format!("/api/v1/conversations/{id}"), &bob)
        .await;
    assert_eq!(bob_view["folder"], "inbox", "settings are per member");
    let (_, body) = server
        .call(
            "PATCH",
            &format!("/api/v1/conversations/{id}/settings"),
            Some(&ana.token),
            Some(json!({"muted_until": null})),
        )
        .await;
    assert!(body["muted_until"].is_null());
    assert_eq!(body["notify"], "mentions", "absent fields stay");
    for bad in [
        json!({"folder": "spam"}),
        json!({"notify": "loud"}),
        json!({"muted_until": "tomorrow"}),
    ] {
        let (status, _) = server
            .call(
                "PATCH",
                &format!("/api/v1/conversations/{id}/settings"),
                Some(&ana.token),
                Some(bad.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
}
