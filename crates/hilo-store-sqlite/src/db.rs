//! The synchronous side of the store: rusqlite connections that the writer thread owns,
//! their error mapping, and row decoding through `hilo_store::sql`.
//!
//! Why not sqlx here: sqlx runs each SQLite connection on its own thread and hands every
//! statement to it and back over a channel. A send is about ten statements, so twenty
//! thread wake-ups; on this 2-core machine those wake-ups were 60 % of the server's CPU
//! (docs/benchmarks.md). The writer thread runs its statements directly instead.

use std::path::Path;
use std::time::Duration;

use hilo_store::sql::Columns;
use hilo_store::{StoreError, StoreResult};
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension};

/// Opens a read-write connection: WAL, `synchronous` FULL or NORMAL, foreign keys, a busy
/// timeout, an in-memory temp store (the migration connection in `lib.rs` uses the same
/// journal, `synchronous` and foreign-key settings).
pub(crate) fn open(path: &Path, synchronous_full: bool) -> StoreResult<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(error)?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(error)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(error)?;
    conn.pragma_update(
        None,
        "synchronous",
        if synchronous_full { "FULL" } else { "NORMAL" },
    )
    .map_err(error)?;
    conn.pragma_update(None, "foreign_keys", true)
        .map_err(error)?;
    conn.pragma_update(None, "temp_store", "memory")
        .map_err(error)?;
    conn.set_prepared_statement_cache_capacity(256);
    Ok(conn)
}

/// Runs `work` in one read transaction: every statement sees the same snapshot, and the
/// connection takes its WAL read lock once instead of once per statement (a page of 50
/// conversations is some 400 statements).
pub(crate) fn in_snapshot<T>(
    conn: &Connection,
    work: impl FnOnce(&Connection) -> StoreResult<T>,
) -> StoreResult<T> {
    conn.execute_batch("BEGIN DEFERRED").map_err(error)?;
    let result = work(conn);
    // A read transaction has nothing to keep: ending it either way releases the snapshot.
    let ended = conn.execute_batch(if result.is_ok() { "COMMIT" } else { "ROLLBACK" });
    let value = result?;
    ended.map_err(error)?;
    Ok(value)
}

/// The answer to a caller whose job can no longer run: the store was closed (or the job's
/// thread is gone).
pub(crate) fn closed() -> StoreError {
    StoreError::Unavailable("the store is closed".into())
}

/// Starts a thread named `name` that opens a connection to `path` and hands it to `run`;
/// returns once the connection is open (or with the error that kept it from opening).
pub(crate) async fn spawn_with_connection(
    name: String,
    path: &Path,
    synchronous_full: bool,
    run: impl FnOnce(Connection) + Send + 'static,
) -> StoreResult<std::thread::JoinHandle<()>> {
    let (opened, open_result) = tokio::sync::oneshot::channel();
    let path = path.to_owned();
    let thread = std::thread::Builder::new()
        .name(name)
        .spawn(move || match open(&path, synchronous_full) {
            Ok(conn) => {
                let _ = opened.send(Ok(()));
                run(conn);
            }
            Err(error) => {
                let _ = opened.send(Err(error));
            }
        })
        .map_err(|e| StoreError::Unavailable(Box::new(e)))?;
    open_result.await.map_err(|_| closed())??;
    Ok(thread)
}

/// A JSON array of strings, for a list of ids bound as one parameter and read with
/// `json_each` (`id_in!`).
pub(crate) fn json_list<'a>(ids: impl IntoIterator<Item = &'a str>) -> String {
    let ids: Vec<&str> = ids.into_iter().collect();
    // Serialising a list of strings cannot fail.
    serde_json::to_string(&ids).unwrap_or_else(|_| "[]".to_owned())
}

/// Maps driver errors onto the store's vocabulary, as `db_error` does for sqlx's: a unique
/// violation is a `Conflict`, a missing row `NotFound`, a locked or unreadable database
/// `Unavailable`.
pub(crate) fn error(error: rusqlite::Error) -> StoreError {
    match &error {
        rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound,
        rusqlite::Error::SqliteFailure(failure, _) => match failure.code {
            ErrorCode::ConstraintViolation
                if failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
            {
                StoreError::Conflict("unique")
            }
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::SystemIoFailure
            | ErrorCode::DiskFull
            | ErrorCode::CannotOpen
            | ErrorCode::ReadOnly => StoreError::Unavailable(Box::new(error)),
            _ => StoreError::Other(Box::new(error)),
        },
        _ => StoreError::Other(Box::new(error)),
    }
}

/// A rusqlite row as seen by the shared decoders.
pub(crate) struct Cols<'r, 's>(pub(crate) &'r rusqlite::Row<'s>);

impl Columns for Cols<'_, '_> {
    fn text(&self, column: &str) -> StoreResult<String> {
        self.0.get(column).map_err(error)
    }
    fn opt_text(&self, column: &str) -> StoreResult<Option<String>> {
        self.0.get(column).map_err(error)
    }
    fn int(&self, column: &str) -> StoreResult<i64> {
        self.0.get(column).map_err(error)
    }
    fn opt_int(&self, column: &str) -> StoreResult<Option<i64>> {
        self.0.get(column).map_err(error)
    }
    fn flag(&self, column: &str) -> StoreResult<bool> {
        self.0.get(column).map_err(error)
    }
    fn opt_float(&self, column: &str) -> StoreResult<Option<f64>> {
        self.0.get(column).map_err(error)
    }
}

/// Runs a statement that returns no rows; how many rows it changed.
pub(crate) fn execute(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> StoreResult<usize> {
    conn.prepare_cached(sql)
        .and_then(|mut statement| statement.execute(params))
        .map_err(error)
}

/// The first column of the first row, if there is a row.
pub(crate) fn scalar<T: rusqlite::types::FromSql>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> StoreResult<Option<T>> {
    conn.prepare_cached(sql)
        .and_then(|mut statement| statement.query_row(params, |row| row.get(0)).optional())
        .map_err(error)
}

/// The first column of every row.
pub(crate) fn column<T: rusqlite::types::FromSql>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> StoreResult<Vec<T>> {
    all(conn, sql, params, |row| row.0.get(0).map_err(error))
}

/// The first row of `sql` with `params`, decoded by `decode`, if there is one.
pub(crate) fn one<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    decode: impl Fn(&Cols<'_, '_>) -> StoreResult<T>,
) -> StoreResult<Option<T>> {
    let mut statement = conn.prepare_cached(sql).map_err(error)?;
    let mut rows = statement.query(params).map_err(error)?;
    match rows.next().map_err(error)? {
        Some(row) => decode(&Cols(row)).map(Some),
        None => Ok(None),
    }
}

/// Every row of `sql` with `params`, decoded by `decode`.
pub(crate) fn all<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    decode: impl Fn(&Cols<'_, '_>) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    let mut statement = conn.prepare_cached(sql).map_err(error)?;
    let mut rows = statement.query(params).map_err(error)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(error)? {
        out.push(decode(&Cols(row))?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use hilo_store::StoreError;

    #[test]
    fn id_lists_are_json_arrays() {
        assert_eq!(super::json_list(["a", "q\"u\\o"]), r#"["a","q\"u\\o"]"#);
    }

    #[test]
    fn unique_violations_are_conflicts_and_missing_rows_not_found() {
        let conn = rusqlite::Connection::open_in_memory().expect("opens");
        conn.execute_batch(
            "CREATE TABLE t (k TEXT PRIMARY KEY, u TEXT UNIQUE); INSERT INTO t VALUES ('a', 'x')",
        )
        .expect("creates");
        let dup_key = conn
            .execute("INSERT INTO t VALUES ('a', 'y')", [])
            .expect_err("a duplicate key is refused");
        assert!(matches!(
            super::error(dup_key),
            StoreError::Conflict("unique")
        ));
        let dup_unique = conn
            .execute("INSERT INTO t VALUES ('b', 'x')", [])
            .expect_err("a duplicate unique value is refused");
        assert!(matches!(
            super::error(dup_unique),
            StoreError::Conflict("unique")
        ));
        let none = conn
            .query_row("SELECT k FROM t WHERE k = 'z'", [], |r| {
                r.get::<_, String>(0)
            })
            .expect_err("no row");
        assert!(matches!(super::error(none), StoreError::NotFound));
        let syntax = conn
            .execute("INSERT INTO nowhere VALUES (1)", [])
            .expect_err("no such table");
        assert!(matches!(super::error(syntax), StoreError::Other(_)));
    }
}
