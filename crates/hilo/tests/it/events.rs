//! The events stream: WebSocket (header and first-frame auth), replay after reconnect,
//! resync, long polling.

use serde_json::{Value, json};

use super::support::{StatusCode, TestServer, close_code, next_json, small_buffer_ws};

#[tokio::test]
async fn a_websocket_gets_ready_then_events_in_order() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let mut ws = server.ws(&bob, None).await;
    let ready = next_json(&mut ws).await;
    assert_eq!(ready["type"], "ready");
    let start: i64 = ready["cursor"]
        .as_str()
        .expect("cursor")
        .parse()
        .expect("numeric cursor");
    let id = server.direct(&ana, &bob).await;
    let created = next_json(&mut ws).await;
    assert_eq!(
        (
            created["type"].as_str(),
            created["conversation_id"].as_str()
        ),
        (Some("conversation.created"), Some(id.as_str()))
    );
    assert_eq!(created["conversation"]["kind"], "direct");
    let mut cursors = vec![
        created["cursor"]
            .as_str()
            .expect("cursor")
            .parse::<i64>()
            .expect("n"),
    ];
    for n in 1..=5 {
        server
            .send(&ana, &id, &format!("t{n}"), &format!("m{n}"))
            .await;
    }
    for n in 1..=5 {
        let event = next_json(&mut ws).await;
        assert_eq!(event["type"], "message.created");
        assert_eq!(
            event["message"]["text"],
            format!("m{n}"),
            "full message object, in order"
        );
        assert_eq!(event["message"]["seq"], n);
        cursors.push(
            event["cursor"]
                .as_str()
                .expect("cursor")
                .parse()
                .expect("n"),
        );
    }
    let expected: Vec<i64> = (start + 1..=start + 6).collect();
    assert_eq!(cursors, expected, "cursors advance by one per event");
}

#[tokio::test]
async fn browsers_authenticate_with_a_first_frame() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let mut ws = server
        .ws_first_frame(json!({"type": "auth", "token": ana.token}))
        .await;
    assert_eq!(next_json(&mut ws).await["type"], "ready");
    let mut bad = server
        .ws_first_frame(json!({"type": "auth", "token": "hilo_forged"}))
        .await;
    assert_eq!(close_code(&mut bad).await, 4001);
    let mut wrong = server.ws_first_frame(json!({"type": "hello"})).await;
    assert_eq!(close_code(&mut wrong).await, 4002);
    let (status, _) = server
        .call("GET", "/api/v1/events?timeout=0", Some("hilo_forged"), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// Collects `n` message texts from a socket, with their cursors.
async fn texts(ws: &mut super::support::Ws, n: usize) -> Vec<(String, String)> {
    let mut out = Vec::new();
    while out.len() < n {
        let event = next_json(ws).await;
        if event["type"] == "message.created" {
            out.push((
                event["cursor"].as_str().unwrap_or("").to_owned(),
                event["message"]["text"].as_str().unwrap_or("").to_owned(),
            ));
        }
    }
    out
}

#[tokio::test]
async fn reconnecting_with_a_cursor_replays_exactly_what_was_missed() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let id = server.direct(&ana, &bob).await;
    let mut ws = server.ws(&bob, None).await;
    next_json(&mut ws).await;
    for n in 1..=3 {
        server
            .send(&ana, &id, &format!("a{n}"), &format!("m{n}"))
            .await;
    }
    let seen = texts(&mut ws, 3).await;
    let cursor = seen[1].0.clone();
    drop(ws);
    for n in 4..=6 {
        server
            .send(&ana, &id, &format!("a{n}"), &format!("m{n}"))
            .await;
    }
    // Resume after m2: m3 again (it came after that cursor), then m4..m6, then live m7.
    let mut ws = server.ws(&bob, Some(&cursor)).await;
    let ready = next_json(&mut ws).await;
    assert_eq!(
        (ready["type"].as_str(), ready["cursor"].as_str()),
        (Some("ready"), Some(cursor.as_str()))
    );
    server.send(&ana, &id, "a7", "m7").await;
    let replayed: Vec<String> = texts(&mut ws, 5)
        .await
        .into_iter()
        .map(|(_, text)| text)
        .collect();
    assert_eq!(
        replayed,
        ["m3", "m4", "m5", "m6", "m7"],
        "no loss, no duplicate, same order"
    );
    super::support::assert_quiet_but(&mut ws, 300, &["delivered", "presence"]).await;

    // The same through the first-frame auth.
    let mut browser = server
        .ws_first_frame(json!({"type": "auth", "token": bob.token, "since": cursor}))
        .await;
    assert_eq!(next_json(&mut browser).await["type"], "ready");
    let replayed: Vec<String> = texts(&mut browser, 5)
        .await
        .into_iter()
        .map(|(_, text)| text)
        .collect();
    assert_eq!(replayed, ["m3", "m4", "m5", "m6", "m7"]);
}

#[tokio::test]
async fn replay_and_live_interleave_without_gaps_under_load() {
    let server = std::sync::Arc::new(TestServer::start().await);
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let id = server.direct(&ana, &bob).await;
    let mut ws = server.ws(&bob, None).await;
    let start = next_json(&mut ws).await["cursor"]
        .as_str()
        .expect("cursor")
        .to_owned();
    drop(ws);
    // Messages keep arriving while the client reconnects and replays.
    let sender = {
        let (server, ana, id) = (server.clone(), ana.clone(), id.clone());
        tokio::spawn(async move {
            for n in 1..=150 {
                server
                    .send(&ana, &id, &format!("t{n}"), &format!("{n}"))
                    .await;
            }
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    let mut ws = server.ws(&bob, Some(&start)).await;
    next_json(&mut ws).await;
    let got: Vec<String> = texts(&mut ws, 150)
        .await
        .into_iter()
        .map(|(_, text)| text)
        .collect();
    sender.await.expect("sender");
    let expected: Vec<String> = (1..=150).map(|n| n.to_string()).collect();
    assert_eq!(got, expected);
}

#[tokio::test]
async fn unknown_cursors_get_resync_required() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    for cursor in ["999999", "not-a-cursor"] {
        let mut ws = server.ws(&ana, Some(cursor)).await;
        let ready = next_json(&mut ws).await;
        assert_eq!(ready["type"], "ready");
        assert_eq!(
            next_json(&mut ws).await,
            json!({"type": "resync_required"}),
            "{cursor}"
        );
    }
    let (status, body) = server
        .get("/api/v1/events?since=999999&timeout=0", &ana)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["events"], json!([{"type": "resync_required"}]));
}

#[tokio::test]
async fn long_polling_returns_the_same_stream() {
    let server = std::sync::Arc::new(TestServer::start().await);
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let (status, empty) = server.get("/api/v1/events?timeout=0", &bob).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(empty["events"], json!([]));
    let cursor = empty["cursor"].as_str().expect("cursor").to_owned();
    // A poll that waits is woken by the event.
    let poll = {
        let (server, bob, cursor) = (server.clone(), bob.clone(), cursor.clone());
        tokio::spawn(async move {
            server
                .get(&format!("/api/v1/events?since={cursor}&timeout=20"), &bob)
                .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let id = server.direct(&ana, &bob).await;
    let (status, body) = poll.await.expect("poll");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["events"][0]["type"], "conversation.created");
    server.send(&ana, &id, "t1", "one").await;
    server.send(&ana, &id, "t2", "two").await;
    let (_, body) = server
        .get(&format!("/api/v1/events?since={cursor}&timeout=5"), &bob)
        .await;
    let kinds: Vec<&Value> = body["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| &e["type"])
        .collect();
    assert_eq!(
        kinds,
        [
            &json!("conversation.created"),
            &json!("message.created"),
            &json!("message.created")
        ]
    );
    let last = body["cursor"].as_str().expect("cursor");
    let (_, body) = server
        .get(&format!("/api/v1/events?since={last}&timeout=0"), &bob)
        .await;
    assert_eq!(body["events"], json!([]), "nothing twice");
    for bad in [
        "timeout=-1",
        "timeout=121",
        "timeout=abc",
        "since=abc&timeout=0",
    ] {
        let (status, _) = server.get(&format!("/api/v1/events?{bad}"), &bob).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
}

/// Sends `total` messages of ~10 kB (texts `"<n> xxx…"`) from four concurrent senders.
fn send_big_messages(
    server: &std::sync::Arc<TestServer>,
    from: &super::support::User,
    conversation: &str,
    total: usize,
) -> Vec<tokio::task::JoinHandle<()>> {
    let big = "x".repeat(9_990);
    (0..4)
        .map(|sender| {
            let (server, from, id, big) = (
                server.clone(),
                from.clone(),
                conversation.to_owned(),
                big.clone(),
            );
            tokio::spawn(async move {
                for n in (sender..total).step_by(4) {
                    server
                        .send(&from, &id, &format!("t{n}"), &format!("{n} {big}"))
                        .await;
                }
            })
        })
        .collect()
}

/// A client that stops reading is cut off (it cannot hold the server's memory or slow
/// anyone down), a fast client on the same account gets everything, and the slow one
/// resumes from its last cursor without loss or duplicates (T5, scaled down).
#[tokio::test]
async fn a_slow_reader_is_cut_off_and_resumes_from_its_cursor() {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message as WsMessage;

    let server = std::sync::Arc::new(TestServer::start().await);
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let id = server.direct(&ana, &bob).await;
    let mut slow = small_buffer_ws(&server.base, &bob.token).await;
    next_json(&mut slow).await;
    let mut fast = server.ws(&bob, None).await;
    next_json(&mut fast).await;

    let total = 600;
    let senders = send_big_messages(&server, &ana, &id, total);
    let mut fast_seqs = Vec::new();
    while fast_seqs.len() < total {
        let event = next_json(&mut fast).await;
        if event["type"] == "message.created" {
            fast_seqs.push(event["message"]["seq"].as_i64().unwrap_or(-1));
        }
    }
    for sender in senders {
        sender.await.expect("sender");
    }
    assert_eq!(
        fast_seqs,
        (1..=total as i64).collect::<Vec<_>>(),
        "the fast reader is unaffected"
    );

    // The server gives up on the stalled socket: its stream count drops to the fast one.
    server
        .wait_for_streams(
            1,
            std::time::Duration::from_secs(60),
            "the stalled stream was never closed",
        )
        .await;
    // Drain what reached the slow socket before it was closed, then resume.
    let mut seqs = Vec::new();
    let mut cursor = None;
    while let Ok(Some(Ok(frame))) =
        tokio::time::timeout(std::time::Duration::from_secs(10), slow.next()).await
    {
        match frame {
            WsMessage::Text(text) => {
                let event: Value = serde_json::from_str(&text).expect("json");
                if event["type"] == "message.created" {
                    seqs.push(event["message"]["seq"].as_i64().unwrap_or(-1));
                    cursor = event["cursor"].as_str().map(str::to_owned);
                }
            }
            WsMessage::Close(frame) => {
                assert_eq!(
                    frame.map(|f| u16::from(f.code)),
                    Some(4008),
                    "a slow consumer gets the slow-consumer close code"
                );
                break;
            }
            _ => {}
        }
    }
    assert!(
        seqs.len() < total,
        "the stalled socket did not get everything ({})",
        seqs.len()
    );
    let mut resumed = server.ws(&bob, cursor.as_deref()).await;
    next_json(&mut resumed).await;
    while seqs.len() < total {
        let event = next_json(&mut resumed).await;
        if event["type"] == "message.created" {
            seqs.push(event["message"]["seq"].as_i64().unwrap_or(-1));
        }
    }
    assert_eq!(
        seqs,
        (1..=total as i64).collect::<Vec<_>>(),
        "nothing lost, nothing twice"
    );
}

/// A long poll whose backlog is larger than one answer hands out a cursor that points at
/// the last event it returned, never past events it read ahead (found in review).
#[tokio::test]
async fn long_polls_over_a_large_backlog_lose_nothing() {
    let server = std::sync::Arc::new(TestServer::start().await);
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let id = server.direct(&ana, &bob).await;
    let (_, start) = server.get("/api/v1/events?timeout=0", &bob).await;
    let total = 1100;
    let senders: Vec<_> = (0..4)
        .map(|sender| {
            let (server, ana, id) = (server.clone(), ana.clone(), id.clone());
            tokio::spawn(async move {
                for n in (sender..total).step_by(4) {
                    server.send(&ana, &id, &format!("t{n}"), "x").await;
                }
            })
        })
        .collect();
    for sender in senders {
        sender.await.expect("sender");
    }
    let mut cursor = start["cursor"].as_str().expect("cursor").to_owned();
    let mut seqs = Vec::new();
    let mut polls = 0;
    loop {
        let (status, body) = server
            .get(&format!("/api/v1/events?since={cursor}&timeout=0"), &bob)
            .await;
        assert_eq!(status, StatusCode::OK);
        let events = body["events"].as_array().expect("events");
        if events.is_empty() {
            break;
        }
        polls += 1;
        assert_eq!(
            events.last().and_then(|e| e["cursor"].as_str()),
            body["cursor"].as_str(),
            "the answer's cursor is its last event's"
        );
        seqs.extend(
            events
                .iter()
                .map(|e| e["message"]["seq"].as_i64().unwrap_or(-1)),
        );
        cursor = body["cursor"].as_str().expect("cursor").to_owned();
    }
    assert!(polls >= 3, "the backlog took several answers ({polls})");
    assert_eq!(seqs, (1..=total as i64).collect::<Vec<_>>());
}

/// A reader slower than a burst (it reads, just not as fast as the messages come) falls
/// more than the bus's queue behind; it keeps its connection and gets every event once, in
/// order, the missed ones read from the store. Cutting it off instead would make every
/// burst disconnect every slow phone.
#[tokio::test]
async fn a_reader_slower_than_a_burst_keeps_its_connection_and_gets_everything() {
    let server = std::sync::Arc::new(TestServer::start().await);
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let id = server.direct(&ana, &bob).await;
    let mut slow = small_buffer_ws(&server.base, &bob.token).await;
    next_json(&mut slow).await;

    // Far more than the bus queue (256 envelopes), and too big to sit in socket buffers.
    let total = 1_200;
    let senders = send_big_messages(&server, &ana, &id, total);
    let mut seqs = Vec::new();
    while seqs.len() < total {
        let event = next_json(&mut slow).await;
        assert_ne!(event["type"], "resync_required", "{event}");
        if event["type"] == "message.created" {
            seqs.push(event["message"]["seq"].as_i64().unwrap_or(-1));
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
    for sender in senders {
        sender.await.expect("sender");
    }
    assert_eq!(seqs, (1..=total as i64).collect::<Vec<_>>());
    // Still the same connection: it answers, and it is the one open stream.
    server
        .wait_for_streams(
            1,
            std::time::Duration::from_secs(5),
            "the slow reader's stream is gone",
        )
        .await;
    futures::SinkExt::send(
        &mut slow,
        tokio_tungstenite::tungstenite::Message::Text(r#"{"type":"ping"}"#.into()),
    )
    .await
    .expect("ping");
    assert_eq!(next_json(&mut slow).await["type"], "pong");
}
