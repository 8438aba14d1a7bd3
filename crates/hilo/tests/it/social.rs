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
    // Bob still sees his request waiting; ana no longer sees it.
    let (_, requests) = server.get("/api/v1/friends/requests", &bob).await;
    assert_eq!(usernames(&requests["outgoing"]), ["ana"]);
    assert_eq!(
        relationship(&server, &bob, &ana).await["relationship"],
        "request_sent"
    );
    let (_, requests) = server.get("/api/v1/friends/requests", &ana).await;
    assert_eq!(requests["incoming"], json!([]));
    assert_eq!(
        relationship(&server, &ana, &bob).await["relationship"],
        "none"
    );
    // Asking him later still makes them friends at once.
    let (status, body) = befriend(&server, &ana, &bob).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::CREATED, Some("friends"))
    );
    assert_eq!(
        next_of(&mut bob_ws, "friend.accepted").await["user"]["username"],
        "ana"
    );
    server.delete("/api/v1/friends/bob", &ana).await;

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

async fn folder_of(server: &TestServer, user: &User, conversation: &str) -> String {
    let (status, body) = server
        .get(&format!("/api/v1/conversations/{conversation}"), user)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["folder"].as_str().expect("a folder").to_owned()
}

async fn listed(server: &TestServer, user: &User, folder: &str) -> Vec<String> {
    let (status, body) = server
        .get(&format!("/api/v1/conversations?folder={folder}"), user)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["conversations"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|c| c["id"].as_str().expect("an id").to_owned())
        .collect()
}

async fn try_send(
    server: &TestServer,
    user: &User,
    conversation: &str,
    txn: &str,
) -> (StatusCode, Value) {
    server
        .post(
            &format!("/api/v1/conversations/{conversation}/messages"),
            user,
            json!({"client_txn_id": txn, "text": "hola"}),
        )
        .await
}

async fn read(server: &TestServer, user: &User, conversation: &str, seq: i64) {
    let (status, body) = server
        .post(
            &format!("/api/v1/conversations/{conversation}/read"),
            user,
            json!({ "seq": seq }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn set_who_can_message(server: &TestServer, user: &User, who: &str) {
    let (status, body) = server
        .patch(
            "/api/v1/me",
            user,
            json!({"settings": {"who_can_message": who}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn strangers_land_in_requests_where_reading_and_typing_stay_private_until_accepted() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let cai = server.register("cai").await;
    server.make_friends(&ana, &cai).await;

    // A stranger's message is a request for ana; the sender has it in their inbox.
    let from_bob = server.direct(&bob, &ana).await;
    server
        .send(&bob, &from_bob, "b1", "hola, ¿nos conocemos?")
        .await;
    assert_eq!(folder_of(&server, &ana, &from_bob).await, "requests");
    assert_eq!(folder_of(&server, &bob, &from_bob).await, "inbox");
    assert_eq!(
        listed(&server, &ana, "requests").await,
        vec![from_bob.clone()]
    );
    assert!(!listed(&server, &ana, "inbox").await.contains(&from_bob));
    // A friend's goes to the inbox.
    let from_cai = server.direct(&cai, &ana).await;
    server.send(&cai, &from_cai, "c1", "hola amiga").await;
    assert_eq!(folder_of(&server, &ana, &from_cai).await, "inbox");

    // Reading and typing in a request tell the sender nothing.
    let mut bobs = stream(&server, &bob).await;
    read(&server, &ana, &from_bob, 1).await;
    let (status, _) = server
        .post(
            &format!("/api/v1/conversations/{from_bob}/typing"),
            &ana,
            json!({"typing": true}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_quiet_but(&mut bobs, 500, UNRELATED).await;
    let (_, receipts) = server
        .get(&format!("/api/v1/conversations/{from_bob}/receipts"), &bob)
        .await;
    assert_eq!(
        receipts["receipts"][0]["last_read_seq"],
        Value::Null,
        "{receipts}"
    );

    // Accepting moves it to the inbox; from then on reading is shared.
    let (status, body) = server
        .post(
            &format!("/api/v1/conversations/{from_bob}/accept"),
            &ana,
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body["folder"].as_str()),
        (StatusCode::OK, Some("inbox")),
        "{body}"
    );
    assert_eq!(
        listed(&server, &ana, "requests").await,
        Vec::<String>::new()
    );
    server.send(&bob, &from_bob, "b2", "gracias").await;
    read(&server, &ana, &from_bob, 2).await;
    let read = next_of(&mut bobs, "read").await;
    assert_eq!(
        (read["user_id"].as_str(), read["seq"].as_i64()),
        (Some(ana.id.as_str()), Some(2))
    );

    // Replying to a request accepts it too, and the replier's devices hear of the move.
    let dan = server.register("dan").await;
    let from_dan = server.direct(&dan, &ana).await;
    server.send(&dan, &from_dan, "d1", "¿hola?").await;
    let mut anas = stream(&server, &ana).await;
    server.send(&ana, &from_dan, "a1", "hola dan").await;
    let moved = next_of(&mut anas, "conversation.updated").await;
    assert_eq!(moved["conversation"]["folder"], "inbox", "{moved}");
    assert_eq!(folder_of(&server, &ana, &from_dan).await, "inbox");
}

#[tokio::test]
async fn who_can_message_refuses_strangers_and_invitations_with_403() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let cai = server.register("cai").await;
    let eve = server.register("eve").await;
    // cai is a friend of ana's friend eve.
    server.make_friends(&ana, &eve).await;
    server.make_friends(&eve, &cai).await;
    set_who_can_message(&server, &ana, "friends_of_friends").await;
    let before = server.count("messages").await;

    let from_bob = server.direct(&bob, &ana).await;
    let (status, body) = try_send(&server, &bob, &from_bob, "b1").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("recipient_restricts_messages"))
    );
    assert_eq!(server.count("messages").await, before, "nothing stored");
    let from_cai = server.direct(&cai, &ana).await;
    assert_eq!(
        try_send(&server, &cai, &from_cai, "c1").await.0,
        StatusCode::CREATED
    );
    assert_eq!(
        folder_of(&server, &ana, &from_cai).await,
        "requests",
        "a friend of a friend is still no friend"
    );

    // Friends only: the friend of a friend is refused too, a friend is not.
    set_who_can_message(&server, &ana, "friends").await;
    let (status, _) = server
        .post(
            "/api/v1/conversations",
            &cai,
            json!({"kind": "direct", "with": "ana"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "opening is no message");
    assert_eq!(
        try_send(&server, &cai, &from_cai, "c2").await.0,
        StatusCode::FORBIDDEN
    );
    let from_eve = server.direct(&eve, &ana).await;
    assert_eq!(
        try_send(&server, &eve, &from_eve, "e1").await.0,
        StatusCode::CREATED
    );
    assert_eq!(folder_of(&server, &ana, &from_eve).await, "inbox");
    // Once ana accepted, her setting no longer stops that conversation.
    server
        .post(
            &format!("/api/v1/conversations/{from_cai}/accept"),
            &ana,
            json!({}),
        )
        .await;
    assert_eq!(
        try_send(&server, &cai, &from_cai, "c3").await.0,
        StatusCode::CREATED
    );

    // Groups: nobody ana's setting refuses may put her in one.
    let groups = server.count("conversations").await;
    let (status, body) = server
        .post(
            "/api/v1/conversations",
            &bob,
            json!({"kind": "group", "name": "g", "members": ["ana"]}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("recipient_restricts_messages"))
    );
    assert_eq!(server.count("conversations").await, groups);
    let group = server.group(&bob, "g", &[]).await;
    let (status, _) = server
        .post(
            &format!("/api/v1/conversations/{group}/members"),
            &bob,
            json!({"usernames": ["ana"]}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Allowed, a non-friend's group lands in ana's requests, a friend's in her inbox.
    set_who_can_message(&server, &ana, "everyone").await;
    let (status, _) = server
        .post(
            &format!("/api/v1/conversations/{group}/members"),
            &bob,
            json!({"usernames": ["ana"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(folder_of(&server, &ana, &group).await, "requests");
    let friends_group = server.group(&eve, "amigas", &[&ana]).await;
    assert_eq!(folder_of(&server, &ana, &friends_group).await, "inbox");
}

#[tokio::test]
async fn a_block_drops_what_the_blocked_person_sends_and_refuses_groups_both_ways() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let cai = server.register("cai").await;
    let direct = server.direct(&bob, &ana).await;
    server.send(&bob, &direct, "b1", "antes").await;
    let shared = server.group(&cai, "compartido", &[&ana, &bob]).await;
    assert_eq!(
        put(&server, "/api/v1/blocks/bob", &ana).await,
        StatusCode::NO_CONTENT
    );
    let mut anas = stream(&server, &ana).await;
    let before = server.count("messages").await;

    // What bob sends ana is dropped: refused, not stored, not told, only counted.
    let (status, body) = try_send(&server, &bob, &direct, "b2").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("recipient_restricts_messages"))
    );
    assert_eq!(
        try_send(&server, &bob, &direct, "b3").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(server.count("messages").await, before);
    assert_eq!(
        server
            .db
            .text("SELECT CAST(dropped AS TEXT) FROM blocks")
            .await,
        "2"
    );
    assert_quiet_but(&mut anas, 300, UNRELATED).await;
    let (_, view) = server
        .get(&format!("/api/v1/conversations/{direct}"), &ana)
        .await;
    assert_eq!(view["unread_count"], 1, "only what came before the block");
    // Ana cannot message whom she blocks either (she is told why).
    let (status, body) = try_send(&server, &ana, &direct, "a1").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("recipient_blocked"))
    );
    // No groups with each other, in either direction.
    for (from, to) in [(&bob, &ana), (&ana, &bob)] {
        let (status, _) = server
            .post(
                "/api/v1/conversations",
                from,
                json!({"kind": "group", "name": "g", "members": [to.username]}),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "{} adding {}",
            from.username,
            to.username
        );
    }
    // The group they already shared keeps working.
    server.send(&bob, &shared, "g1", "en el grupo").await;
    let message = next_of(&mut anas, "message.created").await;
    assert_eq!(message["conversation_id"], shared.as_str());

    // Unblocking brings nothing back: no backlog of what was dropped.
    let (status, _) = server.delete("/api/v1/blocks/bob", &ana).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    server.send(&bob, &direct, "b4", "después").await;
    let texts: Vec<String> = server
        .all_messages(&ana, &direct)
        .await
        .iter()
        .map(|m| m["text"].as_str().expect("text").to_owned())
        .collect();
    assert_eq!(texts, ["antes", "después"]);
}

#[tokio::test]
async fn deleting_for_me_hides_history_until_someone_writes_and_declining_tells_nobody() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let cai = server.register("cai").await;
    server.make_friends(&ana, &bob).await;
    let direct = server.direct(&bob, &ana).await;
    let first = server.send(&bob, &direct, "b1", "uno").await;
    server.send(&bob, &direct, "b2", "dos").await;
    // Pinned, then deleted: it comes back as a new conversation would, unpinned.
    let (status, _) = settings(&server, &ana, &direct, json!({"pinned": true})).await;
    assert_eq!(status, StatusCode::OK);
    let mut anas = stream(&server, &ana).await;

    let (status, _) = server
        .delete(&format!("/api/v1/conversations/{direct}"), &ana)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let gone = next_of(&mut anas, "conversation.updated").await;
    assert_eq!(gone["conversation"], Value::Null, "{gone}");
    assert!(!listed(&server, &ana, "inbox").await.contains(&direct));
    let (status, _) = server
        .get(
            &format!("/api/v1/messages/{}", first["id"].as_str().expect("id")),
            &ana,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "deleted for her");
    // Gone for her: every read or change of it answers as for no conversation at all,
    // and changes nothing.
    for path in ["", "/messages", "/receipts"] {
        let (status, body) = server
            .get(&format!("/api/v1/conversations/{direct}{path}"), &ana)
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("conversation_not_found")),
            "GET {path}: {body}"
        );
    }
    let (status, _) = settings(&server, &ana, &direct, json!({"pinned": true})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = server
        .post(
            &format!("/api/v1/conversations/{direct}/read"),
            &ana,
            json!({"seq": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = server
        .delete(&format!("/api/v1/conversations/{direct}"), &ana)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "already gone");
    assert_eq!(
        server.all_messages(&bob, &direct).await.len(),
        2,
        "bob keeps his copy"
    );

    // A new message shows the conversation again, with only what came after.
    server.send(&bob, &direct, "b3", "tres").await;
    let back = next_of(&mut anas, "conversation.updated").await;
    assert_eq!(back["conversation"]["folder"], "inbox", "{back}");
    assert_eq!(
        next_of(&mut anas, "message.created").await["message"]["text"],
        "tres"
    );
    assert!(listed(&server, &ana, "inbox").await.contains(&direct));
    let texts: Vec<Value> = server
        .all_messages(&ana, &direct)
        .await
        .iter()
        .map(|m| m["text"].clone())
        .collect();
    assert_eq!(texts, [json!("tres")]);
    let (_, view) = server
        .get(&format!("/api/v1/conversations/{direct}"), &ana)
        .await;
    assert_eq!(
        (&view["unread_count"], &view["pinned"]),
        (&json!(1), &json!(false)),
        "{view}"
    );

    // Opening it again (a new chat with bob) brings it back empty, before anyone writes.
    let (status, _) = server
        .delete(&format!("/api/v1/conversations/{direct}"), &ana)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        next_of(&mut anas, "conversation.updated").await["conversation"],
        Value::Null
    );
    let (status, reopened) = server
        .post(
            "/api/v1/conversations",
            &ana,
            json!({"kind": "direct", "with": "bob"}),
        )
        .await;
    assert_eq!(
        (status, reopened["id"].as_str()),
        (StatusCode::OK, Some(direct.as_str())),
        "{reopened}"
    );
    assert_eq!(
        (&reopened["unread_count"], &reopened["last_message"]),
        (&json!(0), &Value::Null),
        "{reopened}"
    );
    let back = next_of(&mut anas, "conversation.updated").await;
    assert_eq!(back["conversation"]["id"], direct.as_str(), "{back}");
    assert!(listed(&server, &ana, "inbox").await.contains(&direct));
    assert_eq!(
        server.all_messages(&ana, &direct).await,
        Vec::<Value>::new()
    );

    // Declining a request hides it without a word to the sender.
    let request = server.direct(&cai, &ana).await;
    server.send(&cai, &request, "c1", "¿hola?").await;
    let mut cais = stream(&server, &cai).await;
    let (status, body) = server
        .post(
            &format!("/api/v1/conversations/{direct}/decline"),
            &ana,
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("not_a_request"))
    );
    let (status, _) = server
        .post(
            &format!("/api/v1/conversations/{request}/decline"),
            &ana,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        listed(&server, &ana, "requests").await,
        Vec::<String>::new()
    );
    assert_quiet_but(&mut cais, 300, UNRELATED).await;
    // Writing again asks again.
    server.send(&cai, &request, "c2", "¿sigues ahí?").await;
    assert_eq!(
        listed(&server, &ana, "requests").await,
        vec![request.clone()]
    );
    assert_eq!(server.all_messages(&ana, &request).await.len(), 1);
}

async fn settings(
    server: &TestServer,
    user: &User,
    conversation: &str,
    body: Value,
) -> (StatusCode, Value) {
    server
        .patch(
            &format!("/api/v1/conversations/{conversation}/settings"),
            user,
            body,
        )
        .await
}

#[tokio::test]
async fn pinned_conversations_come_first_and_archived_ones_come_back_with_a_message() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let mut ids = Vec::new();
    for name in ["bob", "cai", "dan"] {
        let other = server.register(name).await;
        server.make_friends(&ana, &other).await;
        let id = server.direct(&other, &ana).await;
        server.send(&other, &id, "t1", "hola").await;
        ids.push((other, id));
    }
    let (bob, cai) = (&ids[0], &ids[1]);
    assert_eq!(
        listed(&server, &ana, "inbox").await,
        [ids[2].1.clone(), cai.1.clone(), bob.1.clone()]
    );

    let mut anas = stream(&server, &ana).await;
    let (status, body) = settings(&server, &ana, &bob.1, json!({"pinned": true})).await;
    assert_eq!(
        (status, body["pinned"].as_bool()),
        (StatusCode::OK, Some(true)),
        "{body}"
    );
    assert_eq!(
        next_of(&mut anas, "conversation.updated").await["conversation"]["pinned"],
        true
    );
    assert_eq!(
        listed(&server, &ana, "inbox").await,
        [bob.1.clone(), ids[2].1.clone(), cai.1.clone()]
    );
    // Pages: the pinned ones lead the first page, the others follow page by page.
    let (_, first) = server
        .get("/api/v1/conversations?folder=inbox&limit=1", &ana)
        .await;
    let first_ids: Vec<&str> = first["conversations"]
        .as_array()
        .expect("list")
        .iter()
        .map(|c| c["id"].as_str().expect("id"))
        .collect();
    assert_eq!(first_ids, [bob.1.as_str(), ids[2].1.as_str()]);
    let cursor = first["next_cursor"].as_str().expect("more");
    let (_, second) = server
        .get(
            &format!("/api/v1/conversations?folder=inbox&limit=1&cursor={cursor}"),
            &ana,
        )
        .await;
    assert_eq!(second["conversations"][0]["id"], cai.1.as_str());
    assert_eq!(second["next_cursor"], Value::Null);
    let (status, _) = settings(&server, &ana, &bob.1, json!({"pinned": false})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        listed(&server, &ana, "inbox").await,
        [ids[2].1.clone(), cai.1.clone(), bob.1.clone()]
    );

    // Archived: out of the inbox until a new message brings it back.
    let (status, _) = settings(&server, &ana, &cai.1, json!({"folder": "archived"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed(&server, &ana, "archived").await, vec![cai.1.clone()]);
    server.send(&cai.0, &cai.1, "t2", "¿sigues ahí?").await;
    assert_eq!(
        listed(&server, &ana, "archived").await,
        Vec::<String>::new()
    );
    assert_eq!(listed(&server, &ana, "inbox").await[0], cai.1);

    // At most ten pinned.
    for n in 0..10 {
        let group = server.group(&ana, &format!("g{n}"), &[]).await;
        let (status, _) = settings(&server, &ana, &group, json!({"pinned": true})).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, body) = settings(&server, &ana, &bob.1, json!({"pinned": true})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("too_many_pinned"))
    );
}

#[tokio::test]
async fn a_reply_shown_to_someone_who_deleted_what_it_quotes_follows_its_edits() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    server.make_friends(&ana, &bob).await;
    let direct = server.direct(&bob, &ana).await;
    let quoted = server.send(&bob, &direct, "b1", "primera versión").await;
    let quoted = quoted["id"].as_str().expect("id").to_owned();
    let (status, _) = server
        .delete(&format!("/api/v1/conversations/{direct}"), &ana)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, reply) = server
        .post(
            &format!("/api/v1/conversations/{direct}/messages"),
            &bob,
            json!({"client_txn_id": "b2", "text": "como decía", "reply_to": quoted}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    let mut anas = stream(&server, &ana).await;
    let (status, _) = server
        .patch(
            &format!("/api/v1/messages/{quoted}"),
            &bob,
            json!({"text": "segunda versión"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // Ana cannot hold the quoted message (she deleted it), so the reply itself comes.
    let updated = next_of(&mut anas, "message.updated").await;
    assert_eq!(updated["message"]["id"], reply["id"], "{updated}");
    assert_eq!(updated["message"]["reply_to"]["excerpt"], "segunda versión");
}

#[tokio::test]
async fn a_blocker_sees_a_blocked_persons_group_messages_collapsed_and_nobody_else_does() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let mallory = server.register("mallory").await;
    let group = server.group(&ana, "Vecinos", &[&bob, &mallory]).await;
    assert_eq!(
        put(&server, "/api/v1/blocks/mallory", &ana).await,
        StatusCode::NO_CONTENT
    );
    let (_, before) = server.get("/api/v1/events?timeout=0", &ana).await;
    let mut ana_ws = stream(&server, &ana).await;
    let mut bob_ws = stream(&server, &bob).await;

    // The shared group keeps working: mallory's message is stored and delivered.
    let sent = server.send(&mallory, &group, "m1", "hola vecinos").await;
    assert_eq!(sent["collapsed"], false, "the sender's own view: {sent}");
    let live = next_of(&mut ana_ws, "message.created").await;
    assert_eq!(live["message"]["collapsed"], true, "{live}");
    let live = next_of(&mut bob_ws, "message.created").await;
    assert_eq!(live["message"]["collapsed"], false, "{live}");
    // An edit comes folded too.
    let id = sent["id"].as_str().expect("an id");
    let (status, _) = server
        .patch(
            &format!("/api/v1/messages/{id}"),
            &mallory,
            json!({"text": "hola, vecinos"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let live = next_of(&mut ana_ws, "message.updated").await;
    assert_eq!(live["message"]["collapsed"], true, "{live}");

    // Every read says the same: history, the message, search, a replay of the events.
    let history = server.all_messages(&ana, &group).await;
    let last = history.last().expect("a message");
    assert_eq!(
        (&last["id"], &last["collapsed"]),
        (&sent["id"], &json!(true))
    );
    let bobs = server.all_messages(&bob, &group).await;
    assert_eq!(bobs.last().expect("a message")["collapsed"], false);
    let (_, one) = server.get(&format!("/api/v1/messages/{id}"), &ana).await;
    assert_eq!(one["collapsed"], true);
    let (_, found) = server.get("/api/v1/search/messages?q=vecinos", &ana).await;
    assert_eq!(found["results"][0]["message"]["collapsed"], true, "{found}");
    // The conversation's preview too, in the list and alone; not for bob.
    let (_, list) = server.get("/api/v1/conversations", &ana).await;
    assert_eq!(
        list["conversations"][0]["last_message"]["collapsed"], true,
        "{list}"
    );
    let (_, alone) = server
        .get(&format!("/api/v1/conversations/{group}"), &ana)
        .await;
    assert_eq!(alone["last_message"]["collapsed"], true, "{alone}");
    let (_, bobs) = server
        .get(&format!("/api/v1/conversations/{group}"), &bob)
        .await;
    assert_eq!(bobs["last_message"]["collapsed"], false, "{bobs}");
    let (_, replay) = server
        .get(
            &format!(
                "/api/v1/events?since={}&timeout=0",
                before["cursor"].as_str().expect("a cursor")
            ),
            &ana,
        )
        .await;
    let created: Vec<&Value> = replay["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["type"] == "message.created")
        .collect();
    assert_eq!(created.len(), 1, "{replay}");
    assert_eq!(created[0]["message"]["collapsed"], true);

    // Unblocking unfolds them.
    let (status, _) = server.delete("/api/v1/blocks/mallory", &ana).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let history = server.all_messages(&ana, &group).await;
    assert!(
        history.iter().all(|m| m["collapsed"] == false),
        "{history:?}"
    );
    let (_, list) = server.get("/api/v1/conversations", &ana).await;
    assert_eq!(
        list["conversations"][0]["last_message"]["collapsed"], false,
        "{list}"
    );
}
