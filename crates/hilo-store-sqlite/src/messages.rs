//! Messages: the gap-free, idempotent append and history pages.

use async_trait::async_trait;
use hilo_core::{ConversationId, EventKind, EventRecord, Message, MessageId};
use hilo_store::{AppendOutcome, MessagePage, MessageStore, NewMessage, StoreResult};
use sqlx::SqliteConnection;

use crate::conversations::member_users;
use crate::{SqliteStore, db_error, events, rows};

async fn message_in(conn: &mut SqliteConnection, id: &str) -> StoreResult<Message> {
    let row = sqlx::query(concat!(rows::message_select!(), " WHERE m.id = ?"))
        .bind(id)
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error)?;
    rows::message(&row)
}

#[async_trait]
impl MessageStore for SqliteStore {
    async fn append_message(&self, new: NewMessage) -> StoreResult<AppendOutcome> {
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    // The repeat check, the membership check and the insert run in one
                    // transaction on the single writer: two racing sends with the same
                    // client_txn_id cannot both insert, and a member removed a moment ago
                    // cannot slip a message in.
                    let repeated: Option<String> = sqlx::query_scalar(
                        "SELECT id FROM messages WHERE conversation_id = ? AND sender_user_id = ? AND client_txn_id = ?",
                    )
                    .bind(new.conversation_id.as_str())
                    .bind(new.sender.as_str())
                    .bind(&new.client_txn_id)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(db_error)?;
                    if let Some(id) = repeated {
                        return Ok(AppendOutcome::Repeated(message_in(conn, &id).await?));
                    }
                    let members = member_users(conn, &new.conversation_id).await?;
                    if !members.contains(&new.sender) {
                        return Ok(AppendOutcome::NotMember);
                    }
                    let seq: i64 = sqlx::query_scalar(
                        "UPDATE conversations SET last_seq = last_seq + 1, updated_at = max(updated_at, ?) WHERE id = ? RETURNING last_seq",
                    )
                    .bind(new.now.millis())
                    .bind(new.conversation_id.as_str())
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(db_error)?;
                    sqlx::query("INSERT INTO messages (id, conversation_id, seq, sender_user_id, channel, text, client_txn_id, created_at) VALUES (?, ?, ?, ?, 'chat', ?, ?, ?)")
                        .bind(new.id.as_str())
                        .bind(new.conversation_id.as_str())
                        .bind(seq)
                        .bind(new.sender.as_str())
                        .bind(&new.text)
                        .bind(&new.client_txn_id)
                        .bind(new.now.millis())
                        .execute(&mut *conn)
                        .await
                        .map_err(db_error)?;
                    // Sending means having read everything up to one's own message.
                    sqlx::query("UPDATE members SET last_read_seq = ? WHERE conversation_id = ? AND user_id = ? AND last_read_seq < ?")
                        .bind(seq)
                        .bind(new.conversation_id.as_str())
                        .bind(new.sender.as_str())
                        .bind(seq)
                        .execute(&mut *conn)
                        .await
                        .map_err(db_error)?;
                    let mut record = EventRecord::new(EventKind::MessageCreated);
                    record.conversation_id = Some(new.conversation_id.clone());
                    record.message_id = Some(new.id.clone());
                    let deliveries = events::append(conn, &members, &record, new.now).await?;
                    let message = message_in(conn, new.id.as_str()).await?;
                    Ok(AppendOutcome::Created(message, deliveries))
                })
            })
            .await
    }

    async fn message(&self, id: &MessageId) -> StoreResult<Option<Message>> {
        let row = sqlx::query(concat!(rows::message_select!(), " WHERE m.id = ?"))
            .bind(id.as_str())
            .fetch_optional(&self.read)
            .await
            .map_err(db_error)?;
        row.as_ref().map(rows::message).transpose()
    }

    async fn messages(
        &self,
        conversation: &ConversationId,
        before: Option<i64>,
        after: Option<i64>,
        limit: i64,
    ) -> StoreResult<MessagePage> {
        let upper = before.unwrap_or(i64::MAX);
        // One extra row tells whether more exist beyond the page.
        let rows = if let Some(after) = after {
            sqlx::query(
                concat!(rows::message_select!(), " WHERE m.conversation_id = ? AND m.seq > ? AND m.seq < ? ORDER BY m.seq ASC LIMIT ?"),
            )
            .bind(conversation.as_str())
            .bind(after)
            .bind(upper)
            .bind(limit + 1)
            .fetch_all(&self.read)
            .await
        } else {
            sqlx::query(
                concat!(rows::message_select!(), " WHERE m.conversation_id = ? AND m.seq < ? ORDER BY m.seq DESC LIMIT ?"),
            )
            .bind(conversation.as_str())
            .bind(upper)
            .bind(limit + 1)
            .fetch_all(&self.read)
            .await
        }
        .map_err(db_error)?;
        let messages = rows
            .iter()
            .map(rows::message)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(hilo_store::sql::message_page(
            messages,
            limit,
            after.is_some(),
        ))
    }
}
