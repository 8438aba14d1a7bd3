//! The social inbox (issue 7): friends, friend requests and blocks from both sides, with
//! the events each side's devices get, on both backends.

use serde_json::{Value, json};

use super::support::{StatusCode, TestServer, User, assert_quiet_but, next_of, stream};

async fn befriend(server: &TestServer, from: &User, to: &User) -> (StatusCode, Value) {
    server
        .post("/api/v1/friends", from, json!({"username": to.username}))
        .await
}

async fn relationship(server: &TestServer, viewer: &User, other: &User) -> Value {
    let (status, body) = server
        .get(&format!("/api/v1/users/{}", other.username), viewer)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn usernames(list: &Value) -> Vec<&str> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|entry| {
            entry["user"]["username"]
                .as_str()
                .or(entry["username"].as_str())
                .expect("a username")
        })
        .collect()
}

async fn put(server: &TestServer, path: &str, user: &User) -> StatusCode {
    server.call("PUT", path, Some(&user.token), None).await.0
}

async fn show_last_seen_to_friends(server: &TestServer, user: &User) {
    let (status, body) = server
        .patch(
            "/api/v1/me",
            user,
            json!({"settings": {"last_seen_visibility": "friends"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Events that come on their own schedule and are not what these tests look at.
const UNRELATED: &[&str] = &["presence", "delivered"];

#[tokio::test]
async fn a_request_accepted_by_asking_back_makes_friends_and_tells_both() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let mut ana_ws = stream(&server, &ana).await;
    let mut bob_ws = stream(&server, &bob).await;

    let (status, body) = befriend(&server, &ana, &bob).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::CREATED, Some("request_sent"))
    );
    let incoming = next_of(&mut bob_ws, "friend.request").await;
    assert_eq!(incoming["user"]["username"], "ana");
    assert_eq!(incoming["direction"], "incoming");
    let outgoing = next_of(&mut ana_ws, "friend.request").await;
    assert_eq!(
        (
            outgoing["user"]["username"].as_str(),
            outgoing["direction"].as_str()
        ),
        (Some("bob"), Some("outgoing"))
    );
    assert_eq!(
        relationship(&server, &ana, &bob).await["relationship"],
        "request_sent"
    );
    assert_eq!(
        relationship(&server, &bob, &ana).await["relationship"],
        "request_received"
    );
    let (_, requests) = server.get("/api/v1/friends/requests", &bob).await;
    assert_eq!(usernames(&requests["incoming"]), ["ana"]);
    assert!(requests["incoming"][0]["created_at"].is_string());
    assert_eq!(usernames(&requests["outgoing"]), Vec::<&str>::new());
    let (_, requests) = server.get("/api/v1/friends/requests", &ana).await;
    assert_eq!(usernames(&requests["outgoing"]), ["bob"]);

    // Asking again changes nothing and tells nobody.
    let (status, body) = befriend(&server, &ana, &bob).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::CREATED, Some("request_sent"))
    );
    assert_quiet_but(&mut bob_ws, 300, UNRELATED).await;

    // Asking back accepts.
    let (status, body) = befriend(&server, &bob, &ana).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::CREATED, Some("friends"))
    );
    assert_eq!(
        next_of(&mut ana_ws, "friend.accepted").await["user"]["username"],
        "bob"
    );
    assert_eq!(
        next_of(&mut bob_ws, "friend.accepted").await["user"]["username"],
        "ana"
    );
    for (viewer, other) in [(&ana, &bob), (&bob, &ana)] {
        assert_eq!(
            relationship(&server, viewer, other).await["relationship"],
            "friend"
        );
        let (_, friends) = server.get("/api/v1/friends", viewer).await;
        assert_eq!(usernames(&friends["friends"]), [other.username.as_str()]);
        assert!(friends["friends"][0]["since"].is_string());
        let (_, requests) = server.get("/api/v1/friends/requests", viewer).await;
        assert_eq!(requests["incoming"], json!([]));
        assert_eq!(requests["outgoing"], json!([]));
    }
    assert_eq!(
        befriend(&server, &ana, &bob).await.1["status"],
        "friends",
        "already friends"
    );

    // Unfriending tells both and leaves nothing.
    let (status, _) = server.delete("/api/v1/friends/bob", &ana).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        next_of(&mut ana_ws, "friend.removed").await["user"]["username"],
        "bob"
    );
    assert_eq!(
        next_of(&mut bob_ws, "friend.removed").await["user"]["username"],
        "ana"
    );
    assert_eq!(
        relationship(&server, &bob, &ana).await["relationship"],
        "none"
    );
    let (_, friends) = server.get("/api/v1/friends", &bob).await;
    assert_eq!(friends["friends"], json!([]));
}

#[tokio::test]
async fn declining_tells_only_the_decliner_and_cancelling_tells_both() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let cai = server.register("cai").await;
    befriend(&server, &bob, &ana).await;
    befriend(&server, &ana, &cai).await;
    let mut ana_ws = stream(&server, &ana).await;
    let mut bob_ws = stream(&server, &bob).await;
    let mut cai_ws = stream(&server, &cai).await;

    // Ana declines Bob's request: Bob's devices hear nothing.
    let (status, _) = server.delete("/api/v1/friends/bob", &ana).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        next_of(&mut ana_ws, "friend.removed").await["user"]["username"],
        "bob"
    );
    assert_quiet_but(&mut bob_ws, 300, UNRELATED).await;
    let (_, requests) = server.get("/api/v1/friends/requests", &bob).await;
    assert_eq!(requests["outgoing"], json!([]));

    // Ana cancels her request to Cai: Cai's incoming list changes, so Cai is told.
    let (status, _) = server.delete("/api/v1/friends/cai", &ana).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        next_of(&mut cai_ws, "friend.removed").await["user"]["username"],
        "ana"
    );
    let (_, requests) = server.get("/api/v1/friends/requests", &cai).await;
    assert_eq!(requests["incoming"], json!([]));

    // Nothing between them: still 204, nothing told.
    let (status, _) = server.delete("/api/v1/friends/cai", &ana).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_quiet_but(&mut cai_ws, 300, UNRELATED).await;
}

#[tokio::test]
async fn friend_requests_refuse_bad_targets_and_write_nothing() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let before = server.count("friend_requests").await;
    let (status, body) = befriend(&server, &ana, &ana).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_username"))
    );
    let (status, body) = server
        .post("/api/v1/friends", &ana, json!({"username": "ghost"}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("user_not_found"))
    );
    for path in ["/api/v1/friends/ghost", "/api/v1/blocks/ghost"] {
        assert_eq!(
            server.delete(path, &ana).await.0,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    assert_eq!(
        put(&server, "/api/v1/blocks/ghost", &ana).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        put(&server, "/api/v1/blocks/ana", &ana).await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(server.count("friend_requests").await, before);
    assert_eq!(server.count("blocks").await, 0);
}

#[tokio::test]
async fn a_block_ends_the_friendship_hides_the_blocker_and_lifts_without_restoring() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    befriend(&server, &ana, &bob).await;
    befriend(&server, &bob, &ana).await;
    // Ana is online for everyone who may see her.
    let _ana_online = stream(&server, &ana).await;
    let mut ana_ws = stream(&server, &ana).await;
    let mut bob_ws = stream(&server, &bob).await;
    let before = relationship(&server, &bob, &ana).await;
    assert_eq!(before["online"], true, "friends see each other: {before}");

    assert_eq!(
        put(&server, "/api/v1/blocks/bob", &ana).await,
        StatusCode::NO_CONTENT
    );
    let blocked = next_of(&mut ana_ws, "block.updated").await;
    assert_eq!(
        (
            blocked["user"]["username"].as_str(),
            blocked["blocked"].as_bool()
        ),
        (Some("bob"), Some(true))
    );
    assert_eq!(
        next_of(&mut bob_ws, "friend.removed").await["user"]["username"],
        "ana"
    );
    // Blocking twice is the same block.
    assert_eq!(
        put(&server, "/api/v1/blocks/bob", &ana).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(server.count("blocks").await, 1);

    // Ana's view: Bob is blocked and listed.
    assert_eq!(
        relationship(&server, &ana, &bob).await["relationship"],
        "blocked"
    );
    let (_, blocks) = server.get("/api/v1/blocks", &ana).await;
    assert_eq!(usernames(&blocks["blocked"]), ["bob"]);
    // Bob's view: no friendship, no presence or last seen, not found in search, and no
    // friend request gets through.
    let seen = relationship(&server, &bob, &ana).await;
    assert_eq!(seen["relationship"], "none");
    assert!(
        seen.get("online").is_none() && seen.get("last_seen_at").is_none(),
        "{seen}"
    );
    let (_, found) = server.get("/api/v1/users?q=ana", &bob).await;
    assert_eq!(found["users"], json!([]));
    let (_, found) = server.get("/api/v1/users?q=bob", &ana).await;
    assert_eq!(
        usernames(&found["users"]),
        ["bob"],
        "the blocker still finds them"
    );
    let (status, body) = befriend(&server, &bob, &ana).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("friend_request_refused"))
    );
    let (status, _) = befriend(&server, &ana, &bob).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "nor from the blocker while blocking"
    );
    assert_eq!(server.count("friend_requests").await, 0);
    assert_eq!(server.count("friends").await, 0);

    // Unblocking restores nothing: no friendship comes back.
    let (status, _) = server.delete("/api/v1/blocks/bob", &ana).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let unblocked = next_of(&mut ana_ws, "block.updated").await;
    assert_eq!(unblocked["blocked"], false);
    assert_eq!(
        relationship(&server, &ana, &bob).await["relationship"],
        "none"
    );
    let (_, blocks) = server.get("/api/v1/blocks", &ana).await;
    assert_eq!(blocks["blocked"], json!([]));
    let (_, found) = server.get("/api/v1/users?q=ana", &bob).await;
    assert_eq!(usernames(&found["users"]), ["ana"]);
}

#[tokio::test]
async fn last_seen_for_friends_is_shown_to_friends_only() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let cai = server.register("cai").await;
    show_last_seen_to_friends(&server, &ana).await;
    befriend(&server, &ana, &bob).await;
    befriend(&server, &bob, &ana).await;
    let _ana_online = stream(&server, &ana).await;
    let friend_view = relationship(&server, &bob, &ana).await;
    assert_eq!(friend_view["online"], true, "{friend_view}");
    assert!(friend_view["last_seen_at"].is_string());
    let stranger_view = relationship(&server, &cai, &ana).await;
    assert!(stranger_view.get("online").is_none(), "{stranger_view}");
    assert!(stranger_view.get("last_seen_at").is_none());
}

#[tokio::test]
async fn presence_events_reach_friends_and_never_someone_blocked() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let cai = server.register("cai").await;
    let dan = server.register("dan").await;
    server.group(&ana, "grupo", &[&cai, &dan]).await;
    befriend(&server, &ana, &bob).await;
    befriend(&server, &bob, &ana).await;
    assert_eq!(
        put(&server, "/api/v1/blocks/dan", &ana).await,
        StatusCode::NO_CONTENT
    );
    let mut bobs = stream(&server, &bob).await;
    let mut cais = stream(&server, &cai).await;
    let mut dans = stream(&server, &dan).await;

    // Shown to everyone: her friend (no conversation shared) and the group member hear
    // it; the person she blocks does not.
    let anas = stream(&server, &ana).await;
    for ws in [&mut bobs, &mut cais] {
        assert!(presence_of(ws, &ana).await);
    }
    drop(anas);
    for ws in [&mut bobs, &mut cais] {
        assert!(!presence_of(ws, &ana).await);
    }
    let frames = super::support::frames_within(&mut dans, 300).await;
    assert!(
        frames.iter().all(|f| f["user_id"] != ana.id.as_str()),
        "{frames:?}"
    );

    // Shown to friends only: the group member hears nothing any more.
    show_last_seen_to_friends(&server, &ana).await;
    let _anas = stream(&server, &ana).await;
    assert!(presence_of(&mut bobs, &ana).await);
    let frames = super::support::frames_within(&mut cais, 500).await;
    assert!(
        frames.iter().all(|f| f["user_id"] != ana.id.as_str()),
        "{frames:?}"
    );
}

/// Whether the next `presence` event about `user` says they are online.
async fn presence_of(ws: &mut super::support::Ws, user: &User) -> bool {
    loop {
        let event = next_of(ws, "presence").await;
        if event["user_id"] == user.id.as_str() {
            return event["online"].as_bool().expect("a flag");
        }
    }
}
