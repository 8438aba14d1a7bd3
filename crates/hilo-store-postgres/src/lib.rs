//! hilo's PostgreSQL store, for several `hilo serve` nodes sharing one database.
//!
//! Key design decision: **row locks in one fixed order instead of a single writer.** The
//! SQLite store serialises every write through one task; here many nodes write at once, so
//! each write is an ordinary `READ COMMITTED` transaction that takes the locks it needs:
//!
//! 1. the conversation row (`FOR NO KEY UPDATE`) first, when the write concerns one: this
//!    serialises sends in a conversation, so `seq` is gap-free (a rolled-back send rolls
//!    back its increment too) and a repeated `client_txn_id` is seen by the second sender;
//! 2. member rows next;
//! 3. the recipients' `users` rows last, in one statement, in id order, to bump their event
//!    cursors (`events::append`). Every transaction takes its user locks in one sorted
//!    batch and waits for nothing after it, so two transactions can never hold user rows
//!    the other needs: no deadlock however the groups overlap.
//!
//! Uniqueness races between nodes are settled by the database: the direct conversation of
//! a pair by `INSERT … ON CONFLICT (direct_key) DO NOTHING`, account creation (first-is-
//! admin, invite redemption) by a transaction-scoped advisory lock. A transaction the
//! server aborts anyway (deadlock or serialisation failure, which the order above should
//! prevent) surfaces as `Unavailable`: the client retries, and `client_txn_id` makes that
//! safe.
//!
//! Migrations are the SQLite ones in this dialect, with the same file names (a test keeps
//! the two lists equal); sqlx holds an advisory lock while applying them, so several
//! nodes may start at once.
#![forbid(unsafe_code)]

/// The column that keeps a conversation's members in join order.
macro_rules! member_order {
    () => {
        "position"
    };
}

/// Whether column `$column` is one of the ids in parameter `$p`, a `text[]`: an index
/// condition (`= ANY`), so a page of ids is looked up by key, not joined to a scan.
macro_rules! id_in {
    ($column:literal, $p:literal) => {
        concat!($column, " = ANY(CAST(", $p, " AS text[]))")
    };
}

/// The suffix of a `SELECT` that locks the rows it reads (of one table of a join).
macro_rules! row_lock {
    () => {
        " FOR NO KEY UPDATE"
    };
    ($table:ident) => {
        concat!(" FOR NO KEY UPDATE OF ", stringify!($table))
    };
}

/// Runs `$body` (a future using the connection `$conn`) in one transaction and commits it
/// when the body succeeds; an error rolls it back (the transaction is dropped).
macro_rules! in_transaction {
    ($store:expr, $conn:ident => $body:expr) => {{
        let mut transaction = $store.begin().await?;
        let $conn: &mut sqlx::PgConnection = &mut transaction;
        let out = $body.await?;
        transaction.commit().await.map_err(crate::db_error)?;
        Ok::<_, hilo_store::StoreError>(out)
    }};
}

mod accounts;
mod attachments;
mod conversations;
mod decode;
mod emails;
mod events;
mod messages;
mod moderation;
mod reads;
#[path = "../../hilo-store/shared/rows.rs"]
mod rows;
mod search;
mod security;
mod sms;
mod social;
mod spam;
mod tx;

use std::time::Duration;

use async_trait::async_trait;
use hilo_store::{AdminStore, StoreError, StoreResult};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// How to connect.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// Connections this node keeps to the database at most.
    pub max_connections: u32,
    /// How long a request waits for a free connection before failing.
    pub acquire_timeout: Duration,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

/// The PostgreSQL implementation of [`hilo_store::Store`].
#[derive(Clone, Debug)]
pub struct PostgresStore {
    pool: PgPool,
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

impl PostgresStore {
    /// Connects to `url` (a `postgres://` URL), checks that the server answers and applies
    /// pending migrations.
    pub async fn connect(url: &str, options: PostgresOptions) -> StoreResult<PostgresStore> {
        use sqlx::Connection;
        let connect: PgConnectOptions = url.parse().map_err(|e| startup(&e))?;
        // The lock discipline above assumes READ COMMITTED whatever the server's default;
        // a transaction left open by a vanished node, or a lock wait that goes on, fails
        // (and frees its connection) instead of stalling every node behind it.
        let connect = connect.application_name("hilo").options([
            ("default_transaction_isolation", "read committed"),
            ("idle_in_transaction_session_timeout", "15s"),
            ("lock_timeout", "10s"),
        ]);
        // One plain connection first: a wrong host, password or database name fails at
        // once with the server's own words, where the pool would retry until its timeout
        // and report only that it timed out.
        sqlx::PgConnection::connect_with(&connect)
            .await
            .map_err(|e| startup(&e))?
            .close()
            .await
            .map_err(|e| startup(&e))?;
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .min_connections(1)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await
            .map_err(|e| startup(&e))?;
        rows::migrator(MIGRATIONS)
            .run(&pool)
            .await
            .map_err(|e| StoreError::Other(Box::new(e)))?;
        // Messages from before the search index (schema 10) are indexed now; several
        // nodes starting together share the work (SKIP LOCKED).
        while search::drain_backlog(&pool, 500).await? > 0 {}
        Ok(PostgresStore { pool })
    }

    /// Starts a transaction.
    pub(crate) async fn begin(&self) -> StoreResult<sqlx::Transaction<'static, sqlx::Postgres>> {
        begin(&self.pool, None).await.map_err(unavailable)
    }
}

/// Opens a transaction (with `statement` as its `BEGIN`, if given) in a task of its own.
///
/// sqlx 0.9 sends the `BEGIN` and counts the transaction only once the server answers; a
/// caller cancelled in between (a client hanging up mid-request) drops the connection back
/// into the pool still inside that transaction, and whoever uses the connection next runs
/// in it: a write in a leftover read-only snapshot fails ("cannot execute INSERT in a
/// read-only transaction", seen in the crash suite). Run to completion in its own task,
/// the begin either never happened or belongs to a `Transaction` whose drop rolls it back.
pub(crate) async fn begin(
    pool: &PgPool,
    statement: Option<&'static str>,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
    let pool = pool.clone();
    tokio::spawn(async move {
        match statement {
            Some(statement) => pool.begin_with(statement).await,
            None => pool.begin().await,
        }
    })
    .await
    .map_err(|_| sqlx::Error::WorkerCrashed)?
}

/// The key of the advisory lock that serialises account creation across nodes, so "the
/// first account is the admin" and "an invite is used once" hold when two nodes register
/// at the same moment. Registration is rare; the lock costs nothing elsewhere.
const CREATE_USER_LOCK: i64 = 0x6869_6c6f_0001;

/// Serialises account creation across nodes until the transaction ends.
pub(crate) async fn lock_account_creation(conn: &mut sqlx::PgConnection) -> StoreResult<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(CREATE_USER_LOCK)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// A failure to reach the database at start, in one line: the server's message without the
/// driver's wrapping (which repeats it).
fn startup(error: &sqlx::Error) -> StoreError {
    let text = match error {
        sqlx::Error::Database(db) => db.message().to_owned(),
        other => other.to_string(),
    };
    StoreError::Unavailable(text.into())
}

pub(crate) fn unavailable(error: sqlx::Error) -> StoreError {
    StoreError::Unavailable(Box::new(error))
}

/// Maps driver errors onto the store's vocabulary: a unique violation is a `Conflict`, a
/// lost connection or a transaction the server aborted (deadlock, serialisation failure,
/// shutdown) is `Unavailable`, so the caller may retry.
pub(crate) fn db_error(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict("unique"),
        // Serialisation failure, deadlock, lock or idle timeout, cancelled statement,
        // too many connections, shutdown, and the connection-exception class 08.
        sqlx::Error::Database(db)
            if db.code().is_some_and(|code| {
                matches!(
                    &*code,
                    "40001"
                        | "40P01"
                        | "55P03"
                        | "25P03"
                        | "57014"
                        | "53300"
                        | "57P01"
                        | "57P02"
                        | "57P03"
                ) || code.starts_with("08")
            }) =>
        {
            StoreError::Unavailable(Box::new(error))
        }
        sqlx::Error::PoolClosed
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(Box::new(error)),
        _ => StoreError::Other(Box::new(error)),
    }
}

#[async_trait]
impl AdminStore for PostgresStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn backup(&self, _path: &str) -> StoreResult<()> {
        Err(StoreError::Unsupported(
            "the database is PostgreSQL: back it up with pg_dump or continuous archiving (see docs/deploy.md)",
        ))
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
