//! Statements that run inside a write transaction and read the same in both dialects:
//! small helpers and the body of a message append. Each backend opens the transaction its
//! own way (SQLite: a job on the single writer; PostgreSQL: a pooled transaction that
//! first takes its row locks) and calls these with the connection.
//!
//! Mounted by each backend with `#[path] mod tx;`, like `rows.rs` beside it; calls the
//! backend's `events::append`, whose signature both backends share.

use hilo_core::{ConversationId, EventKind, EventRecord, Message, Timestamp, User, UserId};
use hilo_store::{AppendOutcome, NewMessage, NewSession, StoreResult};

use crate::{db_error, events, rows};

/// The backend's connection, inside a transaction.
pub(crate) type Conn = <crate::Db as sqlx::Database>::Connection;

/// An event about a conversation.
pub(crate) fn record(kind: EventKind, id: &ConversationId) -> EventRecord {
    let mut record = EventRecord::new(kind);
    record.conversation_id = Some(id.clone());
    record
}

pub(crate) async fn user_in(conn: &mut Conn, id: &UserId) -> StoreResult<User> {
    let row = sqlx::query(rows::USER_BY_ID)
        .bind(id.as_str())
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error)?;
    rows::user(&row)
}

pub(crate) async fn insert_session(conn: &mut Conn, new: &NewSession) -> StoreResult<()> {
    sqlx::query("INSERT INTO sessions (id, user_id, token_hash, device_name, ip, created_at, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6, $6)")
        .bind(new.id.as_str())
        .bind(new.user_id.as_str())
        .bind(&new.token_hash)
        .bind(&new.device_name)
        .bind(&new.ip)
        .bind(new.now.millis())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Current member accounts of a conversation, in join order.
pub(crate) async fn member_users(conn: &mut Conn, id: &ConversationId) -> StoreResult<Vec<UserId>> {
    let ids: Vec<String> = sqlx::query_scalar(concat!(
        "SELECT user_id FROM members WHERE conversation_id = $1 AND user_id IS NOT NULL AND left_at IS NULL ORDER BY joined_at, ",
        member_order!()
    ))
    .bind(id.as_str())
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(ids.into_iter().map(UserId::new).collect())
}

pub(crate) async fn insert_member(
    conn: &mut Conn,
    id: &ConversationId,
    user: &UserId,
    role: &str,
    now: Timestamp,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO members (conversation_id, user_id, role, joined_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(id.as_str())
    .bind(user.as_str())
    .bind(role)
    .bind(now.millis())
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// The actor's role if they are a current member; `NotFound` otherwise. Called inside
/// writes so a permission the service checked still holds when the write happens.
pub(crate) async fn require_member(
    conn: &mut Conn,
    id: &ConversationId,
    actor: &UserId,
) -> StoreResult<String> {
    let role: Option<String> = sqlx::query_scalar(
        "SELECT role FROM members WHERE conversation_id = $1 AND user_id = $2 AND left_at IS NULL",
    )
    .bind(id.as_str())
    .bind(actor.as_str())
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_error)?;
    role.ok_or(hilo_store::StoreError::NotFound)
}

/// Moves the conversation's activity time forward (never back) to `now`.
pub(crate) async fn touch(conn: &mut Conn, id: &ConversationId, now: Timestamp) -> StoreResult<()> {
    sqlx::query("UPDATE conversations SET updated_at = CASE WHEN updated_at < $1 THEN $1 ELSE updated_at END WHERE id = $2")
        .bind(now.millis())
        .bind(id.as_str())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

pub(crate) async fn message_in(conn: &mut Conn, id: &str) -> StoreResult<Message> {
    let row = sqlx::query(concat!(rows::message_select!(), " WHERE m.id = $1"))
        .bind(id)
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error)?;
    rows::message(&row)
}

/// Appends a message: returns the original for a repeated `client_txn_id`, refuses a
/// sender who is not a member, otherwise takes the next `seq`, stores the message, moves
/// the sender's read marker to it and appends `message.created` to every member's stream.
/// The caller's transaction makes this atomic and serialises it with other sends in the
/// conversation (the single writer on SQLite; the conversation row lock on PostgreSQL).
pub(crate) async fn append_message(
    conn: &mut Conn,
    new: &NewMessage,
) -> StoreResult<AppendOutcome> {
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
        "UPDATE conversations SET last_seq = last_seq + 1, updated_at = CASE WHEN updated_at < $1 THEN $1 ELSE updated_at END WHERE id = $2 RETURNING last_seq",
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
    let mut record = record(EventKind::MessageCreated, &new.conversation_id);
    record.message_id = Some(new.id.clone());
    let deliveries = events::append(conn, &members, &record, new.now).await?;
    let message = message_in(conn, new.id.as_str()).await?;
    Ok(AppendOutcome::Created(message, deliveries))
}
