//! The spam filter (issue 7) from both sides: first-contact messages judged spam land in
//! the recipient's spam folder without the sender being told; "mark as spam" and "not
//! spam" move conversations and teach the filter; behaviour signals count. Both backends.

use serde_json::{Value, json};

use super::support::{StatusCode, TestServer, User};

async fn folder_of(server: &TestServer, user: &User, id: &str) -> String {
    let (status, view) = server
        .get(&format!("/api/v1/conversations/{id}"), user)
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    view["folder"].as_str().expect("a folder").to_owned()
}

/// `from` opens a direct conversation with `to` and sends `text`; the conversation id.
async fn first_contact(server: &TestServer, from: &User, to: &User, text: &str) -> String {
    let id = server.direct(from, to).await;
    let (status, body) = server
        .post(
            &format!("/api/v1/conversations/{id}/messages"),
            from,
            json!({"client_txn_id": "first", "text": text}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    id
}

const SPAM: &str = "Congratulations! You have been selected to receive a FREE credit card offer. \
    Click here to claim your cash prize, limited time, act now!";

#[tokio::test]
async fn spam_from_a_stranger_goes_to_spam_and_the_sender_is_not_told() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let spammer = server.register("spammer").await;
    let friend = server.register("friend").await;
    server.make_friends(&ana, &friend).await;

    let id = first_contact(&server, &spammer, &ana, SPAM).await;
    assert_eq!(folder_of(&server, &ana, &id).await, "spam");
    assert_eq!(folder_of(&server, &spammer, &id).await, "inbox");
    let (_, requests) = server
        .get("/api/v1/conversations?folder=requests", &ana)
        .await;
    assert!(
        requests["conversations"]
            .as_array()
            .expect("a list")
            .is_empty()
    );

    // A normal first message is a request; the same words from a friend are no first
    // contact and go to the inbox.
    let hana = server.register("hana").await;
    let plain = first_contact(
        &server,
        &hana,
        &ana,
        "hola ana, soy hana del club de lectura",
    )
    .await;
    assert_eq!(folder_of(&server, &ana, &plain).await, "requests");
    let from_friend = first_contact(&server, &friend, &ana, SPAM).await;
    assert_eq!(folder_of(&server, &ana, &from_friend).await, "inbox");
}

#[tokio::test]
async fn marking_spam_and_not_spam_moves_conversations_and_teaches_the_filter() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    // Words the shipped model has never seen: neutral until ana teaches it.
    let text = "zorblax quuxify wibblenook";
    let first = server.register("first").await;
    let id = first_contact(&server, &first, &ana, text).await;
    assert_eq!(folder_of(&server, &ana, &id).await, "requests");

    let (status, view) = server
        .post(&format!("/api/v1/conversations/{id}/spam"), &ana, json!({}))
        .await;
    assert_eq!(
        (status, view["folder"].as_str()),
        (StatusCode::OK, Some("spam"))
    );
    // The lesson: the same words from someone else are spam now.
    let second = server.register("second").await;
    let taught = first_contact(&server, &second, &ana, text).await;
    assert_eq!(folder_of(&server, &ana, &taught).await, "spam");

    // "Not spam" brings it back to requests and teaches the other way.
    let (status, view) = server
        .post(
            &format!("/api/v1/conversations/{taught}/not_spam"),
            &ana,
            json!({}),
        )
        .await;
    assert_eq!(
        (status, view["folder"].as_str()),
        (StatusCode::OK, Some("requests"))
    );
    let third = server.register("third").await;
    let untaught = first_contact(&server, &third, &ana, text).await;
    assert_eq!(folder_of(&server, &ana, &untaught).await, "requests");

    // Only a conversation in spam can be "not spam"; outsiders get nothing.
    let (status, body) = server
        .post(
            &format!("/api/v1/conversations/{untaught}/not_spam"),
            &ana,
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("not_in_spam"))
    );
    let (status, _) = server
        .post(
            &format!("/api/v1/conversations/{untaught}/spam"),
            &second,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn behaviour_signals_catch_bursts_copies_and_link_heavy_openers() {
    let server = TestServer::start().await;
    let sender = server.register("sender").await;
    let mut people: Vec<User> = Vec::new();
    for i in 0..14 {
        people.push(server.register(&format!("person{i}")).await);
    }
    // The same text to many: from the sixth recipient on, spam.
    let mut folders: Vec<String> = Vec::new();
    for person in &people[..7] {
        let id = first_contact(&server, &sender, person, "hola, ¿nos conocemos?").await;
        folders.push(folder_of(&server, person, &id).await);
    }
    assert_eq!(folders[..5], ["requests"; 5], "{folders:?}");
    assert_eq!(folders[5..], ["spam"; 2], "{folders:?}");

    // Many new conversations within the hour: past ten, spam whatever the text.
    let mut last: Value = Value::Null;
    for (i, person) in people[7..12].iter().enumerate() {
        let id = first_contact(
            &server,
            &sender,
            person,
            &format!("mensaje distinto número {i}"),
        )
        .await;
        last = json!(folder_of(&server, person, &id).await);
    }
    assert_eq!(last, "spam", "the eleventh and later conversations");

    // A first message of nothing but links.
    let linker = server.register("linker").await;
    let id = first_contact(
        &server,
        &linker,
        &people[12],
        "https://a.example/x https://b.example/y",
    )
    .await;
    assert_eq!(folder_of(&server, &people[12], &id).await, "spam");
}
