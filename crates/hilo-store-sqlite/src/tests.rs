//! Tests of the writer's group commit against a real SQLite file.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hilo_core::{ConversationId, Folder, MessageId, Timestamp, UserId};
use hilo_store::{
    AccountStore, AdminStore, AppendOutcome, CommitObserver, ConversationStore, CreateUserOutcome,
    MessageStore, NewGroup, NewMessage, NewUser,
};

use crate::{SqliteOptions, SqliteStore};

#[derive(Default)]
struct Batches {
    largest: AtomicUsize,
    commits: AtomicUsize,
}

impl CommitObserver for Batches {
    fn on_commit(&self, batch_size: usize, _queue_depth: usize, _elapsed: Duration) {
        self.largest.fetch_max(batch_size, Ordering::SeqCst);
        self.commits.fetch_add(1, Ordering::SeqCst);
    }
}

async fn open(dir: &tempfile::TempDir, batches: Arc<Batches>) -> SqliteStore {
    let path = dir.path().join("test.db");
    SqliteStore::open(&path, SqliteOptions::default(), Some(batches))
        .await
        .expect("opens")
}

async fn user(store: &SqliteStore, name: &str) -> UserId {
    match user_result(store, name).await.expect("stored") {
        CreateUserOutcome::Created(user) => user.id,
        other => panic!("unexpected {other:?}"),
    }
}

/// Users ana and bob and their direct conversation.
async fn ana_and_bob(store: &SqliteStore) -> (UserId, UserId, ConversationId) {
    let (ana, bob) = (user(store, "ana").await, user(store, "bob").await);
    let (conversation, _, _) = store
        .find_or_create_direct(ConversationId::new("c"), &ana, &bob, Timestamp(1))
        .await
        .expect("direct");
    (ana, bob, conversation)
}

fn message(conversation: &ConversationId, sender: &UserId, n: usize) -> NewMessage {
    NewMessage::text(
        MessageId::new(format!("m{n}")),
        conversation.clone(),
        sender.clone(),
        format!("message {n}"),
        format!("t{n}"),
        Timestamp(2),
    )
}

/// A group "g" whose insert succeeds and whose unknown member then violates a foreign key.
fn broken_group(creator: &UserId) -> NewGroup {
    NewGroup {
        id: ConversationId::new("g"),
        name: "broken".into(),
        creator: creator.clone(),
        members: vec![UserId::new("no-such-user")],
        contacts: Vec::new(),
        now: Timestamp(3),
    }
}

#[tokio::test]
async fn concurrent_writes_share_commits_and_keep_seq_gap_free() {
    let dir = tempfile::tempdir().expect("tempdir");
    let batches = Arc::new(Batches::default());
    let store = open(&dir, batches.clone()).await;
    let (ana, _, conversation) = ana_and_bob(&store).await;
    let commits_before = batches.commits.load(Ordering::SeqCst);
    let sends = (0..200).map(|n| store.append_message(message(&conversation, &ana, n)));
    let outcomes = futures::future::join_all(sends).await;
    let mut seqs: Vec<i64> = outcomes
        .into_iter()
        .map(|outcome| match outcome.expect("stored") {
            AppendOutcome::Created(message, deliveries, _) => {
                assert_eq!(deliveries.len(), 2, "one event per member");
                message.seq
            }
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=200).collect::<Vec<_>>());
    let commits = batches.commits.load(Ordering::SeqCst) - commits_before;
    assert!(
        batches.largest.load(Ordering::SeqCst) > 1 && commits < 200,
        "200 concurrent sends took {commits} commits (largest batch {})",
        batches.largest.load(Ordering::SeqCst)
    );
    store.close().await;
}

/// A failing write alone in its batch answers with its own error, leaves nothing behind
/// and leaves the writer ready for the next batch.
#[tokio::test]
async fn a_lone_failing_write_leaves_nothing_and_answers_its_own_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir, Arc::default()).await;
    let ana = user(&store, "ana").await;
    let broken = store.create_group(broken_group(&ana)).await;
    match broken {
        Err(hilo_store::StoreError::Unavailable(reason)) => {
            panic!("the job's own error was replaced: {reason}")
        }
        Err(_) => {}
        Ok(_) => panic!("a group with an unknown member was created"),
    }
    assert!(
        store
            .conversation(&ConversationId::new("g"))
            .await
            .expect("read")
            .is_none()
    );
    let bob = user(&store, "bob").await;
    assert!(store.user(&bob).await.expect("read").is_some());
    store.close().await;
}

/// A send's answer is built from what it wrote, not read back: it must be exactly what a
/// later read returns, and a repeat must return the same message.
#[tokio::test]
async fn the_answer_to_a_send_is_what_a_read_returns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir, Arc::default()).await;
    let (ana, _, conversation) = ana_and_bob(&store).await;
    let sent = match store
        .append_message(message(&conversation, &ana, 7))
        .await
        .expect("stored")
    {
        AppendOutcome::Created(message, ..) => message,
        other => panic!("unexpected {other:?}"),
    };
    let read = store
        .message(&sent.id, None)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(sent, read);
    assert!(
        matches!(&sent.sender, Some(hilo_core::Party::User { username, .. }) if username == "ana")
    );
    match store
        .append_message(message(&conversation, &ana, 7))
        .await
        .expect("repeat")
    {
        AppendOutcome::Repeated(original) => assert_eq!(original, read),
        other => panic!("unexpected {other:?}"),
    }
    store.close().await;
}

#[tokio::test]
async fn a_failing_write_rolls_back_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir, Arc::default()).await;
    let (ana, bob, conversation) = ana_and_bob(&store).await;
    // The group insert succeeds, then its unknown member violates a foreign key: that job
    // must leave no conversation behind, while the sends batched with it commit.
    let broken = store.create_group(broken_group(&ana));
    let sends = futures::future::join_all(
        (0..20).map(|n| store.append_message(message(&conversation, &bob, n))),
    );
    let (broken, sends) = tokio::join!(broken, sends);
    assert!(broken.is_err(), "the broken write fails");
    assert!(
        sends
            .iter()
            .all(|s| matches!(s, Ok(AppendOutcome::Created(..)))),
        "its neighbours commit"
    );
    assert_eq!(
        store
            .conversation(&ConversationId::new("g"))
            .await
            .expect("read"),
        None
    );
    assert_eq!(
        store
            .conversation(&conversation)
            .await
            .expect("read")
            .map(|c| c.last_seq),
        Some(20)
    );
    assert_eq!(
        crate::integrity_problems(&store).await.expect("checks"),
        Vec::<String>::new()
    );
    store.close().await;
}

/// Closing waits for the writer and every reader: once it returns, no connection is open,
/// so SQLite has checkpointed and removed the WAL, and later calls are refused.
#[tokio::test]
async fn close_leaves_no_connection_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir, Arc::new(Batches::default())).await;
    let ana = user(&store, "ana").await;
    assert!(store.user(&ana).await.expect("read").is_some());
    let wal = dir.path().join("test.db-wal");
    assert!(wal.exists(), "the WAL is in use while the store is open");
    store.close().await;
    assert!(!wal.exists(), "a connection was still open after close");
    assert!(matches!(
        store.user(&ana).await,
        Err(hilo_store::StoreError::Unavailable(_))
    ));
    assert!(matches!(
        user_result(&store, "bob").await,
        Err(hilo_store::StoreError::Unavailable(_))
    ));
}

async fn user_result(
    store: &SqliteStore,
    name: &str,
) -> hilo_store::StoreResult<CreateUserOutcome> {
    store
        .create_user(NewUser {
            id: UserId::new(format!("id-{name}")),
            username: name.into(),
            display_name: name.into(),
            password_hash: "x".into(),
            force_admin: false,
            invite_hash: None,
            invite_required: false,
            session: None,
            now: Timestamp(1),
        })
        .await
}

/// The bundled SQLite is compiled as `.cargo/config.toml` says: without global memory
/// statistics and without the page cache shared across connections, either of which makes
/// every allocation or page fetch on the writer thread take a process-wide mutex
/// (docs/benchmarks.md, fourth session). A build that lost the flags fails here.
#[test]
fn sqlite_is_built_without_process_wide_allocation_locks() {
    let conn = rusqlite::Connection::open_in_memory().expect("opens");
    let options: Vec<String> =
        crate::db::column(&conn, "PRAGMA compile_options", []).expect("reads");
    assert!(
        options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"),
        "{options:?}"
    );
    assert!(
        !options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"),
        "{options:?}"
    );
}

/// The query plans hilo-bench found wrong, checked without a clock: each of these ran a
/// full scan (or, for search, one index lookup per message the viewer can read) over a
/// big store. The plan of an empty store is the plan of a full one here: each choice
/// below is fixed by an index or by CROSS JOIN, not by table statistics.
#[tokio::test]
async fn hot_queries_use_their_indexes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir, Arc::default()).await;
    store.close().await;
    let conn = crate::db::open(&dir.path().join("test.db"), false).expect("opens");
    let plan = |sql: &str| -> Vec<String> {
        let mut statement = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect("prepares");
        statement
            .query_map([], |row| row.get::<_, String>("detail"))
            .expect("runs")
            .collect::<Result<_, _>>()
            .expect("rows")
    };
    // A conversation's members: by conversation, not every membership of the server.
    let members = plan(&crate::rows::MEMBER_QUERY.replace("$1", "'c'"));
    assert!(
        members[0].contains("INDEX members_of_conversation"),
        "{members:?}"
    );
    // Which conversations are on a page: a range of members_by_user, newest first,
    // without sorting the member's every conversation.
    for sql in [crate::rows::PAGE_FIRST, crate::rows::PAGE_AFTER] {
        let sql = sql
            .replace("$1", "'u'")
            .replace("$2", "'inbox'")
            .replace("$3", "0")
            .replace("$4", "5")
            .replace("$5", "'c'")
            .replace("$6", "51");
        let used = plan(&sql);
        assert_eq!(used.len(), 1, "{sql}: {used:?}");
        assert!(used[0].contains("INDEX members_by_user"), "{used:?}");
        if sql.contains("<") {
            assert!(
                used[0].contains("(activity_at,conversation_id)<"),
                "a range: {used:?}"
            );
        }
    }
    // A page of a conversation list: every conversation, member and message by its key.
    for (sql, viewer_and_list) in [
        (crate::reads::VIEWS, true),
        (crate::rows::MEMBERS_OF, false),
        (crate::rows::MESSAGES_BY_ID, false),
        (crate::rows::REACTIONS_OF_MESSAGES, false),
        (crate::rows::ATTACHMENTS_OF_MESSAGES, false),
    ] {
        let sql = if viewer_and_list {
            sql.replace("$1", "'u'").replace("$2", "'[\"c\"]'")
        } else {
            sql.replace("$1", "'[\"c\"]'")
        };
        let used = plan(&sql);
        assert!(
            !used
                .iter()
                .any(|step| step.starts_with("SCAN") && !step.contains("json_each")),
            "{sql}: {used:?}"
        );
    }
    // The spam filter's signals: first messages only.
    for sql in [crate::rows::OPENED_SINCE, crate::rows::SAME_TEXT_SINCE] {
        let sql = sql
            .replace("$1", "'u'")
            .replace("$2", "0")
            .replace("$3", "'t'");
        let used = plan(&sql);
        assert!(
            used[0].contains("INDEX messages_opened_by_sender"),
            "{used:?}"
        );
    }
    // Search: the full-text index drives, newest first, with no sort of all its matches.
    let search = plan(
        &["?3", "?4", "?5", "?6", "?7"]
            .iter()
            .fold(crate::search::SEARCH.replace("?10", "0"), |sql, p| {
                sql.replace(p, "NULL")
            })
            .replace("?1", "'hola'")
            .replace("?2", "'u'")
            .replace("?8", "1000")
            .replace("?9", "21"),
    );
    let first_table = search
        .iter()
        .find(|step| step.starts_with("SCAN") || step.starts_with("SEARCH"))
        .expect("a step");
    assert!(
        first_table.starts_with("SCAN s VIRTUAL TABLE"),
        "{search:?}"
    );
    assert!(
        !search
            .iter()
            .any(|step| step == "SCAN mb" || step == "SCAN e"),
        "{search:?}"
    );
    // The walk reads narrow entries, never the messages themselves.
    assert!(
        !search
            .iter()
            .any(|step| step.starts_with("SEARCH m ") || step.starts_with("SCAN m")),
        "{search:?}"
    );
}

/// A read job that panics inside its read transaction costs only its own answer: the
/// reader thread (here the only one) ends the transaction, so the next snapshot begins.
#[tokio::test]
async fn a_read_job_panicking_in_a_snapshot_leaves_the_reader_usable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = SqliteOptions {
        readers: 1,
        ..SqliteOptions::default()
    };
    let store = SqliteStore::open(&dir.path().join("test.db"), options, None)
        .await
        .expect("opens");
    let failed = store
        .readers
        .read(|conn| {
            crate::db::in_snapshot(conn, |_| -> hilo_store::StoreResult<()> {
                panic!("a bug in a read")
            })
        })
        .await;
    assert!(failed.is_err());
    let next = store
        .readers
        .read(|conn| {
            crate::db::in_snapshot(conn, |conn| crate::db::scalar::<i64>(conn, "SELECT 1", []))
        })
        .await;
    assert_eq!(next.expect("the next snapshot begins"), Some(1));
    store.close().await;
}

/// Each search entry's docid and message.
fn entries(conn: &rusqlite::Connection) -> Vec<(i64, String)> {
    use hilo_store::sql::Columns;
    crate::db::all(
        conn,
        "SELECT docid, message_id FROM message_search_entries ORDER BY docid",
        [],
        |row| Ok((row.int("docid")?, row.text("message_id")?)),
    )
    .expect("entries")
}

/// Schema 13 rebuilds the search index with prefix indexes and moves each entry to
/// `message_search_entries`: a store written at schema 12 opens with every message
/// findable again, under the docid it had (its place in time).
#[tokio::test]
async fn a_schema_12_search_index_is_rebuilt_when_the_store_opens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir, Arc::default()).await;
    let (ana, _, conversation) = ana_and_bob(&store).await;
    for n in 1..=3 {
        store
            .append_message(message(&conversation, &ana, n))
            .await
            .expect("stored");
    }
    store.close().await;
    // Back to schema 12: the old index (no prefixes) and its docs table, as 0010 made them.
    let conn = crate::db::open(&dir.path().join("test.db"), false).expect("opens");
    let docids = entries(&conn);
    assert_eq!(docids.len(), 3);
    conn.execute_batch(
        "DROP TABLE message_search;
         CREATE VIRTUAL TABLE message_search USING fts5(words, stems, content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 0');
         CREATE TABLE message_search_docs (docid INTEGER PRIMARY KEY, message_id TEXT NOT NULL UNIQUE REFERENCES messages(id) ON DELETE CASCADE);
         INSERT INTO message_search_docs SELECT docid, message_id FROM message_search_entries;
         INSERT INTO message_search (rowid, words, stems) SELECT docid, 'message', '' FROM message_search_entries;
         DROP TABLE message_search_entries;
         DELETE FROM _sqlx_migrations WHERE version = 13;",
    )
    .expect("schema 12");
    drop(conn);

    let store = open(&dir, Arc::default()).await;
    let found = store
        .search_messages(hilo_store::MessageSearch {
            viewer: ana.clone(),
            query: hilo_core::search::parse_query("mes 2").expect("query"),
            conversation: None,
            sender: None,
            since: None,
            until: None,
            has_attachment: None,
            offset: 0,
            limit: 20,
        })
        .await
        .expect("searches");
    let texts: Vec<_> = found
        .messages
        .iter()
        .map(|m| m.text.clone().unwrap_or_default())
        .collect();
    assert_eq!(texts, ["message 2"]);
    store.close().await;
    let conn = crate::db::open(&dir.path().join("test.db"), false).expect("opens");
    let after = entries(&conn);
    assert_eq!(after, docids, "every entry keeps its docid");
    let backlog: Option<i64> =
        crate::db::scalar(&conn, "SELECT COUNT(*) FROM search_backlog", []).expect("counts");
    assert_eq!(backlog, Some(0));
}

/// Schema 14 keeps what version 7 derived: a conversation deleted with nothing since is
/// hidden (out of the member's lists), one written to since it was deleted is not; schema
/// 15 copies each conversation's activity time to its memberships.
#[tokio::test]
async fn a_schema_13_store_keeps_deleted_conversations_hidden_and_lists_by_activity() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir, Arc::default()).await;
    let (ana, bob, quiet) = ana_and_bob(&store).await;
    let cai = user(&store, "cai").await;
    let (written, _, _) = store
        .find_or_create_direct(ConversationId::new("w"), &cai, &ana, Timestamp(1))
        .await
        .expect("direct");
    store
        .append_message(message(&quiet, &bob, 1))
        .await
        .expect("stored");
    store
        .append_message(message(&written, &cai, 2))
        .await
        .expect("stored");
    for id in [&quiet, &written] {
        store
            .clear_conversation(id, &ana, Timestamp(3))
            .await
            .expect("cleared")
            .expect("a member");
    }
    store
        .append_message(message(&written, &cai, 3))
        .await
        .expect("stored");
    store.close().await;
    // Back to schema 13: no flag, only cleared_seq; no copies of the activity time.
    let conn = crate::db::open(&dir.path().join("test.db"), false).expect("opens");
    conn.execute_batch(
        "DROP INDEX members_by_user;
         CREATE INDEX members_by_user ON members(user_id, folder, pinned) WHERE user_id IS NOT NULL;
         ALTER TABLE members DROP COLUMN activity_at;
         ALTER TABLE members DROP COLUMN hidden;
         DELETE FROM _sqlx_migrations WHERE version IN (14, 15);",
    )
    .expect("schema 13");
    drop(conn);

    let store = open(&dir, Arc::default()).await;
    let place = |id: ConversationId| {
        let (store, ana) = (&store, &ana);
        async move {
            store
                .member_place(&id, ana)
                .await
                .expect("reads")
                .expect("a member")
                .hidden
        }
    };
    assert!(place(quiet.clone()).await, "deleted, nothing since");
    assert!(!place(written.clone()).await, "written to since");
    let page = store
        .list_conversations(&ana, Folder::Requests, false, None, 10)
        .await
        .expect("lists");
    let listed: Vec<_> = page
        .views
        .iter()
        .map(|v| v.conversation.id.clone())
        .collect();
    assert_eq!(listed, [written]);
    store.close().await;
    // Version 15 gave every membership its conversation's activity time.
    let conn = crate::db::open(&dir.path().join("test.db"), false).expect("opens");
    let behind: Option<i64> = crate::db::scalar(
        &conn,
        "SELECT COUNT(*) FROM members m JOIN conversations c ON c.id = m.conversation_id WHERE m.activity_at <> c.updated_at",
        [],
    )
    .expect("counts");
    assert_eq!(behind, Some(0));
}
