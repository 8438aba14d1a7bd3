//! Messages: the gap-free, idempotent append and history pages.

use async_trait::async_trait;
use hilo_core::{ConversationId, EventKind, EventRecord, Message, MessageId};
use hilo_store::{AppendOutcome, MessagePage, MessageStore, NewMessage, StoreResult};
use sqlx::PgConnection;

use crate::conversations::{lock_conversation, member_users};
use crate::{PostgresStore, db_error, events, rows};

async fn message_in(conn: &mut PgConnection, id: &str) -> StoreResult<Message> {
    let row = sqlx::query(concat!(rows::message_select!(), " WHERE m.id = $1"))
        .bind(id)
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error)?;
    rows::message(&row)
}

async fn append_in(conn: &mut PgConnection, new: &NewMessage) -> StoreResult<AppendOutcome> {
    // The conversation row lock comes first: it serialises sends here across every node,
    // so the repeat check below sees a concurrent send of the same client_txn_id once that
    // send commits, and `seq` is allocated one at a time.
    if lock_conversation(conn, &new.conversation_id)
        .await?
        .is_none()
    {
        return Ok(AppendOutcome::NotMember);
    }
    let repeated: Option<String> = sqlx::query_scalar(
        "SELECT id FROM messages WHERE conversation_id = $1 AND sender_user_id = $2 AND client_txn_id = $3",
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
        "UPDATE conversations SET last_seq = last_seq + 1, updated_at = GREATEST(updated_at, $1) WHERE id = $2 RETURNING last_seq",
    )
    .bind(new.now.millis())
    .bind(new.conversation_id.as_str())
    .fetch_one(&mut *conn)
    .await
    .map_err(db_error)?;
    sqlx::query("INSERT INTO messages (id, conversation_id, seq, sender_user_id, channel, text, client_txn_id, created_at) VALUES ($1, $2, $3, $4, 'chat', $5, $6, $7)")
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
    sqlx::query("UPDATE members SET last_read_seq = $1 WHERE conversation_id = $2 AND user_id = $3 AND last_read_seq < $1")
        .bind(seq)
        .bind(new.conversation_id.as_str())
        .bind(new.sender.as_str())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    let mut record = EventRecord::new(EventKind::MessageCreated);
    record.conversation_id = Some(new.conversation_id.clone());
    record.message_id = Some(new.id.clone());
    let deliveries = events::append(conn, &members, &record, new.now).await?;
    let message = message_in(conn, new.id.as_str()).await?;
    Ok(AppendOutcome::Created(message, deliveries))
}

#[async_trait]
impl MessageStore for PostgresStore {
    async fn append_message(&self, new: NewMessage) -> StoreResult<AppendOutcome> {
        let mut tx = self.begin().await?;
        let outcome = append_in(&mut tx, &new).await?;
        if matches!(outcome, AppendOutcome::Created(..)) {
            // The commit is durable (synchronous_commit is on by default) before the
            // caller acknowledges the send.
            tx.commit().await.map_err(db_error)?;
        }
        Ok(outcome)
    }

    async fn message(&self, id: &MessageId) -> StoreResult<Option<Message>> {
        let row = sqlx::query(concat!(rows::message_select!(), " WHERE m.id = $1"))
            .bind(id.as_str())
            .fetch_optional(&self.pool)
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
            sqlx::query(concat!(
                rows::message_select!(),
                " WHERE m.conversation_id = $1 AND m.seq > $2 AND m.seq < $3 ORDER BY m.seq ASC LIMIT $4"
            ))
            .bind(conversation.as_str())
            .bind(after)
            .bind(upper)
            .bind(limit + 1)
            .fetch_all(&self.pool)
            .await
        } else {
            sqlx::query(concat!(
                rows::message_select!(),
                " WHERE m.conversation_id = $1 AND m.seq < $2 ORDER BY m.seq DESC LIMIT $3"
            ))
            .bind(conversation.as_str())
            .bind(upper)
            .bind(limit + 1)
            .fetch_all(&self.pool)
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
