//! Per-user event streams: appending inside write jobs, and reading for replay.

use async_trait::async_trait;
use hilo_core::{EventRecord, Timestamp, UserId};
use hilo_store::{Delivery, EventStore, StoreResult};
use sqlx::SqliteConnection;

use crate::{SqliteStore, db_error, rows};

/// Appends `record` to each user's stream, giving it the next cursor of that stream.
/// Runs inside the caller's write transaction, so the cursor bump and the row commit (or
/// roll back) together with the change they describe.
pub(crate) async fn append(
    conn: &mut SqliteConnection,
    users: &[UserId],
    record: &EventRecord,
    now: Timestamp,
) -> StoreResult<Vec<Delivery>> {
    let mut deliveries = Vec::with_capacity(users.len());
    for user in users {
        let cursor: i64 = sqlx::query_scalar(
            "UPDATE users SET event_head = event_head + 1 WHERE id = ? RETURNING event_head",
        )
        .bind(user.as_str())
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error)?;
        sqlx::query(
            "INSERT INTO user_events (user_id, cursor, kind, conversation_id, message_id, subject_user_id, session_id, number, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(user.as_str())
        .bind(cursor)
        .bind(record.kind.as_str())
        .bind(record.conversation_id.as_ref().map(|id| id.as_str()))
        .bind(record.message_id.as_ref().map(|id| id.as_str()))
        .bind(record.subject_user_id.as_ref().map(|id| id.as_str()))
        .bind(record.session_id.as_ref().map(|id| id.as_str()))
        .bind(record.number)
        .bind(now.millis())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
        deliveries.push(Delivery {
            user_id: user.clone(),
            cursor,
        });
    }
    Ok(deliveries)
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn events_after(
        &self,
        user: &UserId,
        after: i64,
        limit: i64,
    ) -> StoreResult<Vec<hilo_core::StoredEvent>> {
        let rows = sqlx::query(
            "SELECT user_id, cursor, kind, conversation_id, message_id, subject_user_id, session_id, number, created_at FROM user_events WHERE user_id = ? AND cursor > ? ORDER BY cursor LIMIT ?",
        )
        .bind(user.as_str())
        .bind(after)
        .bind(limit)
        .fetch_all(&self.read)
        .await
        .map_err(db_error)?;
        rows.iter().map(rows::event).collect()
    }

    async fn event_bounds(&self, user: &UserId) -> StoreResult<(i64, i64)> {
        let row: Option<(i64, i64)> =
            sqlx::query_as("SELECT event_floor, event_head FROM users WHERE id = ?")
                .bind(user.as_str())
                .fetch_optional(&self.read)
                .await
                .map_err(db_error)?;
        row.ok_or(hilo_store::StoreError::NotFound)
    }
}
