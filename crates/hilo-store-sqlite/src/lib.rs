//! hilo's embedded store: one SQLite file in WAL mode.
//!
//! Key design decision: **one writer thread, group commit.** Every write is a job sent to a
//! single OS thread that owns the only write connection (rusqlite, so a job's statements
//! run on that thread without a hand-off each; see `db`). The thread drains whatever jobs
//! are queued, runs each inside its own `SAVEPOINT` (so one failing job rolls back alone),
//! and commits them all with one `COMMIT`. With `synchronous=FULL` that commit is one fsync of
//! the WAL for the whole batch, so a burst of 200 sends costs one fsync, not 200, and every
//! caller gets its answer only after the batch is on disk. A single writer also means
//! SQLite never sees two write transactions race for the lock (no `SQLITE_BUSY` upgrade
//! deadlocks) and makes per-conversation `seq` and per-user cursors trivially gap-free.
//!
//! Reads go to a few reader threads, each with its own connection, which WAL lets proceed
//! while the writer commits (`reader`). sqlx is used here only to run the migrations,
//! with the same runner as PostgreSQL.
//!
//! Not here: authorisation (the service), rendering (proto), anything PostgreSQL.
#![forbid(unsafe_code)]

/// The column that keeps a conversation's members in join order.
macro_rules! member_order {
    () => {
        "rowid"
    };
}

/// Whether column `$column` is one of the ids in parameter `$p`, which holds them as a
/// JSON array of strings (`db::json_list`).
macro_rules! id_in {
    ($column:literal, $p:literal) => {
        concat!($column, " IN (SELECT value FROM json_each(", $p, "))")
    };
}

/// Runs `$body` (an expression using the write connection `$conn`, returning a
/// `StoreResult`) as a job on the single writer and returns its result once the batch is
/// committed. The borrowed arguments named in the parentheses are copied into the job,
/// which outlives this call's borrows.
macro_rules! in_writer {
    ($store:expr, ($($owned:ident),*), $conn:ident => $body:expr) => {{
        $(let $owned = $owned.to_owned();)*
        $store.writer.write(move |$conn| $body).await
    }};
}

/// Runs `$body` (an expression using a reader connection `$conn`, returning a
/// `StoreResult`) on a reader thread. The borrowed arguments named in the parentheses are
/// copied into the job.
macro_rules! in_reader {
    ($store:expr, ($($owned:ident),*), $conn:ident => $body:expr) => {{
        $(let $owned = $owned.to_owned();)*
        $store.readers.read(move |$conn| $body).await
    }};
}

mod accounts;
mod attachments;
mod conversations;
mod db;
mod emails;
mod events;
mod messages;
mod moderation;
mod reader;
mod reads;
#[path = "../../hilo-store/shared/rows.rs"]
mod rows;
mod search;
mod security;
mod sms;
mod social;
mod spam;
mod tx;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hilo_store::sql::Columns as _;
use hilo_store::{AdminStore, CommitObserver, StoreError, StoreResult};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection};

/// How to open the database.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// `FULL` (default) fsyncs every commit so an acknowledged write survives a power cut;
    /// `NORMAL` survives a process crash only.
    pub synchronous_full: bool,
    /// Most jobs committed together.
    pub max_batch: usize,
    /// Reader threads, each with its own connection.
    pub readers: u32,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            synchronous_full: true,
            max_batch: 512,
            readers: 4,
        }
    }
}

/// The SQLite implementation of [`hilo_store::Store`].
#[derive(Clone)]
pub struct SqliteStore {
    readers: reader::Readers,
    writer: writer::Writer,
    path: Arc<PathBuf>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

/// Every file of ../migrations, under the same names in both backends.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("../migrations/0001_initial.sql")),
    (
        2,
        "rich_messages",
        include_str!("../migrations/0002_rich_messages.sql"),
    ),
    (
        3,
        "attachments",
        include_str!("../migrations/0003_attachments.sql"),
    ),
    (
        4,
        "delivered",
        include_str!("../migrations/0004_delivered.sql"),
    ),
    (
        5,
        "presence",
        include_str!("../migrations/0005_presence.sql"),
    ),
    (6, "social", include_str!("../migrations/0006_social.sql")),
    (7, "cleared", include_str!("../migrations/0007_cleared.sql")),
    (8, "pinned", include_str!("../migrations/0008_pinned.sql")),
    (9, "reports", include_str!("../migrations/0009_reports.sql")),
    (10, "search", include_str!("../migrations/0010_search.sql")),
    (11, "spam", include_str!("../migrations/0011_spam.sql")),
    (
        12,
        "member_indexes",
        include_str!("../migrations/0012_member_indexes.sql"),
    ),
    (
        13,
        "search_walk",
        include_str!("../migrations/0013_search_walk.sql"),
    ),
    (14, "hidden", include_str!("../migrations/0014_hidden.sql")),
    (
        15,
        "member_activity",
        include_str!("../migrations/0015_member_activity.sql"),
    ),
    (
        16,
        "search_postings",
        include_str!("../migrations/0016_search_postings.sql"),
    ),
    (
        17,
        "account_security",
        include_str!("../migrations/0017_account_security.sql"),
    ),
    (18, "email", include_str!("../migrations/0018_email.sql")),
    (
        19,
        "outbound",
        include_str!("../migrations/0019_outbound.sql"),
    ),
    (
        20,
        "user_emails",
        include_str!("../migrations/0020_user_emails.sql"),
    ),
    (21, "digest", include_str!("../migrations/0021_digest.sql")),
    (22, "sms", include_str!("../migrations/0022_sms.sql")),
    (
        23,
        "sms_unsure",
        include_str!("../migrations/0023_sms_unsure.sql"),
    ),
];

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path`, applies pending migrations
    /// and starts the writer and reader threads.
    pub async fn open(
        path: &Path,
        options: SqliteOptions,
        observer: Option<Arc<dyn CommitObserver>>,
    ) -> StoreResult<SqliteStore> {
        let connect = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(if options.synchronous_full {
                SqliteSynchronous::Full
            } else {
                SqliteSynchronous::Normal
            })
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let mut migrate = connect.connect().await.map_err(unavailable)?;
        rows::migrator(MIGRATIONS)
            .run(&mut migrate)
            .await
            .map_err(|e| StoreError::Other(Box::new(e)))?;
        migrate.close().await.map_err(unavailable)?;

        let writer = writer::Writer::start(
            path,
            options.synchronous_full,
            options.max_batch.max(1),
            observer,
        )
        .await?;
        let readers = reader::Readers::start(
            path,
            options.synchronous_full,
            options.readers.max(1) as usize,
        )
        .await?;
        let store = SqliteStore {
            readers,
            writer,
            path: Arc::new(path.to_owned()),
        };
        // Messages from before the search index (schema 10) are indexed now, in batches
        // small enough not to hold the writer long; nothing to do on later starts.
        while in_writer!(store, (), conn => search::drain_backlog(conn, 500))? > 0 {}
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn unavailable(error: sqlx::Error) -> StoreError {
    StoreError::Unavailable(Box::new(error))
}

#[async_trait]
impl AdminStore for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        in_reader!(self, (), conn => conn
            .query_row("SELECT 1", [], |_| Ok(()))
            .map_err(db::error))
    }

    async fn backup(&self, path: &str) -> StoreResult<()> {
        // VACUUM INTO reads one consistent snapshot and writes a compact copy, while the
        // writer keeps committing.
        in_reader!(self, (path), conn => conn
            .execute("VACUUM INTO ?1", [&path])
            .map(|_| ())
            .map_err(db::error))
    }

    async fn close(&self) {
        // Readers first, the writer last: the last connection to close is the one that
        // checkpoints and removes the WAL, and it must be one alone. Readers closing
        // together can each see the other still open and all leave the WAL behind (the
        // close test failed that way once, in CI).
        self.readers.close().await;
        self.writer.close().await;
    }
}

/// Runs SQLite's own consistency checks; returns the problems found (empty when healthy).
pub async fn integrity_problems(store: &SqliteStore) -> StoreResult<Vec<String>> {
    in_reader!(store, (), conn => {
        let mut problems: Vec<String> =
            db::all(conn, "PRAGMA integrity_check", [], |row| row.text("integrity_check"))?
                .into_iter()
                .filter(|line| line != "ok")
                .collect();
        let tables = db::all(conn, "PRAGMA foreign_key_check", [], |row| row.text("table"))?;
        problems.extend(
            tables
                .into_iter()
                .map(|table| format!("foreign key violation in {table}")),
        );
        Ok(problems)
    })
}

#[cfg(test)]
mod tests;
