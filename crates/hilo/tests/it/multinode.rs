//! Several nodes behind one API: one database, fan-out between nodes over NATS.
//!
//! In the PostgreSQL run the nodes share one PostgreSQL database, as in production. In the
//! SQLite run they share one SQLite file (each with its own writer; SQLite's lock
//! serialises them), which checks the same fan-out properties: events committed through
//! one node reach streams held by another, in order, once. Each test uses its own NATS
//! subject prefix, so parallel tests never see each other's traffic.

use serde_json::json;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::support::{ProcessServer, StatusCode, TestDb, TestServer, User, close_code, next_json};

/// The NATS URL for tests: `HILO_TEST_NATS_URL`. Outside CI an unset variable skips the
/// test with a notice; under `CI=true` it fails, so a missing service is never a silent pass.
pub fn nats_url() -> Option<String> {
    match std::env::var("HILO_TEST_NATS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("HILO_TEST_NATS_URL must be set under CI=true (.ci/run sets it)")
        }
        _ => {
            eprintln!("NOTICE: HILO_TEST_NATS_URL is unset; skipping a multi-node test");
            None
        }
    }
}

/// A NATS subject prefix of the test's own.
fn unique_prefix() -> String {
    format!("test_{}_{}", std::process::id(), rand_suffix())
}

/// Two nodes on one database, linked by NATS under a prefix of their own.
async fn two_nodes(db: &Arc<TestDb>, url: &str) -> (TestServer, TestServer) {
    let prefix = unique_prefix();
    let configure = |args: &mut hilo::config::ServeArgs| {
        args.nats = Some(url.to_owned());
        args.nats_prefix = Some(prefix.clone());
    };
    let a = TestServer::start_on(db, configure).await;
    let b = TestServer::start_on(db, configure).await;
    (a, b)
}

fn rand_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{nanos:x}")
}

async fn message_texts(ws: &mut super::support::Ws, n: usize) -> Vec<String> {
    let mut texts = Vec::new();
    while texts.len() < n {
        let event = next_json(ws).await;
        if event["type"] == "message.created" {
            texts.push(event["message"]["text"].as_str().unwrap_or("").to_owned());
        }
    }
    texts
}

#[tokio::test]
async fn messages_sent_through_one_node_reach_streams_on_the_other() {
    let Some(url) = nats_url() else { return };
    let db = TestDb::new().await;
    let (node_a, node_b) = two_nodes(&db, &url).await;
    let ana = node_a.register("ana").await;
    let bob = node_b.register("bob").await;
    let mut bob_ws = node_b.ws(&bob, None).await;
    next_json(&mut bob_ws).await;
    let id = node_a.direct(&ana, &bob).await;
    let created = next_json(&mut bob_ws).await;
    assert_eq!(created["type"], "conversation.created");
    for n in 1..=30 {
        node_a
            .send(&ana, &id, &format!("t{n}"), &format!("{n}"))
            .await;
    }
    let expected: Vec<String> = (1..=30).map(|n| n.to_string()).collect();
    assert_eq!(
        message_texts(&mut bob_ws, 30).await,
        expected,
        "in order, once, across nodes"
    );
    super::support::assert_quiet_but(&mut bob_ws, 300, &["delivered", "presence"]).await;
}

#[tokio::test]
async fn a_group_spread_over_both_nodes_gets_every_message_once_in_order() {
    let Some(url) = nats_url() else { return };
    let db = TestDb::new().await;
    let (node_a, node_b) = two_nodes(&db, &url).await;
    let nodes = [&node_a, &node_b];
    let mut members: Vec<User> = Vec::new();
    for n in 0..6 {
        members.push(nodes[n % 2].register(&format!("member{n}")).await);
    }
    let others: Vec<&User> = members[1..].iter().collect();
    let group = node_a.group(&members[0], "spread", &others).await;
    let mut sockets = Vec::new();
    for (n, member) in members.iter().enumerate() {
        let mut ws = nodes[n % 2].ws(member, None).await;
        next_json(&mut ws).await;
        sockets.push(ws);
    }
    // Senders on both nodes, one after another so the order is known.
    let mut expected = Vec::new();
    for n in 0..24 {
        let sender = &members[n % members.len()];
        nodes[(n / 3) % 2]
            .send(sender, &group, &format!("t{n}"), &format!("m{n}"))
            .await;
        expected.push(format!("m{n}"));
    }
    for ws in &mut sockets {
        assert_eq!(message_texts(ws, expected.len()).await, expected);
        super::support::assert_quiet_but(ws, 200, &["delivered", "presence"]).await;
    }
}

#[tokio::test]
async fn a_client_resumes_on_the_other_node_and_revocation_closes_streams_everywhere() {
    let Some(url) = nats_url() else { return };
    let db = TestDb::new().await;
    let (node_a, node_b) = two_nodes(&db, &url).await;
    let ana = node_a.register("ana").await;
    let bob = node_a.register("bob").await;
    let id = node_a.direct(&ana, &bob).await;
    let mut on_a = node_a.ws(&bob, None).await;
    next_json(&mut on_a).await;
    node_a.send(&ana, &id, "t1", "one").await;
    let first = next_json(&mut on_a).await;
    let cursor = first["cursor"].as_str().expect("cursor").to_owned();
    drop(on_a);
    node_a.send(&ana, &id, "t2", "two").await;
    // Reconnect to the other node with the cursor: the missed message first, then live ones.
    let mut on_b = node_b.ws(&bob, Some(&cursor)).await;
    next_json(&mut on_b).await;
    node_a.send(&ana, &id, "t3", "three").await;
    assert_eq!(message_texts(&mut on_b, 2).await, ["two", "three"]);

    // Revoking through node A closes bob's stream on node B.
    let (status, _) = node_a
        .call(
            "DELETE",
            "/api/v1/sessions/current",
            Some(&bob.token),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(next_json(&mut on_b).await["type"], "session.revoked");
    assert_eq!(close_code(&mut on_b).await, 4001);
}

#[tokio::test]
async fn the_foundation_guarantees_hold_when_two_nodes_race() {
    let Some(url) = nats_url() else { return };
    let db = TestDb::new().await;
    let (node_a, node_b) = two_nodes(&db, &url).await;
    let ana = node_a.register("ana").await;
    let mut friends = Vec::new();
    for n in 0..6 {
        friends.push(node_b.register(&format!("friend{n}")).await);
    }

    // Both nodes open the same pair's direct conversation at the same moment: one
    // conversation, the same id for both.
    for friend in &friends {
        let (from_a, from_b) =
            tokio::join!(node_a.direct(&ana, friend), node_b.direct(friend, &ana));
        assert_eq!(from_a, from_b, "one direct conversation per pair");
    }
    assert_eq!(db.count("conversations").await, friends.len() as i64);

    // The same client_txn_id through both nodes at once: one message, the second answer
    // being the first's repeat.
    let id = node_a.direct(&ana, &friends[0]).await;
    for n in 0..8 {
        let body = json!({"client_txn_id": format!("both-{n}"), "text": format!("once {n}")});
        let path = format!("/api/v1/conversations/{id}/messages");
        let (a, b) = tokio::join!(
            node_a.post(&path, &ana, body.clone()),
            node_b.post(&path, &ana, body.clone())
        );
        let mut statuses = [a.0, b.0];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::CREATED],
            "{} {}",
            a.1,
            b.1
        );
        assert_eq!(a.1["id"], b.1["id"], "the repeat returns the original");
    }
    assert_eq!(db.count("messages").await, 8);

    // Concurrent senders on both nodes: every message gets a seq, and the seqs are 1..=N
    // with no gap and no duplicate.
    let mut senders = Vec::new();
    for worker in 0..6 {
        let node = if worker % 2 == 0 { &node_a } else { &node_b };
        let user = if worker < 3 { &ana } else { &friends[0] };
        let (base, token, id) = (node.base.clone(), user.token.clone(), id.clone());
        senders.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut seqs = Vec::new();
            for n in 0..10 {
                let response = client
                    .post(format!("{base}/api/v1/conversations/{id}/messages"))
                    .bearer_auth(&token)
                    .json(&json!({"client_txn_id": format!("w{worker}-{n}"), "text": "race"}))
                    .send()
                    .await
                    .expect("the node answers");
                assert_eq!(response.status(), reqwest::StatusCode::CREATED);
                let body: serde_json::Value = response.json().await.expect("json");
                seqs.push(body["seq"].as_i64().expect("seq"));
            }
            seqs
        }));
    }
    let mut seqs = Vec::new();
    for sender in senders {
        seqs.extend(sender.await.expect("sender"));
    }
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (9..=68).collect::<Vec<i64>>(),
        "gap-free seq across nodes"
    );
}

#[tokio::test]
async fn a_node_killed_mid_sends_loses_nothing_acknowledged() {
    let Some(url) = nats_url() else { return };
    let db = TestDb::new().await;
    let prefix = unique_prefix();
    let flags = ["--nats", url.as_str(), "--nats-prefix", prefix.as_str()];
    let mut doomed = ProcessServer::start_with(&db, &flags, &[]);
    let survivor = ProcessServer::start_with(&db, &flags, &[]);
    let (a, b) = (Arc::new(doomed.client()), Arc::new(survivor.client()));
    let ana = a.register("ana").await;
    let bob = b.register("bob").await;
    let id = a.direct(&ana, &bob).await;
    let mut watcher = b.ws(&bob, None).await;
    assert_eq!(next_json(&mut watcher).await["type"], "ready");

    // Senders on both nodes; those on the doomed node retry a failed send once on the
    // survivor with the same client_txn_id, as a client behind a load balancer would.
    let acked: Arc<Mutex<BTreeMap<String, i64>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for worker in 0..6 {
        let (node, user) = if worker < 4 {
            (a.clone(), ana.clone())
        } else {
            (b.clone(), bob.clone())
        };
        let (fallback, acked, stop, id) = (b.clone(), acked.clone(), stop.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            let path = format!("/api/v1/conversations/{id}/messages");
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let txn = format!("w{worker}-{n}");
                let body = json!({"client_txn_id": txn, "text": txn});
                let request = reqwest::Client::new()
                    .post(node.url(&path))
                    .bearer_auth(&user.token)
                    .json(&body)
                    .send()
                    .await;
                let answer = match request {
                    Ok(response) if response.status() == reqwest::StatusCode::CREATED => {
                        response.json::<serde_json::Value>().await.ok()
                    }
                    _ => None,
                };
                let answer = match answer {
                    Some(answer) => answer,
                    None => {
                        // The node died under this request: retry on the survivor.
                        let (status, answer) = fallback.post(&path, &user, body).await;
                        assert!(
                            status == StatusCode::CREATED || status == StatusCode::OK,
                            "{status} {answer}"
                        );
                        acked
                            .lock()
                            .expect("lock")
                            .insert(txn, answer["seq"].as_i64().unwrap_or(-1));
                        break;
                    }
                };
                acked
                    .lock()
                    .expect("lock")
                    .insert(txn, answer["seq"].as_i64().unwrap_or(-1));
                n += 1;
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.lock().expect("lock").len() < 80 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    doomed.kill9();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("sender task");
    }
    let last = b.send(&bob, &id, "last", "after the kill").await;
    let last_seq = last["seq"].as_i64().expect("seq");

    // Everything acknowledged is stored under the seq it was acknowledged with, and the
    // conversation's seqs are gap-free (sends the dead node committed but never answered
    // are there too).
    let acked = acked.lock().expect("lock").clone();
    assert!(acked.len() >= 80, "the load ran: {} acked", acked.len());
    let mut stored: BTreeMap<String, i64> = BTreeMap::new();
    for m in b.all_messages(&bob, &id).await {
        let txn = m["client_txn_id"].as_str().unwrap_or("").to_owned();
        assert!(
            stored
                .insert(txn, m["seq"].as_i64().unwrap_or(-1))
                .is_none(),
            "one message per client_txn_id"
        );
    }
    for (txn, seq) in &acked {
        assert_eq!(
            stored.get(txn),
            Some(seq),
            "acknowledged {txn} is stored as seq {seq}"
        );
    }
    let seqs: Vec<i64> = stored
        .values()
        .copied()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(
        seqs,
        (1..=last_seq).collect::<Vec<i64>>(),
        "gap-free, no duplicates"
    );

    // The stream held on the surviving node saw every message once, in order, including
    // those whose live copy died with the other node (it reads them from the database).
    let mut seen = Vec::new();
    while seen.last() != Some(&last_seq) {
        let event = next_json(&mut watcher).await;
        if event["type"] == "message.created" {
            seen.push(event["message"]["seq"].as_i64().expect("seq"));
        }
    }
    assert_eq!(seen, (1..=last_seq).collect::<Vec<i64>>());
}

#[test]
fn a_wrong_or_unreachable_database_is_one_clear_error_and_a_failed_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cases = vec!["postgres://hilo:s3cret@127.0.0.1:1/hilo".to_owned()];
    if let Ok(server) = std::env::var("HILO_TEST_DATABASE_URL") {
        // A reachable server without that database.
        if let Some((base, _)) = server.split('?').next().and_then(|b| b.rsplit_once('/')) {
            cases.push(format!("{base}/hilo_no_such_database"));
        }
    }
    for url in cases {
        let (ok, stderr) = super::support::serve_until_exit(
            dir.path(),
            &["--listen", "127.0.0.1:0", "--database", &url],
        );
        assert!(!ok, "{url}");
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{stderr}");
        assert!(errors[0].contains("PostgreSQL"), "{stderr}");
        assert!(
            !stderr.contains("s3cret"),
            "the password is never printed: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn an_unreachable_nats_is_one_clear_error_and_a_failed_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ok, stderr) = super::support::serve_until_exit(
        dir.path(),
        &["--listen", "127.0.0.1:0", "--nats", "nats://127.0.0.1:1"],
    );
    assert!(!ok);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains("NATS") && errors[0].contains("127.0.0.1:1"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A private NATS server for a test that needs to kill it.
struct PrivateNats {
    child: std::process::Child,
    url: String,
}

impl PrivateNats {
    fn start() -> Option<PrivateNats> {
        let binary = [
            "/usr/sbin/nats-server",
            "/usr/bin/nats-server",
            "/usr/local/bin/nats-server",
        ]
        .into_iter()
        .find(|path| std::path::Path::new(path).exists());
        let Some(binary) = binary else {
            assert!(
                std::env::var("CI").map_or(true, |v| v != "true"),
                "nats-server must be installed under CI=true"
            );
            eprintln!("NOTICE: nats-server is not installed; skipping the NATS outage test");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let child = std::process::Command::new(binary)
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nats-server starts");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "nats-server did not come up"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Some(PrivateNats {
            child,
            url: format!("nats://127.0.0.1:{port}"),
        })
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn losing_nats_closes_streams_and_clients_replay_from_the_database() {
    if nats_url().is_none() {
        return;
    }
    // The database first: on a skipped PostgreSQL run it ends the process before a
    // private nats-server is started (and left behind).
    let db = TestDb::new().await;
    let Some(mut nats) = PrivateNats::start() else {
        return;
    };
    let (node_a, node_b) = two_nodes(&db, &nats.url).await;
    let ana = node_a.register("ana").await;
    let bob = node_b.register("bob").await;
    let id = node_a.direct(&ana, &bob).await;
    let mut ws = node_b.ws(&bob, None).await;
    next_json(&mut ws).await;
    node_a.send(&ana, &id, "t1", "before the outage").await;
    let event = next_json(&mut ws).await;
    assert_eq!(event["message"]["text"], "before the outage");
    let cursor = event["cursor"].as_str().expect("cursor").to_owned();

    nats.child.kill().expect("kill nats-server");
    let _ = nats.child.wait();
    assert_eq!(
        close_code(&mut ws).await,
        1012,
        "streams close so clients replay"
    );
    node_a.send(&ana, &id, "t2", "during the outage").await;
    let mut again = node_b.ws(&bob, Some(&cursor)).await;
    next_json(&mut again).await;
    assert_eq!(
        message_texts(&mut again, 1).await,
        ["during the outage"],
        "nothing lost"
    );
}

/// The next `presence` event on a socket, skipping others.
async fn next_presence(ws: &mut super::support::Ws) -> serde_json::Value {
    loop {
        let event = next_json(ws).await;
        if event["type"] == "presence" {
            return event;
        }
    }
}

#[tokio::test]
async fn presence_is_the_same_on_every_node() {
    let Some(url) = nats_url() else { return };
    let db = TestDb::new().await;
    let (node_a, node_b) = two_nodes(&db, &url).await;
    let ana = node_a.register("ana").await;
    let bob = node_b.register("bob").await;
    node_a.direct(&ana, &bob).await;
    let mut bobs = node_b.ws(&bob, None).await;
    next_json(&mut bobs).await;
    // Ana's stream on node A: online as seen from node B too.
    let mut on_a = node_a.ws(&ana, None).await;
    next_json(&mut on_a).await;
    assert_eq!(next_presence(&mut bobs).await["online"], true);
    assert_eq!(
        ana_online(&node_b, &bob).await,
        true,
        "node B knows of node A's stream"
    );
    // A second stream on node B, then the first one closes: still online, no event.
    let mut on_b = node_b.ws(&ana, None).await;
    next_json(&mut on_b).await;
    drop(on_a);
    super::support::assert_quiet_but(&mut bobs, 700, &["delivered"]).await;
    assert_eq!(
        ana_online(&node_a, &bob).await,
        true,
        "node A knows of node B's stream"
    );
    // The last stream anywhere closes: offline everywhere, one event.
    drop(on_b);
    let offline = next_presence(&mut bobs).await;
    assert_eq!(offline["online"], false);
    assert!(offline["last_seen_at"].is_string());
    assert_eq!(ana_online(&node_a, &bob).await, false);
    assert_eq!(ana_online(&node_b, &bob).await, false);
}

/// `online` in ana's profile as `viewer` reads it on `node`.
async fn ana_online(node: &TestServer, viewer: &User) -> serde_json::Value {
    let (status, profile) = node.get("/api/v1/users/ana", viewer).await;
    assert_eq!(status, StatusCode::OK, "{profile}");
    profile["online"].clone()
}
