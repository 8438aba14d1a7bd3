//! Per-user event streams: appending inside write jobs, and reading for replay.

use async_trait::async_trait;
use hilo_core::{EventRecord, Timestamp, UserId};
use hilo_store::sql::Columns as _;
use hilo_store::{Delivery, EventStore, StoreResult};
use rusqlite::{Connection, params};

use crate::db::{all, execute};
use crate::{SqliteStore, reads};

/// Appends `record` to each user's stream, giving it the next cursor of that stream.
/// Runs inside the caller's write transaction, so the cursor bump and the row commit (or
/// roll back) together with the change they describe.
///
/// Two statements whatever the number of recipients: one `UPDATE … RETURNING` bumps every
/// recipient's head (the new head is the event's cursor), one `INSERT … SELECT` writes the
/// rows from those heads. A message to a group of 500 costs the same two statements as
/// one to a pair.
pub(crate) fn append(
    conn: &Connection,
    users: &[UserId],
    record: &EventRecord,
    now: Timestamp,
) -> StoreResult<Vec<Delivery>> {
    if users.is_empty() {
        return Ok(Vec::new());
    }
    // The whole recipient list binds as one parameter.
    let ids = crate::db::json_list(users.iter().map(UserId::as_str));
    let deliveries = all(
        conn,
        concat!(
            "UPDATE users SET event_head = event_head + 1 WHERE ",
            id_in!("id", "?1"),
            " RETURNING id, event_head"
        ),
        [&ids],
        |row| {
            Ok(Delivery {
                user_id: UserId::new(row.text("id")?),
                cursor: row.int("event_head")?,
            })
        },
    )?;
    execute(
        conn,
        concat!(
            "INSERT INTO user_events (user_id, cursor, kind, conversation_id, message_id, subject_user_id, session_id, number, created_at, report_id) SELECT id, event_head, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?9 FROM users WHERE ",
            id_in!("id", "?8")
        ),
        params![
            record.kind.as_str(),
            record.conversation_id.as_ref().map(|id| id.as_str()),
            record.message_id.as_ref().map(|id| id.as_str()),
            record.subject_user_id.as_ref().map(|id| id.as_str()),
            record.session_id.as_ref().map(|id| id.as_str()),
            record.number,
            now.millis(),
            ids,
            record.report_id.as_ref().map(|id| id.as_str())
        ],
    )?;
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
        in_reader!(self, (user), conn => reads::events_after(conn, &user, after, limit))
    }

    async fn event_bounds(&self, user: &UserId) -> StoreResult<(i64, i64)> {
        in_reader!(self, (user), conn => reads::event_bounds(conn, &user))
    }
}
