//! hilo's embedded store: one SQLite file in WAL mode.
//!
//! Key design decision: **one writer task, group commit.** Every write is a job sent to a
//! single task that owns the only write connection. The task drains whatever jobs are
//! queued, runs each inside its own `SAVEPOINT` (so one failing job rolls back alone), and
//! commits them all with one `COMMIT`. With `synchronous=FULL` that commit is one fsync of
//! the WAL for the whole batch, so a burst of 200 sends costs one fsync, not 200, and every
//! caller gets its answer only after the batch is on disk. A single writer also means
//! SQLite never sees two write transactions race for the lock (no `SQLITE_BUSY` upgrade
//! deadlocks) and makes per-conversation `seq` and per-user cursors trivially gap-free.
//!
//! Reads go to a small pool of separate connections, which WAL lets proceed while the
//! writer commits.
//!
//! Not here: authorisation (the service), rendering (proto), anything PostgreSQL.
#![forbid(unsafe_code)]

/// The driver the shared SQL modules (`rows`, `reads`) are compiled against.
type Db = sqlx::Sqlite;

/// The column that keeps a conversation's members in join order.
macro_rules! member_order {
    () => {
        "rowid"
    };
}

/// The suffix of a `SELECT` that locks what it reads: nothing here, the single writer
/// already runs one write at a time.
macro_rules! row_lock {
    () => {
        ""
    };
    ($table:ident) => {
        ""
    };
}

/// Runs `$body` (a future using the connection `$conn`) as a job on the single writer and
/// returns its result once the batch is committed. The borrowed arguments named in the
/// parentheses are copied into the job, which outlives this call's borrows.
macro_rules! in_writer {
    ($store:expr, ($($owned:ident),*), $conn:ident => $body:expr) => {{
        $(let $owned = $owned.to_owned();)*
        $store
            .writer
            .write(move |$conn| Box::pin(async move { $body.await }))
            .await
    }};
}

mod accounts;
mod conversations;
mod events;
mod messages;
#[path = "../../hilo-store/shared/reads.rs"]
mod reads;
#[path = "../../hilo-store/shared/rows.rs"]
mod rows;
#[path = "../../hilo-store/shared/tx.rs"]
mod tx;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hilo_store::{AdminStore, CommitObserver, StoreError, StoreResult};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, SqliteConnection, SqlitePool};

/// How to open the database.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// `FULL` (default) fsyncs every commit so an acknowledged write survives a power cut;
    /// `NORMAL` survives a process crash only.
    pub synchronous_full: bool,
    /// Most jobs committed together.
    pub max_batch: usize,
    /// Reader connections.
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
    read: SqlitePool,
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
const MIGRATIONS: &[(i64, &str, &str)] =
    &[(1, "initial", include_str!("../migrations/0001_initial.sql"))];

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path`, applies pending migrations
    /// and starts the writer task.
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
            .busy_timeout(Duration::from_secs(10))
            .pragma("temp_store", "memory")
            .statement_cache_capacity(256);

        let mut write_conn = connect.connect().await.map_err(unavailable)?;
        rows::migrator(MIGRATIONS)
            .run(&mut write_conn)
            .await
            .map_err(|e| StoreError::Other(Box::new(e)))?;

        let read = SqlitePoolOptions::new()
            .max_connections(options.readers.max(1))
            .min_connections(1)
            .connect_with(connect.clone())
            .await
            .map_err(unavailable)?;

        let writer = writer::Writer::start(write_conn, options.max_batch.max(1), observer);
        Ok(SqliteStore {
            read,
            writer,
            path: Arc::new(path.to_owned()),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Account creation needs no lock of its own: the single writer runs one at a time.
pub(crate) async fn lock_account_creation(_conn: &mut SqliteConnection) -> StoreResult<()> {
    Ok(())
}

pub(crate) fn unavailable(error: sqlx::Error) -> StoreError {
    StoreError::Unavailable(Box::new(error))
}

/// Maps driver errors onto the store's vocabulary; a unique violation is a `Conflict`.
pub(crate) fn db_error(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict("unique"),
        sqlx::Error::PoolClosed | sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) => {
            StoreError::Unavailable(Box::new(error))
        }
        _ => StoreError::Other(Box::new(error)),
    }
}

#[async_trait]
impl AdminStore for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.read)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn backup(&self, path: &str) -> StoreResult<()> {
        // VACUUM INTO reads one consistent snapshot and writes a compact copy, while the
        // writer keeps committing.
        sqlx::query("VACUUM INTO ?")
            .bind(path)
            .execute(&self.read)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn close(&self) {
        self.writer.close().await;
        self.read.close().await;
    }
}

/// Runs SQLite's own consistency checks; returns the problems found (empty when healthy).
pub async fn integrity_problems(store: &SqliteStore) -> StoreResult<Vec<String>> {
    use sqlx::Row;
    let mut problems = Vec::new();
    for row in sqlx::query("PRAGMA integrity_check")
        .fetch_all(&store.read)
        .await
        .map_err(db_error)?
    {
        let line: String = row.try_get(0).map_err(db_error)?;
        if line != "ok" {
            problems.push(line);
        }
    }
    for row in sqlx::query("PRAGMA foreign_key_check")
        .fetch_all(&store.read)
        .await
        .map_err(db_error)?
    {
        let table: String = row.try_get(0).map_err(db_error)?;
        problems.push(format!("foreign key violation in {table}"));
    }
    Ok(problems)
}

#[cfg(test)]
mod tests;
