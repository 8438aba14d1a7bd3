//! Property tests (TESTING.md T3, T4) with proptest, against the real server: random
//! interleavings of sends, retries, restarts and reconnects keep sends exactly-once;
//! history read backwards and then forwards equals the live order; applying the event
//! stream to a snapshot equals a fresh snapshot, whatever the mutations.
//!
//! Each property runs `HILO_PROPTEST_CASES` cases (defaults below, sized for CI's 2 cores);
//! a failure is shrunk and printed as the smallest sequence of operations that fails.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Debug;
use std::sync::atomic::{AtomicU32, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

use super::support::{StatusCode, TestDb, TestServer, User, Ws, next_json};

/// The runtime a property's server and cases run on: proptest drives the cases
/// synchronously, and each case blocks on its async body.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

/// Runs `property` over `strategy`, shrinking a failure to its smallest case.
fn check<S>(name: &str, default_cases: u32, strategy: S, property: impl Fn(S::Value))
where
    S: Strategy,
    S::Value: Debug,
{
    let cases = std::env::var("HILO_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    // While shrinking, every failing attempt panics; print only the final verdict.
    let _quiet = QuietPanics::on_this_thread();
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 200,
        ..Config::default()
    });
    let result = runner.run(&strategy, |value| {
        property(value);
        Ok(())
    });
    drop(_quiet);
    if let Err(failure) = result {
        panic!("{name}: {failure}");
    }
}

/// Silences the panic messages (and backtraces) of the current thread while it lives; other
/// threads' panics print as usual.
struct QuietPanics(std::thread::ThreadId);

fn quiet_threads() -> &'static std::sync::Mutex<HashSet<std::thread::ThreadId>> {
    static QUIET: std::sync::OnceLock<std::sync::Mutex<HashSet<std::thread::ThreadId>>> =
        std::sync::OnceLock::new();
    QUIET.get_or_init(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let quiet = quiet_threads()
                .lock()
                .map(|set| set.contains(&std::thread::current().id()))
                .unwrap_or(false);
            if !quiet {
                previous(info);
            }
        }));
        std::sync::Mutex::new(HashSet::new())
    })
}

impl QuietPanics {
    fn on_this_thread() -> QuietPanics {
        let id = std::thread::current().id();
        quiet_threads().lock().expect("lock").insert(id);
        QuietPanics(id)
    }
}

impl Drop for QuietPanics {
    fn drop(&mut self) {
        if let Ok(mut set) = quiet_threads().lock() {
            set.remove(&self.0);
        }
    }
}

/// Usernames unique within the test binary, so cases can share a server.
fn fresh(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// An event stream that remembers the last cursor it saw, to resume from it.
struct Stream {
    ws: Option<Ws>,
    cursor: Option<String>,
}

impl Stream {
    async fn open(server: &TestServer, user: &User) -> Stream {
        let mut stream = Stream {
            ws: None,
            cursor: None,
        };
        stream.reconnect(server, user).await;
        stream
    }

    /// Drops the socket and opens a new one after the last cursor seen.
    async fn reconnect(&mut self, server: &TestServer, user: &User) {
        self.ws = None;
        let mut ws = server.ws(user, self.cursor.as_deref()).await;
        let ready = next_json(&mut ws).await;
        assert_eq!(ready["type"], "ready", "{ready}");
        if self.cursor.is_none() {
            self.cursor = ready["cursor"].as_str().map(str::to_owned);
        }
        self.ws = Some(ws);
    }

    /// The next durable event (typing is ephemeral and skipped).
    async fn next(&mut self) -> Value {
        let ws = self.ws.as_mut().expect("connected");
        loop {
            let event = next_json(ws).await;
            assert_ne!(event["type"], "resync_required", "the cursor was lost");
            // Ephemeral indicators are not state a snapshot holds.
            if event["type"] == "typing" || event["type"] == "presence" {
                continue;
            }
            if let Some(cursor) = event["cursor"].as_str() {
                self.cursor = Some(cursor.to_owned());
            }
            return event;
        }
    }
}

// --- T4: backward then forward pagination equals the live order -----------------------

#[test]
fn history_read_backwards_then_forwards_is_the_live_order() {
    let runtime = runtime();
    let mut server = runtime.block_on(TestServer::start());
    // Batches of (who sends: a or b, how many at once), then the two page sizes.
    let strategy = (
        prop::collection::vec((any::<bool>(), 1..5usize), 1..16),
        1..12i64,
        1..12i64,
    );
    check("pagination", 32, strategy, |(batches, back, forward)| {
        runtime.block_on(pagination_case(&server, &batches, back, forward));
    });
    runtime.block_on(server.stop());
}

async fn pagination_case(server: &TestServer, batches: &[(bool, usize)], back: i64, forward: i64) {
    let a = server.register(&fresh("pa")).await;
    let b = server.register(&fresh("pb")).await;
    let conversation = server.direct(&a, &b).await;
    let mut live = Stream::open(server, &b).await;
    let mut sent = 0usize;
    for (batch, &(from_a, size)) in batches.iter().enumerate() {
        let sender = if from_a { &a } else { &b };
        let texts: Vec<(String, String)> = (0..size)
            .map(|i| (format!("t{batch}-{i}"), format!("message {batch}.{i}")))
            .collect();
        let sends = texts
            .iter()
            .map(|(txn, text)| server.send(sender, &conversation, txn, text));
        sent += futures::future::join_all(sends).await.len();
    }
    // The live order: message.created as the stream delivers them.
    let mut live_order: Vec<Value> = Vec::new();
    while live_order.len() < sent {
        let event = live.next().await;
        if event["type"] == "message.created" {
            live_order.push(event["message"].clone());
        }
    }
    let seqs: Vec<i64> = live_order
        .iter()
        .map(|m| m["seq"].as_i64().expect("a number"))
        .collect();
    let expected: Vec<i64> = (1..=sent as i64).collect();
    assert_eq!(seqs, expected, "the stream delivers seq 1..n in order");

    // Backwards from the newest, `back` at a time.
    let mut pages: Vec<Vec<Value>> = Vec::new();
    let mut before: Option<i64> = None;
    loop {
        let query = match before {
            None => format!("?limit={back}"),
            Some(seq) => format!("?before={seq}&limit={back}"),
        };
        let page = server.history(&b, &conversation, &query).await;
        let messages = page["messages"].as_array().expect("messages").clone();
        let more = page["has_more"] == true;
        before = messages.first().and_then(|m| m["seq"].as_i64());
        let remaining = before.unwrap_or(1) - 1;
        assert_eq!(more, remaining > 0, "has_more going back: {page}");
        pages.push(messages);
        if !more {
            break;
        }
    }
    let backwards: Vec<Value> = pages.into_iter().rev().flatten().collect();
    assert_eq!(backwards, live_order, "backward pages, reversed");

    // Then forwards from the start, `forward` at a time.
    let mut forwards: Vec<Value> = Vec::new();
    loop {
        let after = forwards.last().and_then(|m| m["seq"].as_i64()).unwrap_or(0);
        let page = server
            .history(
                &b,
                &conversation,
                &format!("?after={after}&limit={forward}"),
            )
            .await;
        let messages = page["messages"].as_array().expect("messages");
        forwards.extend(messages.iter().cloned());
        let more = page["has_more"] == true;
        assert_eq!(
            more,
            forwards.len() < sent,
            "has_more going forward: {page}"
        );
        if !more {
            break;
        }
    }
    assert_eq!(forwards, live_order, "forward pages");
}

// --- T3: idempotent sends under retries, restarts and reconnects -----------------------

#[derive(Debug, Clone)]
enum SendOp {
    /// Send with this client_txn_id (a retry if it was used before); `twice` sends two
    /// copies at the same time.
    Send { txn: u8, twice: bool },
    /// Stop the server and start it again on the same database.
    Restart,
    /// Drop the event stream and resume it from the last cursor.
    Reconnect,
}

fn send_op() -> impl Strategy<Value = SendOp> {
    prop_oneof![
        6 => (0..6u8, any::<bool>()).prop_map(|(txn, twice)| SendOp::Send { txn, twice }),
        1 => Just(SendOp::Restart),
        2 => Just(SendOp::Reconnect),
    ]
}

#[test]
fn sends_stay_exactly_once_under_retries_restarts_and_reconnects() {
    let runtime = runtime();
    check(
        "idempotent sends",
        24,
        prop::collection::vec(send_op(), 1..24),
        |ops| runtime.block_on(idempotence_case(&ops)),
    );
}

async fn idempotence_case(ops: &[SendOp]) {
    let db = TestDb::new().await;
    let mut server = TestServer::start_on(&db, |_| {}).await;
    let a = server.register("ana").await;
    let b = server.register("bob").await;
    let conversation = server.direct(&a, &b).await;
    let mut stream = Stream::open(&server, &b).await;
    // txn -> the message first answered for it; and the first answers in send order.
    let mut answers: HashMap<u8, Value> = HashMap::new();
    let mut order: Vec<Value> = Vec::new();
    let mut attempt = 0u32;
    let path = format!("/api/v1/conversations/{conversation}/messages");
    for op in ops {
        match op {
            SendOp::Send { txn, twice } => {
                let copies = if *twice { 2 } else { 1 };
                let sends = (0..copies).map(|_| {
                    attempt += 1;
                    let body = json!({
                        "client_txn_id": format!("txn-{txn}"),
                        // A retry may carry another text; the first one stands.
                        "text": format!("attempt {attempt}"),
                    });
                    server.post(&path, &a, body)
                });
                let results = futures::future::join_all(sends).await;
                let created = results
                    .iter()
                    .filter(|(status, _)| *status == StatusCode::CREATED)
                    .count();
                for (status, message) in &results {
                    assert!(
                        *status == StatusCode::CREATED || *status == StatusCode::OK,
                        "{status} {message}"
                    );
                }
                match answers.get(txn) {
                    Some(first) => {
                        assert_eq!(created, 0, "a retry created a second message");
                        for (_, message) in &results {
                            assert_eq!(message, first, "a retry answers the original");
                        }
                    }
                    None => {
                        assert_eq!(created, 1, "exactly one copy is created: {results:?}");
                        let first = results[0].1.clone();
                        for (_, message) in &results {
                            assert_eq!(message, &first, "simultaneous copies agree");
                        }
                        answers.insert(*txn, first.clone());
                        order.push(first);
                    }
                }
            }
            SendOp::Restart => {
                stream.ws = None;
                server.stop().await;
                server = TestServer::start_on(&db, |_| {}).await;
                stream.reconnect(&server, &b).await;
            }
            SendOp::Reconnect => stream.reconnect(&server, &b).await,
        }
    }
    // The stream, across every reconnect, delivered each message once and in order.
    let mut delivered: Vec<Value> = Vec::new();
    let mut seen = HashSet::new();
    while delivered.len() < order.len() {
        let event = stream.next().await;
        if event["type"] == "message.created" {
            let id = event["message"]["id"]
                .as_str()
                .expect("a string")
                .to_owned();
            assert!(seen.insert(id), "delivered twice: {event}");
            delivered.push(event["message"].clone());
        }
    }
    assert_eq!(
        delivered, order,
        "the stream has each first answer, in order"
    );
    let history = server.all_messages(&b, &conversation).await;
    assert_eq!(history, order, "history has each first answer, in order");
    let seqs: Vec<i64> = history
        .iter()
        .map(|m| m["seq"].as_i64().expect("a number"))
        .collect();
    assert_eq!(seqs, (1..=order.len() as i64).collect::<Vec<_>>());
    server.stop().await;
}

// --- events applied to a snapshot equal a fresh snapshot -------------------------------

/// One mutation, by one of four people: 0 is the observer whose view is checked.
#[derive(Debug, Clone)]
enum Mutation {
    /// A text, quoting one of the messages sent so far in that conversation when `reply`
    /// is set (refused when that one was deleted).
    Send {
        actor: u8,
        conversation: u8,
        reply: Option<u8>,
    },
    /// One of the messages sent so far: react (or take the reaction back).
    React {
        actor: u8,
        message: u8,
        emoji: u8,
        add: bool,
    },
    /// An edit, by the message's sender unless `actor` is set (then mostly refused).
    Edit {
        actor: Option<u8>,
        message: u8,
    },
    /// A delete, by the message's sender unless `actor` is set.
    Delete {
        actor: Option<u8>,
        message: u8,
        everyone: bool,
    },
    Read {
        conversation: u8,
        back: u8,
    },
    /// The observer's own settings: one of [`SETTINGS`].
    Settings {
        conversation: u8,
        change: u8,
    },
    Rename {
        actor: u8,
        conversation: u8,
    },
    Add {
        actor: u8,
        conversation: u8,
        target: u8,
    },
    Remove {
        actor: u8,
        conversation: u8,
        target: u8,
    },
    NewGroup {
        actor: u8,
        with_observer: bool,
    },
    NewDirect {
        actor: u8,
    },
    Typing {
        actor: u8,
        conversation: u8,
    },
    /// A new display name for someone (the observer included).
    Profile {
        actor: u8,
    },
    /// A friend request (or its acceptance) from `actor` to `target`.
    Befriend {
        actor: u8,
        target: u8,
    },
    /// Unfriend, cancel or decline.
    Unfriend {
        actor: u8,
        target: u8,
    },
    /// A block (or, with `on` false, its end).
    Block {
        actor: u8,
        target: u8,
        on: bool,
    },
    /// The observer accepts a conversation (mostly a message request).
    Accept {
        conversation: u8,
    },
    /// The observer deletes a conversation for themselves (or declines a request).
    Clear {
        conversation: u8,
        decline: bool,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let person = 0..4u8;
    let conversation = 0..8u8;
    prop_oneof![
        6 => (person.clone(), conversation.clone(), prop::option::weighted(0.3, any::<u8>()))
            .prop_map(|(actor, conversation, reply)| Mutation::Send { actor, conversation, reply }),
        2 => (person.clone(), any::<u8>(), 0..3u8, any::<bool>())
            .prop_map(|(actor, message, emoji, add)| Mutation::React { actor, message, emoji, add }),
        2 => (prop::option::weighted(0.2, person.clone()), any::<u8>())
            .prop_map(|(actor, message)| Mutation::Edit { actor, message }),
        1 => (prop::option::weighted(0.5, person.clone()), any::<u8>(), any::<bool>())
            .prop_map(|(actor, message, everyone)| Mutation::Delete { actor, message, everyone }),
        2 => (conversation.clone(), 0..4u8)
            .prop_map(|(conversation, back)| Mutation::Read { conversation, back }),
        3 => (conversation.clone(), 0..SETTINGS.len() as u8)
            .prop_map(|(conversation, change)| Mutation::Settings { conversation, change }),
        1 => (person.clone(), conversation.clone())
            .prop_map(|(actor, conversation)| Mutation::Rename { actor, conversation }),
        2 => (person.clone(), conversation.clone(), person.clone())
            .prop_map(|(actor, conversation, target)| Mutation::Add { actor, conversation, target }),
        2 => (person.clone(), conversation.clone(), person.clone())
            .prop_map(|(actor, conversation, target)| Mutation::Remove { actor, conversation, target }),
        // Leaving: removing oneself.
        1 => (person.clone(), conversation.clone())
            .prop_map(|(actor, conversation)| Mutation::Remove { actor, conversation, target: actor }),
        1 => (person.clone(), any::<bool>())
            .prop_map(|(actor, with_observer)| Mutation::NewGroup { actor, with_observer }),
        1 => person.clone().prop_map(|actor| Mutation::NewDirect { actor }),
        1 => (person.clone(), conversation)
            .prop_map(|(actor, conversation)| Mutation::Typing { actor, conversation }),
        1 => person.clone().prop_map(|actor| Mutation::Profile { actor }),
        2 => (person.clone(), person.clone())
            .prop_map(|(actor, target)| Mutation::Befriend { actor, target }),
        1 => (person.clone(), person.clone())
            .prop_map(|(actor, target)| Mutation::Unfriend { actor, target }),
        1 => (person.clone(), person, any::<bool>())
            .prop_map(|(actor, target, on)| Mutation::Block { actor, target, on }),
        1 => (0..8u8).prop_map(|conversation| Mutation::Accept { conversation }),
        1 => (0..8u8, any::<bool>())
            .prop_map(|(conversation, decline)| Mutation::Clear { conversation, decline }),
    ]
}

/// The changes a member makes to their own view of a conversation.
const SETTINGS: [&str; 9] = [
    r#"{"pinned":true}"#,
    r#"{"pinned":false}"#,
    r#"{"folder":"archived"}"#,
    r#"{"folder":"inbox"}"#,
    r#"{"notify":"all"}"#,
    r#"{"notify":"mentions"}"#,
    r#"{"notify":"none"}"#,
    r#"{"muted_until":"2099-01-01T00:00:00.000Z"}"#,
    r#"{"muted_until":null}"#,
];

/// What a client holds: its conversations (in every folder) with their messages, its
/// own account, and its friends, friend requests and blocks (usernames).
#[derive(Debug, Clone, PartialEq)]
struct Snapshot {
    conversations: BTreeMap<String, Value>,
    messages: BTreeMap<String, BTreeMap<i64, Value>>,
    me: Value,
    friends: BTreeSet<String>,
    incoming: BTreeSet<String>,
    outgoing: BTreeSet<String>,
    blocked: BTreeSet<String>,
}

/// The usernames of a list of people (`{user}` entries or users).
fn names(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|entry| {
            let user = if entry["user"].is_object() {
                &entry["user"]
            } else {
                entry
            };
            user["username"].as_str().expect("a username").to_owned()
        })
        .collect()
}

async fn snapshot(server: &TestServer, user: &User) -> Snapshot {
    let mut conversations = BTreeMap::new();
    for folder in ["inbox", "requests", "archived", "spam"] {
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/api/v1/conversations?folder={folder}&limit=200");
            if let Some(cursor) = &cursor {
                path.push_str(&format!("&cursor={cursor}"));
            }
            let (status, page) = server.get(&path, user).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            for conversation in page["conversations"].as_array().expect("list") {
                let id = conversation["id"].as_str().expect("a string").to_owned();
                conversations.insert(id, conversation.clone());
            }
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
    }
    let mut messages = BTreeMap::new();
    for id in conversations.keys() {
        messages.insert(id.clone(), history(server, user, id).await);
    }
    let (_, me) = server.get("/api/v1/me", user).await;
    let (_, friends) = server.get("/api/v1/friends", user).await;
    let (_, requests) = server.get("/api/v1/friends/requests", user).await;
    let (_, blocks) = server.get("/api/v1/blocks", user).await;
    Snapshot {
        conversations,
        messages,
        me,
        friends: names(&friends["friends"]),
        incoming: names(&requests["incoming"]),
        outgoing: names(&requests["outgoing"]),
        blocked: names(&blocks["blocked"]),
    }
}

async fn history(server: &TestServer, user: &User, id: &str) -> BTreeMap<i64, Value> {
    server
        .all_messages(user, id)
        .await
        .into_iter()
        .map(|m| (m["seq"].as_i64().expect("a number"), m))
        .collect()
}

/// A client's reducer: what it does with each event.
fn apply(model: &mut Snapshot, me: &str, event: &Value) {
    let id = event["conversation_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    match event["type"].as_str().unwrap_or_default() {
        "conversation.created" | "conversation.updated" => {
            if event["conversation"].is_null() {
                model.conversations.remove(&id);
                model.messages.remove(&id);
            } else {
                let mut conversation = event["conversation"].clone();
                if let Some(known) = model.conversations.get(&id) {
                    // The marker never moves back; a rendering may predate a read event.
                    let marker = known["last_read_seq"]
                        .as_i64()
                        .max(conversation["last_read_seq"].as_i64());
                    conversation["last_read_seq"] = json!(marker);
                }
                model.conversations.insert(id.clone(), conversation);
                model.messages.entry(id).or_default();
            }
        }
        "message.created" | "message.updated" => {
            let message = &event["message"];
            let seq = message["seq"].as_i64().expect("a number");
            let conversation = model
                .conversations
                .get_mut(&id)
                .unwrap_or_else(|| panic!("a message for an unknown conversation: {event}"));
            if message["sender"]["id"] == me {
                let marker = conversation["last_read_seq"]
                    .as_i64()
                    .expect("a number")
                    .max(seq);
                conversation["last_read_seq"] = json!(marker);
            }
            let last = conversation["last_seq"]
                .as_i64()
                .expect("a number")
                .max(seq);
            conversation["last_seq"] = json!(last);
            let at = message["created_at"].as_str().expect("a string");
            if conversation["updated_at"].as_str().expect("a string") < at {
                conversation["updated_at"] = json!(at);
            }
            let messages = model.messages.entry(id).or_default();
            // A quote shows the quoted message as it is now: the client updates the
            // replies it holds from the quoted message's own update.
            for reply in messages.values_mut() {
                if reply["reply_to"]["id"] == message["id"] {
                    reply["reply_to"]["deleted"] = message["deleted"].clone();
                    reply["reply_to"]["excerpt"] = match message["text"].as_str() {
                        Some(text) if message["deleted"] != true => json!(excerpt(text)),
                        _ => Value::Null,
                    };
                }
            }
            messages.insert(seq, message.clone());
        }
        "user.updated" => {
            // Names show in member lists and on messages; one's own account in full.
            let user = &event["user"];
            for conversation in model.conversations.values_mut() {
                if let Some(members) = conversation["members"].as_array_mut() {
                    for member in members.iter_mut().filter(|m| m["id"] == user["id"]) {
                        *member = user.clone();
                    }
                }
            }
            for messages in model.messages.values_mut() {
                for message in messages.values_mut() {
                    if message["sender"]["id"] == user["id"] {
                        message["sender"] = user.clone();
                    }
                }
            }
            if !event["me"].is_null() {
                model.me = event["me"].clone();
            }
        }
        "message.hidden" => {
            if let Some(messages) = model.messages.get_mut(&id) {
                messages.retain(|_, m| m["id"] != event["message_id"]);
            }
        }
        "read" => {
            if event["user_id"] == me
                && let Some(conversation) = model.conversations.get_mut(&id)
            {
                let marker = conversation["last_read_seq"]
                    .as_i64()
                    .expect("a number")
                    .max(event["seq"].as_i64().expect("a number"));
                conversation["last_read_seq"] = json!(marker);
            }
        }
        "friend.request" | "friend.accepted" | "friend.removed" | "block.updated" => {
            let name = event["user"]["username"]
                .as_str()
                .expect("a username")
                .to_owned();
            match event["type"].as_str() {
                Some("friend.request") if event["direction"] == "incoming" => {
                    model.incoming.insert(name);
                }
                Some("friend.request") => {
                    model.outgoing.insert(name);
                }
                Some("friend.accepted") => {
                    model.incoming.remove(&name);
                    model.outgoing.remove(&name);
                    model.friends.insert(name);
                }
                Some("friend.removed") => {
                    model.incoming.remove(&name);
                    model.outgoing.remove(&name);
                    model.friends.remove(&name);
                }
                _ => {
                    // A block folds the person's messages in shared groups; unblocking
                    // unfolds them.
                    let blocked = event["blocked"] == true;
                    for message in model.messages.values_mut().flat_map(|m| m.values_mut()) {
                        if message["sender"]["username"] == name.as_str() {
                            message["collapsed"] = json!(blocked);
                        }
                    }
                    if blocked {
                        model.blocked.insert(name);
                    } else {
                        model.blocked.remove(&name);
                    }
                }
            }
        }
        // Receipts are not part of a snapshot (they have an endpoint of their own).
        "session.revoked" | "delivered" | "report.resolved" => {}
        other => panic!("an event kind the reducer does not know: {other} ({event})"),
    }
}

/// What the client derives from its messages: the newest one and how many are unread.
fn derive(model: &mut Snapshot, me: &str) {
    for (id, conversation) in model.conversations.iter_mut() {
        let messages = model.messages.get(id).cloned().unwrap_or_default();
        let marker = conversation["last_read_seq"].as_i64().expect("a number");
        match messages.last_key_value() {
            Some((seq, newest)) => {
                let last = conversation["last_seq"].as_i64().unwrap_or(0).max(*seq);
                conversation["last_seq"] = json!(last);
                conversation["last_message"] = newest.clone();
            }
            // Every message hidden for me: no preview.
            None => conversation["last_message"] = Value::Null,
        }
        let unread = messages
            .iter()
            .filter(|(seq, m)| **seq > marker && m["sender"]["id"] != me && m["deleted"] != true)
            .count();
        conversation["unread_count"] = json!(unread);
    }
}

#[test]
fn events_applied_to_a_snapshot_equal_a_fresh_snapshot() {
    let runtime = runtime();
    let mut server = runtime.block_on(TestServer::start());
    check(
        "snapshot plus events",
        64,
        prop::collection::vec(mutation(), 1..20),
        |mutations| runtime.block_on(snapshot_case(&server, &mutations)),
    );
    runtime.block_on(server.stop());
}

async fn snapshot_case(server: &TestServer, mutations: &[Mutation]) {
    let mut people = Vec::new();
    for prefix in ["so", "sb", "sc", "sd"] {
        people.push(server.register(&fresh(prefix)).await);
    }
    let observer = people[0].clone();
    let me = observer.id.clone();
    let mut conversations = vec![
        server.direct(&people[0], &people[1]).await,
        server
            .group(&people[0], "group", &[&people[1], &people[2]])
            .await,
    ];
    // The observer's own group, where the last message goes whatever blocks and settings
    // the mutations left between people.
    let notes = server.group(&observer, "notes", &[]).await;
    // The stream is open at the snapshot's moment: events after it are what changed.
    let mut stream = Stream::open(server, &observer).await;
    let mut model = snapshot(server, &observer).await;
    let mut txn = 0u32;
    // Every message sent so far, for the mutations that act on one.
    let mut sent: Vec<Sent> = Vec::new();
    for mutation in mutations {
        let (status, body) = match mutation {
            Mutation::Send {
                actor,
                conversation,
                reply,
            } => {
                txn += 1;
                let mut body =
                    json!({"client_txn_id": format!("m{txn}"), "text": format!("text {txn}")});
                let conversation = pick(&conversations, *conversation);
                let here: Vec<String> = sent
                    .iter()
                    .filter(|s| s.conversation == conversation)
                    .map(|s| s.id.clone())
                    .collect();
                if let Some(reply) = reply
                    && !here.is_empty()
                {
                    body["reply_to"] = json!(pick(&here, *reply));
                }
                let answer = server
                    .post(
                        &format!("/api/v1/conversations/{conversation}/messages"),
                        &people[*actor as usize],
                        body,
                    )
                    .await;
                if let Some(id) = answer.1["id"].as_str() {
                    sent.push(Sent {
                        id: id.to_owned(),
                        conversation,
                        sender: *actor,
                    });
                }
                answer
            }
            Mutation::React {
                actor,
                message,
                emoji,
                add,
            } if !sent.is_empty() => {
                let emoji = ["%F0%9F%91%8D", "%E2%9D%A4%EF%B8%8F", "%F0%9F%98%82"][*emoji as usize];
                server
                    .call(
                        if *add { "PUT" } else { "DELETE" },
                        &format!(
                            "/api/v1/messages/{}/reactions/{emoji}",
                            pick_sent(&sent, *message).id
                        ),
                        Some(&people[*actor as usize].token),
                        None,
                    )
                    .await
            }
            Mutation::Edit { actor, message } if !sent.is_empty() => {
                txn += 1;
                let target = pick_sent(&sent, *message);
                let actor = actor.unwrap_or(target.sender);
                server
                    .call(
                        "PATCH",
                        &format!("/api/v1/messages/{}", target.id),
                        Some(&people[actor as usize].token),
                        Some(json!({ "text": format!("edit {txn}") })),
                    )
                    .await
            }
            Mutation::Delete {
                actor,
                message,
                everyone,
            } if !sent.is_empty() => {
                let scope = if *everyone { "everyone" } else { "me" };
                let target = pick_sent(&sent, *message);
                let actor = actor.unwrap_or(target.sender);
                server
                    .call(
                        "DELETE",
                        &format!("/api/v1/messages/{}?scope={scope}", target.id),
                        Some(&people[actor as usize].token),
                        None,
                    )
                    .await
            }
            Mutation::Profile { actor } => {
                txn += 1;
                server
                    .patch(
                        "/api/v1/me",
                        &people[*actor as usize],
                        json!({ "display_name": format!("person {txn}") }),
                    )
                    .await
            }
            Mutation::React { .. } | Mutation::Edit { .. } | Mutation::Delete { .. } => continue,
            Mutation::Read { conversation, back } => {
                let id = pick(&conversations, *conversation);
                let (_, view) = server
                    .get(&format!("/api/v1/conversations/{id}"), &observer)
                    .await;
                let seq = (view["last_seq"].as_i64().unwrap_or(0) - i64::from(*back)).max(0);
                server
                    .post(
                        &format!("/api/v1/conversations/{id}/read"),
                        &observer,
                        json!({ "seq": seq }),
                    )
                    .await
            }
            Mutation::Settings {
                conversation,
                change,
            } => {
                server
                    .call(
                        "PATCH",
                        &format!(
                            "/api/v1/conversations/{}/settings",
                            pick(&conversations, *conversation)
                        ),
                        Some(&observer.token),
                        Some(serde_json::from_str(SETTINGS[*change as usize]).expect("JSON")),
                    )
                    .await
            }
            Mutation::Rename {
                actor,
                conversation,
            } => {
                txn += 1;
                server
                    .call(
                        "PATCH",
                        &format!(
                            "/api/v1/conversations/{}",
                            pick(&conversations, *conversation)
                        ),
                        Some(&people[*actor as usize].token),
                        Some(json!({ "name": format!("name {txn}") })),
                    )
                    .await
            }
            Mutation::Add {
                actor,
                conversation,
                target,
            } => {
                server
                    .post(
                        &format!(
                            "/api/v1/conversations/{}/members",
                            pick(&conversations, *conversation)
                        ),
                        &people[*actor as usize],
                        json!({ "usernames": [people[*target as usize].username] }),
                    )
                    .await
            }
            Mutation::Remove {
                actor,
                conversation,
                target,
            } => {
                server
                    .call(
                        "DELETE",
                        &format!(
                            "/api/v1/conversations/{}/members/{}",
                            pick(&conversations, *conversation),
                            people[*target as usize].username
                        ),
                        Some(&people[*actor as usize].token),
                        None,
                    )
                    .await
            }
            Mutation::NewGroup {
                actor,
                with_observer,
            } => {
                let others: Vec<&str> = people
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| (*i != 0 || *with_observer) && *i != *actor as usize)
                    .map(|(_, p)| p.username.as_str())
                    .collect();
                let answer = server
                    .post(
                        "/api/v1/conversations",
                        &people[*actor as usize],
                        json!({"kind": "group", "name": "new group", "members": others}),
                    )
                    .await;
                if let Some(id) = answer.1["id"].as_str() {
                    conversations.push(id.to_owned());
                }
                answer
            }
            Mutation::NewDirect { actor } => {
                let answer = server
                    .post(
                        "/api/v1/conversations",
                        &people[*actor as usize],
                        json!({"kind": "direct", "with": people[0].username}),
                    )
                    .await;
                if let Some(id) = answer.1["id"].as_str()
                    && !conversations.iter().any(|c| c == id)
                {
                    conversations.push(id.to_owned());
                }
                answer
            }
            Mutation::Accept { conversation } => {
                server
                    .post(
                        &format!(
                            "/api/v1/conversations/{}/accept",
                            pick(&conversations, *conversation)
                        ),
                        &observer,
                        json!({}),
                    )
                    .await
            }
            Mutation::Clear {
                conversation,
                decline,
            } => {
                let id = pick(&conversations, *conversation);
                if *decline {
                    server
                        .post(
                            &format!("/api/v1/conversations/{id}/decline"),
                            &observer,
                            json!({}),
                        )
                        .await
                } else {
                    server
                        .delete(&format!("/api/v1/conversations/{id}"), &observer)
                        .await
                }
            }
            Mutation::Befriend { actor, target } => {
                server
                    .post(
                        "/api/v1/friends",
                        &people[*actor as usize],
                        json!({ "username": people[*target as usize].username }),
                    )
                    .await
            }
            Mutation::Unfriend { actor, target } => {
                server
                    .delete(
                        &format!("/api/v1/friends/{}", people[*target as usize].username),
                        &people[*actor as usize],
                    )
                    .await
            }
            Mutation::Block { actor, target, on } => {
                server
                    .call(
                        if *on { "PUT" } else { "DELETE" },
                        &format!("/api/v1/blocks/{}", people[*target as usize].username),
                        Some(&people[*actor as usize].token),
                        None,
                    )
                    .await
            }
            Mutation::Typing {
                actor,
                conversation,
            } => {
                server
                    .post(
                        &format!(
                            "/api/v1/conversations/{}/typing",
                            pick(&conversations, *conversation)
                        ),
                        &people[*actor as usize],
                        json!({ "typing": true }),
                    )
                    .await
            }
        };
        // Refusals (not a member, not an admin, a direct conversation) are fine; a server
        // error is not.
        assert!(
            status.is_success()
                || [
                    StatusCode::BAD_REQUEST,
                    StatusCode::FORBIDDEN,
                    StatusCode::NOT_FOUND,
                    StatusCode::CONFLICT
                ]
                .contains(&status),
            "{mutation:?}: {status} {body}"
        );
    }
    // A last message of the observer's own marks the end of the stream to read.
    let sentinel = server.send(&observer, &notes, "sentinel", "the end").await;
    loop {
        let event = stream.next().await;
        apply(&mut model, &me, &event);
        if event["type"] == "message.created" && event["message"]["id"] == sentinel["id"] {
            break;
        }
    }
    // A client fetches the history of a conversation it learned of from an event when it
    // opens it; do that for every such conversation, merging with what events brought.
    for id in model.conversations.keys().cloned().collect::<Vec<_>>() {
        let fetched = history(server, &observer, &id).await;
        let known = model.messages.entry(id).or_default();
        for (seq, message) in fetched {
            known.entry(seq).or_insert(message);
        }
    }
    derive(&mut model, &me);
    let fresh = snapshot(server, &observer).await;
    for id in fresh.conversations.keys().chain(model.conversations.keys()) {
        assert_eq!(
            model.conversations.get(id),
            fresh.conversations.get(id),
            "conversation {id} after {mutations:?}"
        );
        assert_eq!(
            model.messages.get(id),
            fresh.messages.get(id),
            "messages of {id} after {mutations:?}"
        );
    }
    assert_eq!(model.me, fresh.me);
    assert_eq!(
        (
            &model.friends,
            &model.incoming,
            &model.outgoing,
            &model.blocked
        ),
        (
            &fresh.friends,
            &fresh.incoming,
            &fresh.outgoing,
            &fresh.blocked
        ),
        "friends, requests and blocks after {mutations:?}"
    );
    // Search finds exactly the readable messages with the word: the index followed every
    // send, edit, delete, hide, clear and departure above.
    for word in ["text", "edit"] {
        let expected: BTreeSet<String> = fresh
            .messages
            .values()
            .flat_map(|messages| messages.values())
            .filter(|m| {
                m["text"]
                    .as_str()
                    .is_some_and(|t| t.split(' ').any(|w| w == word))
            })
            .map(|m| m["id"].as_str().expect("an id").to_owned())
            .collect();
        assert_eq!(
            search_ids(server, &observer, word).await,
            expected,
            "search for {word:?} after {mutations:?}"
        );
    }
}

/// The ids of every message search finds for `word`, through all pages.
async fn search_ids(server: &TestServer, user: &User, word: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/search/messages?q={word}&limit=50");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let (status, page) = server.get(&path, user).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for hit in page["results"].as_array().expect("results") {
            let id = hit["message"]["id"].as_str().expect("an id").to_owned();
            assert!(found.insert(id), "a hit repeated across pages: {page}");
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return found,
        }
    }
}

/// The conversation (or message) a mutation's index names, among those made so far.
fn pick(ids: &[String], index: u8) -> String {
    ids[index as usize % ids.len()].clone()
}

/// A message a mutation sent.
struct Sent {
    id: String,
    conversation: String,
    sender: u8,
}

fn pick_sent(sent: &[Sent], index: u8) -> &Sent {
    &sent[index as usize % sent.len()]
}

/// A reply's excerpt of the message it quotes, by the rule the API documents: the first
/// 100 characters of its trimmed text, line breaks as spaces, an ellipsis when cut.
fn excerpt(text: &str) -> String {
    let flat: String = text
        .trim()
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    if flat.chars().count() <= 100 {
        flat
    } else {
        flat.chars().take(99).chain(['…']).collect()
    }
}
