//! Per-user event streams: appending inside write transactions, and reading for replay.

use async_trait::async_trait;
use hilo_core::{EventRecord, StoredEvent, Timestamp, UserId};
use hilo_store::{Delivery, EventStore, StoreResult};
use sqlx::PgConnection;

use crate::{PostgresStore, db_error, reads};

fn ids(users: &[UserId]) -> Vec<String> {
    users.iter().map(|u| u.as_str().to_owned()).collect()
}

/// Locks the users' rows in id order (see the crate docs for why the order matters).
/// Append calls this itself; a transaction that appends to several sets locks their
/// union first, so it takes all its user locks in one sorted batch.
pub(crate) async fn lock_users(conn: &mut PgConnection, users: &[UserId]) -> StoreResult<()> {
    sqlx::query("SELECT id FROM users WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE")
        .bind(ids(users))
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Appends `record` to each user's stream with the next cursor of that stream, inside the
/// caller's transaction. Two statements whatever the number of recipients: the sorted lock,
/// then one statement that bumps every head and inserts the rows from the new heads.
pub(crate) async fn append(
    conn: &mut PgConnection,
    users: &[UserId],
    record: &EventRecord,
    now: Timestamp,
) -> StoreResult<Vec<Delivery>> {
    if users.is_empty() {
        return Ok(Vec::new());
    }
    lock_users(conn, users).await?;
    let heads: Vec<(String, i64)> = sqlx::query_as(
        "WITH bumped AS (UPDATE users SET event_head = event_head + 1 WHERE id = ANY($1) RETURNING id, event_head) INSERT INTO user_events (user_id, cursor, kind, conversation_id, message_id, subject_user_id, session_id, number, created_at, report_id) SELECT id, event_head, $2, $3, $4, $5, $6, $7, $8, $9 FROM bumped RETURNING user_id, cursor",
    )
    .bind(ids(users))
    .bind(record.kind.as_str())
    .bind(record.conversation_id.as_ref().map(|id| id.as_str()))
    .bind(record.message_id.as_ref().map(|id| id.as_str()))
    .bind(record.subject_user_id.as_ref().map(|id| id.as_str()))
    .bind(record.session_id.as_ref().map(|id| id.as_str()))
    .bind(record.number)
    .bind(now.millis())
    .bind(record.report_id.as_ref().map(|id| id.as_str()))
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(heads
        .into_iter()
        .map(|(user, cursor)| Delivery {
            user_id: UserId::new(user),
            cursor,
        })
        .collect())
}

#[async_trait]
impl EventStore for PostgresStore {
    async fn events_after(
        &self,
        user: &UserId,
        after: i64,
        limit: i64,
    ) -> StoreResult<Vec<StoredEvent>> {
        reads::events_after(&self.pool, user, after, limit).await
    }

    async fn event_bounds(&self, user: &UserId) -> StoreResult<(i64, i64)> {
        reads::event_bounds(&self.pool, user).await
    }
}
