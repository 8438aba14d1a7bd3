//! The body of each PostgreSQL write transaction (a pooled `READ COMMITTED` transaction,
//! see `in_transaction!`), and how rows are locked:
//!
//! - `row_lock!()` / `row_lock!(alias)` is the suffix of a `SELECT` that locks what it
//!   reads (`FOR NO KEY UPDATE [OF alias]`);
//! - `events::lock_users` and `events::append` lock and bump the recipients' streams;
//! - `lock_account_creation` serialises account creation across nodes.
//!
//! The lock order every body follows: the conversation row first, then member and session
//! rows, then the recipients' `users` rows in one sorted batch, last.
//!
//! SQLite's bodies (`hilo-store-sqlite/src/tx.rs`) make the same changes in the same order
//! on its single writer thread, without locks; the integration suite runs against both
//! backends and holds them to the same behaviour.

use hilo_core::search::IndexTerms;
use hilo_core::{
    Attachment, AttachmentId, ContactId, ConversationId, EventKind, EventRecord, Message,
    MessageId, SessionId, Timestamp, User, UserId,
};
use hilo_store::sql;
use hilo_store::{
    AppendOutcome, CreateUserOutcome, Delivery, MailJob, MailOutcome, MemberSettingsPatch,
    MembershipChange, MessageChange, NewContactDirect, NewGroup, NewMemberContact, NewMessage,
    NewReceived, NewSession, NewUser, ProfilePatch, ReceivedVia, StoreError, StoreResult,
};

use crate::{db_error, decode, events, lock_account_creation, reads, rows, search};

/// The backend's connection, inside a transaction.
pub(crate) type Conn = sqlx::PgConnection;

/// An event about a conversation.
fn record(kind: EventKind, id: &ConversationId) -> EventRecord {
    let mut record = EventRecord::new(kind);
    record.conversation_id = Some(id.clone());
    record
}

async fn user_in(conn: &mut Conn, id: &UserId) -> StoreResult<User> {
    let row = sqlx::query(rows::USER_BY_ID)
        .bind(id.as_str())
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error)?;
    decode::user(&row)
}

pub(crate) async fn insert_session(conn: &mut Conn, new: &NewSession) -> StoreResult<()> {
    sqlx::query("INSERT INTO sessions (id, user_id, token_hash, device_name, ip, created_at, last_seen_at, agent, network) VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8)")
        .bind(new.id.as_str())
        .bind(new.user_id.as_str())
        .bind(&new.token_hash)
        .bind(&new.device_name)
        .bind(&new.ip)
        .bind(new.now.millis())
        .bind(&new.agent)
        .bind(&new.network)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Current member accounts of a conversation, in join order.
async fn member_users(conn: &mut Conn, id: &ConversationId) -> StoreResult<Vec<UserId>> {
    let ids: Vec<String> = sqlx::query_scalar(rows::MEMBER_USERS)
        .bind(id.as_str())
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(ids.into_iter().map(UserId::new).collect())
}

/// Adds `user` to a conversation on behalf of `inviter` (see `rows::INSERT_MEMBER`).
async fn insert_member(
    conn: &mut Conn,
    id: &ConversationId,
    user: &UserId,
    role: &str,
    inviter: &UserId,
    now: Timestamp,
) -> StoreResult<()> {
    sqlx::query(rows::INSERT_MEMBER)
        .bind(id.as_str())
        .bind(inviter.as_str())
        .bind(user.as_str())
        .bind(role)
        .bind(now.millis())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Locks a conversation's row, the first lock of any write to it; its kind, or `None`
/// when it does not exist.
async fn lock_conversation(conn: &mut Conn, id: &ConversationId) -> StoreResult<Option<String>> {
    sqlx::query_scalar(concat!(
        "SELECT kind FROM conversations WHERE id = $1",
        row_lock!()
    ))
    .bind(id.as_str())
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_error)
}

/// Locks the conversation, then returns the actor's role if they are a current member;
/// `NotFound` otherwise. A permission the service checked still holds when the write runs.
async fn lock_as_member(
    conn: &mut Conn,
    id: &ConversationId,
    actor: &UserId,
) -> StoreResult<String> {
    lock_conversation(conn, id)
        .await?
        .ok_or(StoreError::NotFound)?;
    require_member(conn, id, actor).await
}

/// The actor's role if they are a current member; `NotFound` otherwise.
async fn require_member(
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
    role.ok_or(StoreError::NotFound)
}

/// The email contact `contact` joins conversation `id` at `now` (the contact made if its
/// address is new; a former member rejoins through its old row). False when it already
/// was a member. The conversation is locked by the caller (or new).
async fn add_contact_member(
    conn: &mut Conn,
    id: &ConversationId,
    contact: &NewMemberContact,
    now: Timestamp,
) -> StoreResult<bool> {
    sqlx::query(rows::INSERT_CONTACT)
        .bind(contact.new_id.as_str())
        .bind(&contact.address)
        .bind(&contact.display_name)
        .bind(now.millis())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    let contact: String = sqlx::query_scalar(rows::CONTACT_BY_ADDRESS)
        .bind(&contact.address)
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error)?;
    let member: Option<String> = sqlx::query_scalar(rows::CONTACT_IS_MEMBER)
        .bind(id.as_str())
        .bind(&contact)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?;
    if member.is_some() {
        return Ok(false);
    }
    let rejoined = sqlx::query(rows::REJOIN_CONTACT_MEMBER)
        .bind(now.millis())
        .bind(id.as_str())
        .bind(&contact)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    if rejoined.rows_affected() == 0 {
        sqlx::query(rows::INSERT_CONTACT_MEMBER)
            .bind(id.as_str())
            .bind(&contact)
            .bind(now.millis())
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
    }
    Ok(true)
}

/// Moves the conversation's activity time forward (never back) to `now`.
async fn touch(conn: &mut Conn, id: &ConversationId, now: Timestamp) -> StoreResult<()> {
    sqlx::query("UPDATE conversations SET updated_at = CASE WHEN updated_at < $1 THEN $1 ELSE updated_at END WHERE id = $2")
        .bind(now.millis())
        .bind(id.as_str())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    sync_activity(conn, id).await
}

/// See `rows::SYNC_ACTIVITY`.
async fn sync_activity(conn: &mut Conn, id: &ConversationId) -> StoreResult<()> {
    sqlx::query(rows::SYNC_ACTIVITY)
        .bind(id.as_str())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

async fn message_in(conn: &mut Conn, id: &MessageId) -> StoreResult<Message> {
    reads::message_on(conn, id, None)
        .await?
        .ok_or(StoreError::NotFound)
}

/// Takes the next `seq` of a conversation written to at `now`. The members' copies of the
/// activity time (rows::SYNC_ACTIVITY) move in the same statement: one round trip.
async fn next_seq(conn: &mut Conn, id: &ConversationId, now: Timestamp) -> StoreResult<i64> {
    sqlx::query_scalar(
        "WITH c AS (UPDATE conversations SET last_seq = last_seq + 1, updated_at = CASE WHEN updated_at < $1 THEN $1 ELSE updated_at END WHERE id = $2 RETURNING last_seq, updated_at), \
         s AS (UPDATE members SET activity_at = c.updated_at FROM c WHERE members.conversation_id = $2 AND members.left_at IS NULL AND members.activity_at <> c.updated_at) \
         SELECT last_seq FROM c",
    )
    .bind(now.millis())
    .bind(id.as_str())
    .fetch_one(&mut *conn)
    .await
    .map_err(db_error)
}

/// The members a new message from `sender` (an account's or a contact's id) moves between
/// folders (`rows::ROUTE_TO_SPAM` if it was judged spam, `rows::ROUTE_ON_SEND`) or shows
/// the conversation to again (`rows::REVEALED_BY`), each once.
async fn moved_by_message(
    conn: &mut Conn,
    id: &ConversationId,
    sender: &str,
    spam: bool,
) -> StoreResult<Vec<String>> {
    let mut moved: Vec<String> = if spam {
        sqlx::query_scalar(rows::ROUTE_TO_SPAM)
            .bind(id.as_str())
            .bind(sender)
            .fetch_all(&mut *conn)
            .await
            .map_err(db_error)?
    } else {
        Vec::new()
    };
    let routed: Vec<String> = sqlx::query_scalar(rows::ROUTE_ON_SEND)
        .bind(id.as_str())
        .bind(sender)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;
    moved.extend(routed);
    let revealed: Vec<String> = sqlx::query_scalar(rows::REVEALED_BY)
        .bind(id.as_str())
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;
    moved.extend(
        revealed
            .into_iter()
            .filter(|u| !moved.contains(u))
            .collect::<Vec<_>>(),
    );
    Ok(moved)
}

/// Appends a message: returns the original for a repeated `client_txn_id`, refuses a
/// sender who is not a member, otherwise takes the next `seq`, stores the message, moves
/// the sender's read marker to it and appends `message.created` to every member's stream.
/// The caller's transaction makes this atomic and serialises it with other sends in the
/// conversation (the single writer on SQLite; the conversation row lock on PostgreSQL).
pub(crate) async fn append_message(
    conn: &mut Conn,
    new: &NewMessage,
    terms: &IndexTerms,
) -> StoreResult<AppendOutcome> {
    // The conversation lock first: it serialises sends here across every node, so the
    // repeat check sees a concurrent send of the same client_txn_id once that send commits.
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
        return Ok(AppendOutcome::Repeated(
            message_in(conn, &MessageId::new(id)).await?,
        ));
    }
    let members = member_users(conn, &new.conversation_id).await?;
    if !members.contains(&new.sender) {
        return Ok(AppendOutcome::NotMember);
    }
    if let Some(quoted) = &new.reply_to {
        let live: Option<bool> = sqlx::query_scalar(
            "SELECT NOT deleted FROM messages WHERE id = $1 AND conversation_id = $2",
        )
        .bind(quoted.as_str())
        .bind(new.conversation_id.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?;
        if live != Some(true) {
            return Ok(AppendOutcome::InvalidReply);
        }
    }
    for attachment in &new.attachments {
        let sendable: bool = sqlx::query_scalar(rows::ATTACHMENT_SENDABLE)
            .bind(attachment.as_str())
            .bind(new.sender.as_str())
            .fetch_one(&mut *conn)
            .await
            .map_err(db_error)?;
        // The update locks the row and re-checks it: an orphan sweep that marked it
        // deleted a moment ago wins, and this send is refused instead of pointing at
        // bytes about to go.
        let live = sqlx::query(
            "UPDATE attachments SET sent_at = COALESCE(sent_at, $1) WHERE id = $2 AND deleted_at IS NULL",
        )
        .bind(new.now.millis())
        .bind(attachment.as_str())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?
        .rows_affected();
        if !sendable || live == 0 {
            return Ok(AppendOutcome::InvalidAttachment);
        }
    }
    let seq = next_seq(conn, &new.conversation_id, new.now).await?;
    let search = search::new_message_vector(conn, terms.clone(), &new.attachments).await?;
    // Its search postings follow from `search` (the trigger of migration 16).
    sqlx::query("INSERT INTO messages (id, conversation_id, seq, sender_user_id, channel, text, client_txn_id, created_at, reply_to_id, mentions, forwarded, location_lat, location_lon, location_label, search) VALUES ($1, $2, $3, $4, $15, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::tsvector)")
        .bind(new.id.as_str())
        .bind(new.conversation_id.as_str())
        .bind(seq)
        .bind(new.sender.as_str())
        .bind(&new.text)
        .bind(&new.client_txn_id)
        .bind(new.now.millis())
        .bind(new.reply_to.as_ref().map(MessageId::as_str))
        .bind(sql::join_ids(&new.mentions))
        .bind(new.forwarded)
        .bind(new.location.as_ref().map(|l| l.lat))
        .bind(new.location.as_ref().map(|l| l.lon))
        .bind(new.location.as_ref().and_then(|l| l.label.as_deref()))
        .bind(search)
        .bind(new.channel.as_str())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    insert_message_attachments(conn, &new.id, &new.attachments).await?;
    if let Some(email) = &new.email {
        insert_received_email(
            conn,
            &new.id,
            &new.conversation_id,
            &email.meta,
            &email.full_text,
            email.html.as_deref(),
        )
        .await?;
    }
    if let Some(sms) = &new.sms {
        insert_sms(conn, &new.id, &new.conversation_id, sms).await?;
    }
    // Mailed (or texted) to the conversation's contacts, if it has any.
    sqlx::query(rows::ENQUEUE_MAIL)
        .bind(new.id.as_str())
        .bind(new.conversation_id.as_str())
        .bind(new.now.millis())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    // Sending means having read everything up to one's own message.
    sqlx::query("UPDATE members SET last_read_seq = $1, delivered_seq = GREATEST(delivered_seq, $1) WHERE conversation_id = $2 AND user_id = $3 AND last_read_seq < $1")
        .bind(seq)
        .bind(new.conversation_id.as_str())
        .bind(new.sender.as_str())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    let moved = moved_by_message(conn, &new.conversation_id, new.sender.as_str(), new.spam).await?;
    // The move first: a client sees the conversation change folder, then the message.
    // Two appends: lock every recipient in one sorted batch first.
    events::lock_users(conn, &members).await?;
    let moved = events::append(
        conn,
        &moved.into_iter().map(UserId::new).collect::<Vec<_>>(),
        &record(EventKind::ConversationUpdated, &new.conversation_id),
        new.now,
    )
    .await?;
    let mut record = record(EventKind::MessageCreated, &new.conversation_id);
    record.message_id = Some(new.id.clone());
    let deliveries = events::append(conn, &members, &record, new.now).await?;
    // A new message has no reactions: one read for its row, one more only for files.
    let mut message = reads::message_row_on(conn, &new.id)
        .await?
        .ok_or(StoreError::NotFound)?;
    if !new.attachments.is_empty() {
        let rows = reads::attachments_of(conn, &new.id).await?;
        sql::with_attachments(std::slice::from_mut(&mut message), rows);
    }
    Ok(AppendOutcome::Created(message, deliveries, moved))
}

/// The message an actor wants to change, read under its conversation's lock, if it exists
/// in a conversation the actor is a current member of; otherwise the answer to give.
/// The conversation of a message, if the message exists.
async fn conversation_of(conn: &mut Conn, id: &MessageId) -> StoreResult<Option<ConversationId>> {
    let conversation: Option<String> =
        sqlx::query_scalar("SELECT conversation_id FROM messages WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_error)?;
    Ok(conversation.map(ConversationId::new))
}

async fn target(
    conn: &mut Conn,
    id: &MessageId,
    actor: &UserId,
) -> StoreResult<Result<Message, MessageChange>> {
    let Some(conversation) = conversation_of(conn, id).await? else {
        return Ok(Err(MessageChange::NotFound));
    };
    match lock_as_member(conn, &conversation, actor).await {
        Ok(_) => {}
        Err(StoreError::NotFound) => return Ok(Err(MessageChange::NotFound)),
        Err(other) => return Err(other),
    }
    Ok(Ok(message_in(conn, id).await?))
}

/// A target only its sender may change.
async fn own_target(
    conn: &mut Conn,
    id: &MessageId,
    actor: &UserId,
) -> StoreResult<Result<Message, MessageChange>> {
    Ok(match target(conn, id, actor).await? {
        Ok(message) if message.sender_user() != Some(actor) => Err(MessageChange::NotSender),
        other => other,
    })
}

/// Appends `message.updated` for a changed message to the stream of every current member
/// who has not hidden it, and returns it as it is now.
async fn updated(
    conn: &mut Conn,
    id: &MessageId,
    conversation: &ConversationId,
    now: Timestamp,
) -> StoreResult<MessageChange> {
    let hidden: Vec<String> = sqlx::query_scalar(rows::HIDDEN_BY)
        .bind(id.as_str())
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;
    let (members, hiders): (Vec<UserId>, Vec<UserId>) = member_users(conn, conversation)
        .await?
        .into_iter()
        .partition(|member| !hidden.iter().any(|h| h == member.as_str()));
    // Several appends: lock every member in one sorted batch first.
    events::lock_users(conn, &[members.clone(), hiders.clone()].concat()).await?;
    let mut record = record(EventKind::MessageUpdated, conversation);
    record.message_id = Some(id.clone());
    let deliveries = events::append(conn, &members, &record, now).await?;
    let mut replies: Vec<(Message, Vec<Delivery>)> = Vec::new();
    for hider in &hiders {
        let seen: Vec<String> = sqlx::query_scalar(rows::VISIBLE_REPLIES_TO)
            .bind(id.as_str())
            .bind(hider.as_str())
            .fetch_all(&mut *conn)
            .await
            .map_err(db_error)?;
        for reply in seen.into_iter().map(MessageId::new) {
            record.message_id = Some(reply.clone());
            let told = events::append(conn, std::slice::from_ref(hider), &record, now).await?;
            match replies.iter_mut().find(|(m, _)| m.id == reply) {
                Some((_, all)) => all.extend(told),
                None => replies.push((message_in(conn, &reply).await?, told)),
            }
        }
    }
    Ok(MessageChange::Changed(
        message_in(conn, id).await?,
        deliveries,
        replies,
    ))
}

pub(crate) async fn edit_message(
    conn: &mut Conn,
    id: &MessageId,
    editor: &UserId,
    text: &str,
    mentions: &[UserId],
    terms: IndexTerms,
    now: Timestamp,
) -> StoreResult<MessageChange> {
    let message = match own_target(conn, id, editor).await? {
        Ok(message) if message.deleted => return Ok(MessageChange::Deleted),
        Ok(message) => message,
        Err(answer) => return Ok(answer),
    };
    if message.text.as_deref() == Some(text) {
        return Ok(MessageChange::Unchanged(message));
    }
    if let Some(previous) = &message.text {
        sqlx::query("INSERT INTO message_versions (message_id, version, text, replaced_at) SELECT $1, COALESCE(MAX(version), 0) + 1, $2, $3 FROM message_versions WHERE message_id = $1")
            .bind(id.as_str())
            .bind(previous)
            .bind(now.millis())
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
    }
    let search = search::edited_message_vector(conn, id, terms).await?;
    sqlx::query("UPDATE messages SET text = $1, mentions = $2, edited_at = $3, search = $4::tsvector WHERE id = $5")
        .bind(text)
        .bind(sql::join_ids(mentions))
        .bind(now.millis())
        .bind(search)
        .bind(id.as_str())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    sqlx::query(rows::FORGET_EMAIL_BODY)
        .bind(id.as_str())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    updated(conn, id, &message.conversation_id, now).await
}

pub(crate) async fn delete_message(
    conn: &mut Conn,
    id: &MessageId,
    actor: Option<&UserId>,
    now: Timestamp,
) -> StoreResult<MessageChange> {
    let target = match actor {
        Some(actor) => own_target(conn, id, actor).await?,
        // A moderator: any message, under its conversation's lock.
        None => match conversation_of(conn, id).await? {
            Some(conversation) => {
                lock_conversation(conn, &conversation).await?;
                Ok(message_in(conn, id).await?)
            }
            None => Err(MessageChange::NotFound),
        },
    };
    let message = match target {
        Ok(message) if message.deleted => return Ok(MessageChange::Unchanged(message)),
        Ok(message) => message,
        Err(answer) => return Ok(answer),
    };
    sqlx::query(rows::DOOM_ATTACHMENTS_OF)
        .bind(now.millis())
        .bind(id.as_str())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    for statement in [
        "DELETE FROM message_attachments WHERE message_id = $1",
        "UPDATE messages SET deleted = TRUE, text = NULL, mentions = NULL, location_lat = NULL, location_lon = NULL, location_label = NULL, search = NULL WHERE id = $1",
        rows::BLANK_EMAIL,
        "DELETE FROM reactions WHERE message_id = $1",
        "DELETE FROM message_versions WHERE message_id = $1",
    ] {
        sqlx::query(statement)
            .bind(id.as_str())
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
    }
    updated(conn, id, &message.conversation_id, now).await
}

pub(crate) async fn react(
    conn: &mut Conn,
    id: &MessageId,
    user: &UserId,
    emoji: &str,
    add: bool,
    max_per_user: usize,
    now: Timestamp,
) -> StoreResult<MessageChange> {
    let message = match target(conn, id, user).await? {
        Ok(message) if message.deleted => return Ok(MessageChange::Deleted),
        Ok(message) => message,
        Err(answer) => return Ok(answer),
    };
    let changed = if add {
        let mine: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM reactions WHERE message_id = $1 AND user_id = $2 AND emoji <> $3",
        )
        .bind(id.as_str())
        .bind(user.as_str())
        .bind(emoji)
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error)?;
        if usize::try_from(mine).unwrap_or(usize::MAX) >= max_per_user {
            return Ok(MessageChange::TooManyReactions);
        }
        sqlx::query("INSERT INTO reactions (message_id, user_id, emoji, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
            .bind(id.as_str())
            .bind(user.as_str())
            .bind(emoji)
            .bind(now.millis())
            .execute(&mut *conn)
            .await
    } else {
        sqlx::query("DELETE FROM reactions WHERE message_id = $1 AND user_id = $2 AND emoji = $3")
            .bind(id.as_str())
            .bind(user.as_str())
            .bind(emoji)
            .execute(&mut *conn)
            .await
    }
    .map_err(db_error)?
    .rows_affected();
    if changed == 0 {
        return Ok(MessageChange::Unchanged(message));
    }
    updated(conn, id, &message.conversation_id, now).await
}

pub(crate) async fn hide_message(
    conn: &mut Conn,
    id: &MessageId,
    user: &UserId,
    now: Timestamp,
) -> StoreResult<Option<(Message, Option<Delivery>)>> {
    let message = match target(conn, id, user).await? {
        Ok(message) => message,
        Err(_) => return Ok(None),
    };
    let hidden = sqlx::query("INSERT INTO hidden_messages (user_id, message_id, hidden_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
        .bind(user.as_str())
        .bind(id.as_str())
        .bind(now.millis())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?
        .rows_affected();
    if hidden == 0 {
        return Ok(Some((message, None)));
    }
    let mut record = record(EventKind::MessageHidden, &message.conversation_id);
    record.message_id = Some(id.clone());
    let delivery = events::append(conn, std::slice::from_ref(user), &record, now)
        .await?
        .pop();
    Ok(Some((message, delivery)))
}

/// Revokes the given live sessions of `user` and appends `session.revoked` for each.
pub(crate) async fn revoke_sessions(
    conn: &mut Conn,
    user: &UserId,
    sessions: Vec<String>,
    now: Timestamp,
) -> StoreResult<Vec<(SessionId, Delivery)>> {
    let mut out = Vec::with_capacity(sessions.len());
    for session in sessions {
        sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2")
            .bind(now.millis())
            .bind(&session)
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
        let session = SessionId::new(session);
        let mut record = EventRecord::new(EventKind::SessionRevoked);
        record.session_id = Some(session.clone());
        let mut deliveries = events::append(conn, std::slice::from_ref(user), &record, now).await?;
        if let Some(delivery) = deliveries.pop() {
            out.push((session, delivery));
        }
    }
    Ok(out)
}

/// Creates an account with the first-is-admin rule and invite redemption.
pub(crate) async fn create_user(conn: &mut Conn, new: &NewUser) -> StoreResult<CreateUserOutcome> {
    lock_account_creation(conn).await?;
    let first: bool =
        sqlx::query_scalar("SELECT NOT EXISTS (SELECT 1 FROM users WHERE deleted_at IS NULL)")
            .fetch_one(&mut *conn)
            .await
            .map_err(db_error)?;
    // The very first account bootstraps the server, so it needs no invite. The invite is
    // judged before the username, so a made-up code cannot be used to learn which
    // usernames exist.
    let redeem = new.invite_required && !first;
    if redeem {
        let valid: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM invites WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2)",
        )
        .bind(new.invite_hash.as_deref().unwrap_or(""))
        .bind(new.now.millis())
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error)?;
        if !valid {
            return Ok(CreateUserOutcome::InviteInvalid);
        }
    }
    let inserted = sqlx::query("INSERT INTO users (id, username, display_name, password_hash, is_admin, created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (username) DO NOTHING")
        .bind(new.id.as_str())
        .bind(&new.username)
        .bind(&new.display_name)
        .bind(&new.password_hash)
        .bind(first || new.force_admin)
        .bind(new.now.millis())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    if inserted.rows_affected() == 0 {
        return Ok(CreateUserOutcome::UsernameTaken);
    }
    if redeem {
        // Account creation is serialised: the code checked above is still unused here.
        sqlx::query("UPDATE invites SET used_by = $1, used_at = $2 WHERE code_hash = $3")
            .bind(new.id.as_str())
            .bind(new.now.millis())
            .bind(new.invite_hash.as_deref().unwrap_or(""))
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
    }
    if let Some(session) = &new.session {
        insert_session(conn, session).await?;
    }
    Ok(CreateUserOutcome::Created(user_in(conn, &new.id).await?))
}

pub(crate) async fn update_profile(
    conn: &mut Conn,
    id: &UserId,
    patch: &ProfilePatch,
    now: Timestamp,
) -> StoreResult<(User, Vec<Delivery>)> {
    let before = user_in(conn, id).await?;
    // Everyone who may hear of it, locked in id order before the user's own row is
    // written: the one order every write locks `users` rows in.
    let mut recipients = vec![id.clone()];
    if patch
        .display_name
        .as_ref()
        .is_some_and(|name| *name != before.display_name)
    {
        let others: Vec<String> = sqlx::query_scalar(rows::NAME_AUDIENCE)
            .bind(id.as_str())
            .fetch_all(&mut *conn)
            .await
            .map_err(db_error)?;
        recipients.extend(others.into_iter().map(UserId::new));
    }
    events::lock_users(conn, &recipients).await?;
    let settings = patch.settings.as_ref();
    let done = sqlx::query("UPDATE users SET display_name = coalesce($2, display_name), who_can_message = coalesce($3, who_can_message), last_seen_visibility = coalesce($4, last_seen_visibility), read_receipts = coalesce($5, read_receipts) WHERE id = $1")
        .bind(id.as_str())
        .bind(&patch.display_name)
        .bind(settings.map(|s| s.who_can_message.as_str()))
        .bind(settings.map(|s| s.last_seen_visibility.as_str()))
        .bind(settings.map(|s| s.read_receipts))
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    let after = user_in(conn, id).await?;
    if after == before {
        return Ok((after, Vec::new()));
    }
    let mut event = EventRecord::new(EventKind::UserUpdated);
    event.subject_user_id = Some(id.clone());
    let deliveries = events::append(conn, &recipients, &event, now).await?;
    Ok((after, deliveries))
}

pub(crate) async fn set_admin(conn: &mut Conn, id: &UserId, is_admin: bool) -> StoreResult<()> {
    let done = sqlx::query("UPDATE users SET is_admin = $1 WHERE id = $2")
        .bind(is_admin)
        .bind(id.as_str())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    if done.rows_affected() == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

/// Replaces the password hash and revokes every live session but `keep`.
pub(crate) async fn set_password(
    conn: &mut Conn,
    id: &UserId,
    password_hash: &str,
    keep: Option<&SessionId>,
    now: Timestamp,
) -> StoreResult<Vec<(SessionId, Delivery)>> {
    // Sessions first, then the user's row, as `revoke_session` does: the same lock order
    // in both, so a password change racing a logout cannot deadlock.
    let sessions: Vec<String> = sqlx::query_scalar(concat!(
        "SELECT id FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND id IS DISTINCT FROM $2 ORDER BY id",
        row_lock!()
    ))
    .bind(id.as_str())
    .bind(keep.map(|k| k.as_str()))
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    let done = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
        .bind(password_hash)
        .bind(id.as_str())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    revoke_sessions(conn, id, sessions, now).await
}

pub(crate) async fn touch_session(
    conn: &mut Conn,
    id: &SessionId,
    now: Timestamp,
) -> StoreResult<()> {
    sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND last_seen_at < $1")
        .bind(now.millis())
        .bind(id.as_str())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Revokes one live session of `user`; `None` when there is no such session.
pub(crate) async fn revoke_session(
    conn: &mut Conn,
    user: &UserId,
    session: &SessionId,
    now: Timestamp,
) -> StoreResult<Option<Delivery>> {
    // The row lock makes a concurrent revocation of the same session (from another node)
    // wait, then find it revoked: one `session.revoked` event, not two.
    let live: Option<String> = sqlx::query_scalar(concat!(
        "SELECT id FROM sessions WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
        row_lock!()
    ))
    .bind(session.as_str())
    .bind(user.as_str())
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_error)?;
    let Some(live) = live else { return Ok(None) };
    let mut revoked = revoke_sessions(conn, user, vec![live], now).await?;
    Ok(revoked.pop().map(|(_, delivery)| delivery))
}

pub(crate) async fn create_invite(
    conn: &mut Conn,
    code_hash: &str,
    created_by: Option<&UserId>,
    now: Timestamp,
    expires_at: Timestamp,
) -> StoreResult<()> {
    sqlx::query("INSERT INTO invites (code_hash, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(code_hash)
        .bind(created_by.map(|b| b.as_str()))
        .bind(now.millis())
        .bind(expires_at.millis())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// The direct conversation of the pair (`low`, `high`, in sorted order), created with
/// `id` if there is none; whether this call created it, and the events it appended.
pub(crate) async fn find_or_create_direct(
    conn: &mut Conn,
    id: &ConversationId,
    low: &UserId,
    high: &UserId,
    opener: &UserId,
    now: Timestamp,
) -> StoreResult<(ConversationId, bool, Vec<Delivery>)> {
    let key = hilo_store::sql::direct_key(low, high);
    // Two nodes creating the same pair at once: the second INSERT waits for the first
    // transaction, then does nothing, and the SELECT (a new snapshot) finds its row.
    let created: Option<String> = sqlx::query_scalar("INSERT INTO conversations (id, kind, direct_key, created_at, updated_at) VALUES ($1, 'direct', $2, $3, $3) ON CONFLICT (direct_key) DO NOTHING RETURNING id")
        .bind(id.as_str())
        .bind(&key)
        .bind(now.millis())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?;
    if created.is_none() {
        let existing: String =
            sqlx::query_scalar("SELECT id FROM conversations WHERE direct_key = $1")
                .bind(&key)
                .fetch_one(&mut *conn)
                .await
                .map_err(db_error)?;
        let existing = ConversationId::new(existing);
        let reopened = sqlx::query(rows::REOPEN)
            .bind(existing.as_str())
            .bind(opener.as_str())
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
        let deliveries = if reopened.rows_affected() == 0 {
            Vec::new()
        } else {
            let record = record(EventKind::ConversationUpdated, &existing);
            events::append(conn, std::slice::from_ref(opener), &record, now).await?
        };
        return Ok((existing, false, deliveries));
    }
    let mut members = vec![low.clone()];
    if high != low {
        members.push(high.clone());
    }
    for user in &members {
        insert_member(conn, id, user, "member", opener, now).await?;
    }
    let deliveries = events::append(
        conn,
        &members,
        &record(EventKind::ConversationCreated, id),
        now,
    )
    .await?;
    Ok((id.clone(), true, deliveries))
}

pub(crate) async fn create_group(conn: &mut Conn, group: &NewGroup) -> StoreResult<Vec<Delivery>> {
    sqlx::query("INSERT INTO conversations (id, kind, name, created_at, updated_at) VALUES ($1, 'group', $2, $3, $3)")
        .bind(group.id.as_str())
        .bind(&group.name)
        .bind(group.now.millis())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    insert_member(
        conn,
        &group.id,
        &group.creator,
        "admin",
        &group.creator,
        group.now,
    )
    .await?;
    for user in group.members.iter().filter(|u| **u != group.creator) {
        insert_member(conn, &group.id, user, "member", &group.creator, group.now).await?;
    }
    for contact in &group.contacts {
        add_contact_member(conn, &group.id, contact, group.now).await?;
    }
    let members = member_users(conn, &group.id).await?;
    events::append(
        conn,
        &members,
        &record(EventKind::ConversationCreated, &group.id),
        group.now,
    )
    .await
}

pub(crate) async fn rename_group(
    conn: &mut Conn,
    id: &ConversationId,
    actor: &UserId,
    name: &str,
    now: Timestamp,
) -> StoreResult<Vec<Delivery>> {
    lock_as_member(conn, id, actor).await?;
    let done = sqlx::query("UPDATE conversations SET name = $1 WHERE id = $2 AND kind = 'group'")
        .bind(name)
        .bind(id.as_str())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    touch(conn, id, now).await?;
    let members = member_users(conn, id).await?;
    events::append(
        conn,
        &members,
        &record(EventKind::ConversationUpdated, id),
        now,
    )
    .await
}

pub(crate) async fn add_members(
    conn: &mut Conn,
    id: &ConversationId,
    actor: &UserId,
    users: &[UserId],
    contacts: &[NewMemberContact],
    max_members: usize,
    now: Timestamp,
) -> StoreResult<MembershipChange> {
    lock_as_member(conn, id, actor).await?;
    let before = member_users(conn, id).await?;
    let mut added: Vec<UserId> = Vec::new();
    for user in users {
        if !before.contains(user) && !added.contains(user) {
            added.push(user.clone());
        }
    }
    let mut joined = 0;
    for contact in contacts {
        if add_contact_member(conn, id, contact, now).await? {
            joined += 1;
        }
    }
    let count: i64 = sqlx::query_scalar(rows::MEMBER_COUNT)
        .bind(id.as_str())
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error)?;
    if count as usize + added.len() > max_members {
        // The contacts' rows go with the transaction.
        return Err(StoreError::Conflict("too_many_members"));
    }
    if added.is_empty() && joined == 0 {
        return Ok(MembershipChange::default());
    }
    for user in &added {
        // A former member rejoins through their old row (keeping their read marker);
        // anyone else gets a new one.
        let rejoined = sqlx::query(rows::REJOIN_MEMBER)
            .bind(now.millis())
            .bind(actor.as_str())
            .bind(id.as_str())
            .bind(user.as_str())
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
        if rejoined.rows_affected() == 0 {
            insert_member(conn, id, user, "member", actor, now).await?;
        }
    }
    touch(conn, id, now).await?;
    // Two appends below: lock every affected user in one sorted batch first.
    let everyone: Vec<UserId> = added.iter().chain(&before).cloned().collect();
    events::lock_users(conn, &everyone).await?;
    let mut deliveries = events::append(
        conn,
        &added,
        &record(EventKind::ConversationCreated, id),
        now,
    )
    .await?;
    deliveries.extend(
        events::append(
            conn,
            &before,
            &record(EventKind::ConversationUpdated, id),
            now,
        )
        .await?,
    );
    Ok(MembershipChange {
        changed: added,
        deliveries,
    })
}

pub(crate) async fn remove_member(
    conn: &mut Conn,
    id: &ConversationId,
    actor: &UserId,
    user: &UserId,
    now: Timestamp,
) -> StoreResult<MembershipChange> {
    let actor_role = lock_as_member(conn, id, actor).await?;
    if actor != user && actor_role != "admin" {
        return Err(StoreError::Conflict("not_group_admin"));
    }
    let role: Option<String> = sqlx::query_scalar("UPDATE members SET left_at = $1 WHERE conversation_id = $2 AND user_id = $3 AND left_at IS NULL RETURNING role")
        .bind(now.millis())
        .bind(id.as_str())
        .bind(user.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?;
    let Some(role) = role else {
        return Ok(MembershipChange::default());
    };
    if role == "admin" {
        // A group is never left without an admin: the longest-standing member takes over
        // when the last one goes.
        sqlx::query(concat!(
            "UPDATE members SET role = 'admin' WHERE ",
            member_order!(),
            " = (SELECT ",
            member_order!(),
            " FROM members WHERE conversation_id = $1 AND left_at IS NULL AND user_id IS NOT NULL ORDER BY joined_at, ",
            member_order!(),
            " LIMIT 1) AND NOT EXISTS (SELECT 1 FROM members WHERE conversation_id = $1 AND left_at IS NULL AND role = 'admin')"
        ))
        .bind(id.as_str())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    }
    touch(conn, id, now).await?;
    let mut affected = member_users(conn, id).await?;
    affected.push(user.clone());
    let mut event = record(EventKind::ConversationUpdated, id);
    event.subject_user_id = Some(user.clone());
    let deliveries = events::append(conn, &affected, &event, now).await?;
    Ok(MembershipChange {
        changed: vec![user.clone()],
        deliveries,
    })
}

/// An email contact leaves a group (see `ConversationStore::remove_contact`).
pub(crate) async fn remove_contact(
    conn: &mut Conn,
    id: &ConversationId,
    actor: Option<&UserId>,
    address: &str,
    now: Timestamp,
) -> StoreResult<MembershipChange> {
    match actor {
        Some(actor) => {
            if lock_as_member(conn, id, actor).await? != "admin" {
                return Err(StoreError::Conflict("not_group_admin"));
            }
        }
        None => {
            lock_conversation(conn, id)
                .await?
                .ok_or(StoreError::NotFound)?;
        }
    }
    let left = sqlx::query(rows::LEAVE_CONTACT)
        .bind(now.millis())
        .bind(id.as_str())
        .bind(address)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    if left.rows_affected() == 0 {
        return Ok(MembershipChange::default());
    }
    touch(conn, id, now).await?;
    let members = member_users(conn, id).await?;
    events::lock_users(conn, &members).await?;
    let deliveries = events::append(
        conn,
        &members,
        &record(EventKind::ConversationUpdated, id),
        now,
    )
    .await?;
    Ok(MembershipChange {
        changed: Vec::new(),
        deliveries,
    })
}

pub(crate) async fn update_member_settings(
    conn: &mut Conn,
    id: &ConversationId,
    user: &UserId,
    patch: &MemberSettingsPatch,
    now: Timestamp,
) -> StoreResult<Option<Delivery>> {
    let done = sqlx::query(
        "UPDATE members SET folder = coalesce($1, folder), notify = coalesce($2, notify), muted_until = CASE WHEN $3 THEN $4 ELSE muted_until END, pinned = coalesce($7, pinned) WHERE conversation_id = $5 AND user_id = $6 AND left_at IS NULL",
    )
    .bind(patch.folder.map(|f| f.as_str()))
    .bind(patch.notify.map(|n| n.as_str()))
    .bind(patch.muted_until.is_some())
    .bind(patch.muted_until.flatten().map(|t| t.millis()))
    .bind(id.as_str())
    .bind(user.as_str())
    .bind(patch.pinned)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Ok(None);
    }
    let mut deliveries = events::append(
        conn,
        std::slice::from_ref(user),
        &record(EventKind::ConversationUpdated, id),
        now,
    )
    .await?;
    Ok(deliveries.pop())
}

/// Moves the reader's marker forward to `seq` (clamped to the newest message).
pub(crate) async fn mark_read(
    conn: &mut Conn,
    id: &ConversationId,
    user: &UserId,
    seq: i64,
    share: bool,
    now: Timestamp,
) -> StoreResult<(i64, Vec<Delivery>)> {
    // The member row's lock makes two concurrent marks of the same reader apply one after
    // the other, so the marker only moves forward.
    let current: Option<(i64, i64)> = sqlx::query_as(concat!(
        "SELECT m.last_read_seq, c.last_seq FROM members m JOIN conversations c ON c.id = m.conversation_id WHERE m.conversation_id = $1 AND m.user_id = $2 AND m.left_at IS NULL",
        row_lock!(m)
    ))
    .bind(id.as_str())
    .bind(user.as_str())
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_error)?;
    let Some((last_read, last_seq)) = current else {
        return Err(StoreError::NotFound);
    };
    let target = seq.min(last_seq);
    if target <= last_read {
        return Ok((last_read, Vec::new()));
    }
    // Reading implies having received.
    sqlx::query(
        "UPDATE members SET last_read_seq = $1, delivered_seq = GREATEST(delivered_seq, $1) WHERE conversation_id = $2 AND user_id = $3",
    )
    .bind(target)
    .bind(id.as_str())
    .bind(user.as_str())
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    // The reader's own devices always hear of it; the others only when the reader shares
    // read receipts, and only those who share theirs (receipts off works both ways).
    let mut recipients = vec![user.clone()];
    if share {
        let sharers = reads::receipts(&mut *conn, id).await?;
        recipients.extend(
            sharers
                .into_iter()
                .filter(|r| r.shares_reads && r.user != *user)
                .map(|r| r.user),
        );
    }
    let mut event = record(EventKind::Read, id);
    event.subject_user_id = Some(user.clone());
    event.number = Some(target);
    let deliveries = events::append(conn, &recipients, &event, now).await?;
    Ok((target, deliveries))
}

pub(crate) async fn create_attachment(conn: &mut Conn, a: &Attachment) -> StoreResult<()> {
    sqlx::query("INSERT INTO attachments (id, uploader_id, name, content_type, size, width, height, has_thumbnail, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
        .bind(a.id.as_str())
        .bind(a.uploader.as_str())
        .bind(&a.name)
        .bind(&a.content_type)
        .bind(a.size)
        .bind(a.width)
        .bind(a.height)
        .bind(a.has_thumbnail)
        .bind(a.created_at.millis())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

pub(crate) async fn doom_orphans(
    conn: &mut Conn,
    cutoff: Timestamp,
    now: Timestamp,
) -> StoreResult<u64> {
    Ok(sqlx::query(rows::DOOM_ORPHANS)
        .bind(now.millis())
        .bind(cutoff.millis())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?
        .rows_affected())
}

pub(crate) async fn forget_attachment(conn: &mut Conn, id: &AttachmentId) -> StoreResult<()> {
    sqlx::query("DELETE FROM attachments WHERE id = $1 AND deleted_at IS NOT NULL")
        .bind(id.as_str())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Moves a member's delivery marker forward and tells the senders of what it covers. The
/// conversation's lock comes first, as for every write to it.
pub(crate) async fn mark_delivered(
    conn: &mut Conn,
    id: &ConversationId,
    user: &UserId,
    seq: i64,
    now: Timestamp,
) -> StoreResult<Vec<Delivery>> {
    if lock_conversation(conn, id).await?.is_none() {
        return Ok(Vec::new());
    }
    let current: Option<i64> = sqlx::query_scalar(concat!(
        "SELECT delivered_seq FROM members WHERE conversation_id = $1 AND user_id = $2 AND left_at IS NULL",
        row_lock!()
    ))
    .bind(id.as_str())
    .bind(user.as_str())
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_error)?;
    let Some(current) = current.filter(|current| *current < seq) else {
        return Ok(Vec::new());
    };
    sqlx::query(
        "UPDATE members SET delivered_seq = $1 WHERE conversation_id = $2 AND user_id = $3",
    )
    .bind(seq)
    .bind(id.as_str())
    .bind(user.as_str())
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    let senders: Vec<String> = sqlx::query_scalar(rows::SENDERS_BETWEEN)
        .bind(id.as_str())
        .bind(current)
        .bind(user.as_str())
        .bind(seq)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;
    let members = member_users(conn, id).await?;
    let recipients: Vec<UserId> = members
        .into_iter()
        .filter(|m| senders.iter().any(|s| s == m.as_str()))
        .collect();
    let mut event = record(EventKind::Delivered, id);
    event.subject_user_id = Some(user.clone());
    event.number = Some(seq);
    events::append(conn, &recipients, &event, now).await
}

pub(crate) async fn clear_conversation(
    conn: &mut Conn,
    id: &ConversationId,
    user: &UserId,
    now: Timestamp,
) -> StoreResult<Option<Delivery>> {
    if lock_conversation(conn, id).await?.is_none() {
        return Ok(None);
    }
    let cleared = sqlx::query(rows::CLEAR_CONVERSATION)
        .bind(id.as_str())
        .bind(user.as_str())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    if cleared.rows_affected() == 0 {
        return Ok(None);
    }
    let deliveries = events::append(
        conn,
        std::slice::from_ref(user),
        &record(EventKind::ConversationUpdated, id),
        now,
    )
    .await?;
    Ok(deliveries.into_iter().next())
}

/// The direct conversation between `user` and the email contact at `address` (made with
/// the given ids if needed, `user` in `folder`), locked; whether it was made just now,
/// and the contact's id.
#[allow(clippy::too_many_arguments)]
async fn contact_direct(
    conn: &mut Conn,
    user: &UserId,
    new_contact_id: &ContactId,
    address: &str,
    display_name: &str,
    new_conversation_id: &ConversationId,
    folder: &str,
    now: Timestamp,
) -> StoreResult<(ConversationId, ContactId, bool)> {
    sqlx::query(rows::INSERT_CONTACT)
        .bind(new_contact_id.as_str())
        .bind(address)
        .bind(display_name)
        .bind(now.millis())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    let contact: String = sqlx::query_scalar(rows::CONTACT_BY_ADDRESS)
        .bind(address)
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error)?;
    let contact = ContactId::new(contact);
    let key = sql::contact_direct_key(user, &contact);
    let created: Option<String> = sqlx::query_scalar(rows::INSERT_DIRECT)
        .bind(new_conversation_id.as_str())
        .bind(&key)
        .bind(now.millis())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?;
    let conversation = match &created {
        Some(id) => ConversationId::new(id.clone()),
        None => ConversationId::new(
            sqlx::query_scalar::<_, String>(rows::DIRECT_BY_KEY)
                .bind(&key)
                .fetch_one(&mut *conn)
                .await
                .map_err(db_error)?,
        ),
    };
    // The conversation lock first (for a new one, the insert holds it already).
    lock_conversation(conn, &conversation).await?;
    if created.is_some() {
        sqlx::query(rows::INSERT_ADDRESSEE)
            .bind(conversation.as_str())
            .bind(user.as_str())
            .bind(now.millis())
            .bind(folder)
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
        sqlx::query(rows::INSERT_CONTACT_MEMBER)
            .bind(conversation.as_str())
            .bind(contact.as_str())
            .bind(now.millis())
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
    }
    Ok((conversation, contact, created.is_some()))
}

/// An account opens its direct conversation with an email contact (see
/// `MessageStore::open_contact_direct`).
pub(crate) async fn open_contact_direct(
    conn: &mut Conn,
    open: &NewContactDirect,
) -> StoreResult<(ConversationId, bool, Vec<Delivery>)> {
    let (id, _, created) = contact_direct(
        conn,
        &open.user,
        &open.new_contact_id,
        &open.address,
        &open.display_name,
        &open.new_conversation_id,
        "inbox",
        open.now,
    )
    .await?;
    let kind = if created {
        EventKind::ConversationCreated
    } else if sqlx::query(rows::REOPEN)
        .bind(id.as_str())
        .bind(open.user.as_str())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?
        .rows_affected()
        > 0
    {
        EventKind::ConversationUpdated
    } else {
        return Ok((id, false, Vec::new()));
    };
    events::lock_users(conn, std::slice::from_ref(&open.user)).await?;
    let deliveries = events::append(
        conn,
        std::slice::from_ref(&open.user),
        &record(kind, &id),
        open.now,
    )
    .await?;
    Ok((id, created, deliveries))
}

/// Puts `attachments` on message `id`, in order.
async fn insert_message_attachments(
    conn: &mut Conn,
    id: &MessageId,
    attachments: &[AttachmentId],
) -> StoreResult<()> {
    for (position, attachment) in attachments.iter().enumerate() {
        sqlx::query(
            "INSERT INTO message_attachments (message_id, position, attachment_id) VALUES ($1, $2, $3)",
        )
        .bind(id.as_str())
        .bind(position as i64)
        .bind(attachment.as_str())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    }
    Ok(())
}

/// The `message_emails` row of message `id`, which came as the mail `meta` describes.
async fn insert_received_email(
    conn: &mut Conn,
    id: &MessageId,
    conversation: &ConversationId,
    meta: &hilo_core::EmailMeta,
    full_text: &str,
    html: Option<&str>,
) -> StoreResult<()> {
    sqlx::query(rows::INSERT_MESSAGE_EMAIL)
        .bind(id.as_str())
        .bind(conversation.as_str())
        .bind(&meta.message_id)
        .bind(true)
        .bind(&meta.subject)
        .bind(&meta.from)
        .bind(sql::email_recipients_column(&meta.recipients))
        .bind(meta.auth.as_ref().map(sql::email_auth_column))
        .bind(full_text)
        .bind(html)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// The `message_sms` row of message `id`.
async fn insert_sms(
    conn: &mut Conn,
    id: &MessageId,
    conversation: &ConversationId,
    sms: &hilo_core::SmsMeta,
) -> StoreResult<()> {
    sqlx::query(rows::INSERT_MESSAGE_SMS)
        .bind(id.as_str())
        .bind(conversation.as_str())
        .bind(&sms.provider)
        .bind(&sms.sid)
        .bind(sms.inbound)
        .bind(&sms.from)
        .bind(&sms.to)
        .bind(i64::from(sms.segments))
        .bind(&sms.encoding)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// A received mail or text from a contact (see `MessageStore::append_received`).
pub(crate) async fn append_received(
    conn: &mut Conn,
    new: &NewReceived,
    terms: &IndexTerms,
) -> StoreResult<(AppendOutcome, bool)> {
    let (conversation, contact, created) = match &new.group {
        Some(group) => {
            lock_conversation(conn, group)
                .await?
                .ok_or(StoreError::NotFound)?;
            let contact: String = sqlx::query_scalar(rows::CONTACT_MEMBER_BY_ADDRESS)
                .bind(group.as_str())
                .bind(&new.address)
                .fetch_optional(&mut *conn)
                .await
                .map_err(db_error)?
                .ok_or(StoreError::NotFound)?;
            (group.clone(), ContactId::new(contact), false)
        }
        None => {
            contact_direct(
                conn,
                &new.recipient,
                &new.new_contact_id,
                &new.address,
                &new.display_name,
                &new.new_conversation_id,
                "requests",
                new.now,
            )
            .await?
        }
    };
    // The conversation is locked: the same text or mail delivered twice at once waits
    // here for the first to commit, then finds it.
    let repeated: Option<String> = match &new.via {
        ReceivedVia::Email(email) => sqlx::query_scalar(rows::RECEIVED_EMAIL)
            .bind(conversation.as_str())
            .bind(&email.meta.message_id),
        ReceivedVia::Sms(sms) => sqlx::query_scalar(rows::RECEIVED_SMS)
            .bind(&sms.provider)
            .bind(&sms.sid),
    }
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_error)?;
    if let Some(id) = repeated {
        return Ok((
            AppendOutcome::Repeated(message_in(conn, &MessageId::new(id)).await?),
            false,
        ));
    }
    let members = member_users(conn, &conversation).await?;
    let seq = next_seq(conn, &conversation, new.now).await?;
    let search = search::new_message_vector(conn, terms.clone(), &[]).await?;
    sqlx::query("INSERT INTO messages (id, conversation_id, seq, sender_contact_id, channel, text, created_at, mentions, forwarded, search) VALUES ($1, $2, $3, $4, $8, $5, $6, '', FALSE, $7::tsvector)")
        .bind(new.id.as_str())
        .bind(conversation.as_str())
        .bind(seq)
        .bind(contact.as_str())
        .bind(&new.text)
        .bind(new.now.millis())
        .bind(search)
        .bind(match &new.via {
            ReceivedVia::Email(_) => "email",
            ReceivedVia::Sms(_) => "sms",
        })
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    match &new.via {
        ReceivedVia::Email(email) => {
            insert_received_email(
                conn,
                &new.id,
                &conversation,
                &email.meta,
                &email.full_text,
                email.html.as_deref(),
            )
            .await?
        }
        ReceivedVia::Sms(sms) => insert_sms(conn, &new.id, &conversation, sms).await?,
    }
    // The mail's files were stored for it just now: sent with it.
    for attachment in &new.attachments {
        sqlx::query("UPDATE attachments SET sent_at = COALESCE(sent_at, $1) WHERE id = $2")
            .bind(new.now.millis())
            .bind(attachment.as_str())
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
    }
    insert_message_attachments(conn, &new.id, &new.attachments).await?;
    // In a group, mailed on to its other email contacts (a direct conversation has none).
    if new.group.is_some() {
        sqlx::query(rows::ENQUEUE_RELAYED_MAIL)
            .bind(new.id.as_str())
            .bind(conversation.as_str())
            .bind(new.now.millis())
            .bind(contact.as_str())
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
    }
    let moved = moved_by_message(conn, &conversation, contact.as_str(), new.spam).await?;
    // A conversation just opened is announced by its creation, not as a move.
    let (kind, moved) = if created {
        (EventKind::ConversationCreated, vec![new.recipient.clone()])
    } else {
        (
            EventKind::ConversationUpdated,
            moved.into_iter().map(UserId::new).collect(),
        )
    };
    events::lock_users(conn, &members).await?;
    let moved = events::append(conn, &moved, &record(kind, &conversation), new.now).await?;
    let mut record = record(EventKind::MessageCreated, &conversation);
    record.message_id = Some(new.id.clone());
    let deliveries = events::append(conn, &members, &record, new.now).await?;
    Ok((
        AppendOutcome::Created(message_in(conn, &new.id).await?, deliveries, moved),
        created,
    ))
}

/// Claims up to `limit` mails (`channel` `email`) or texts (`sms`) due at `now` for
/// `lease_ms` (see `MessageStore::claim_mail`); rows another node is claiming at the same
/// moment are skipped, not waited for, and a text the provider took is never claimed again.
pub(crate) async fn claim_outbound(
    conn: &mut Conn,
    channel: &str,
    now: Timestamp,
    lease_ms: i64,
    limit: i64,
) -> StoreResult<Vec<MailJob>> {
    // A text handed over by a sender whose lease ran out `SMS_STALE_MS` ago without
    // recording the answer (a recorded text has no lease) is claimed too, as unsure.
    let rows = sqlx::query(
        "UPDATE outbound_mail SET claimed_until = $1, attempts = attempts + 1, unsure_at = COALESCE(unsure_at, handed_at), handed_at = NULL WHERE message_id IN (SELECT message_id FROM outbound_mail WHERE state = 'queued' AND next_attempt_at <= $2 AND channel = $4 AND (claimed_until IS NULL OR claimed_until < $2) AND (handed_at IS NULL OR claimed_until < $5) ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING message_id, conversation_id, attempts, created_at, claimed_until, unsure_at",
    )
    .bind(now.millis() + lease_ms)
    .bind(now.millis())
    .bind(limit)
    .bind(channel)
    .bind(now.millis() - rows::SMS_STALE_MS)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    rows.iter().map(decode::mail_job).collect()
}

/// `message.updated` about `message` to its conversation's members.
async fn message_updated(
    conn: &mut Conn,
    conversation: &ConversationId,
    message: &MessageId,
    now: Timestamp,
) -> StoreResult<Vec<Delivery>> {
    let members = member_users(conn, conversation).await?;
    events::lock_users(conn, &members).await?;
    let mut record = record(EventKind::MessageUpdated, conversation);
    record.message_id = Some(message.clone());
    events::append(conn, &members, &record, now).await
}

/// The number `conversation` texts `their` from (see `SmsStore::bind_sms_route`).
pub(crate) async fn bind_sms_route(
    conn: &mut Conn,
    conversation: &ConversationId,
    their: &str,
    candidates: &[String],
    now: Timestamp,
) -> StoreResult<Option<String>> {
    // One binding at a time per conversation, so two sends cannot bind it twice.
    lock_conversation(conn, conversation).await?;
    let bound: Option<String> = sqlx::query_scalar(rows::SMS_ROUTE_OF)
        .bind(conversation.as_str())
        .bind(their)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?;
    if bound.is_some() {
        return Ok(bound);
    }
    for ours in candidates {
        let bound = sqlx::query(rows::BIND_SMS_ROUTE)
            .bind(ours)
            .bind(their)
            .bind(conversation.as_str())
            .bind(now.millis())
            .execute(&mut *conn)
            .await
            .map_err(db_error)?
            .rows_affected();
        if bound > 0 {
            return Ok(Some(ours.clone()));
        }
    }
    Ok(None)
}

/// Serialises what is done about one text (its send's answer and its status callbacks)
/// across nodes, until the transaction ends.
async fn lock_text(conn: &mut Conn, provider: &str, sid: &str) -> StoreResult<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 11))")
        .bind(format!("{provider}\n{sid}"))
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// How long a status callback for a text not known (yet) is kept.
const EARLY_STATUS_TTL_MS: i64 = 24 * 3600 * 1000;

/// The provider took a text (see `SmsStore::sms_handed`).
pub(crate) async fn sms_handed(
    conn: &mut Conn,
    message: &MessageId,
    sms: &hilo_core::SmsMeta,
    now: Timestamp,
) -> StoreResult<Vec<Delivery>> {
    lock_text(conn, &sms.provider, &sms.sid).await?;
    let conversation: Option<String> = sqlx::query_scalar(rows::SMS_HANDED)
        .bind(message.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?;
    let Some(conversation) = conversation else {
        return Ok(Vec::new());
    };
    let conversation = ConversationId::new(conversation);
    insert_sms(conn, message, &conversation, sms).await?;
    let early: Option<(String, Option<String>)> = sqlx::query_as(rows::SMS_EARLY_STATUSES)
        .bind(&sms.provider)
        .bind(&sms.sid)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?;
    if let Some((state, detail)) = early {
        sqlx::query(rows::SMS_FORGET_EARLY)
            .bind(&sms.provider)
            .bind(&sms.sid)
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
        sqlx::query(rows::SMS_STATUS)
            .bind(state)
            .bind(detail)
            .bind(&sms.provider)
            .bind(&sms.sid)
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
    }
    message_updated(conn, &conversation, message, now).await
}

/// A status callback (see `SmsStore::sms_status`).
pub(crate) async fn sms_status(
    conn: &mut Conn,
    provider: &str,
    sid: &str,
    state: hilo_core::DeliveryState,
    detail: Option<&str>,
    now: Timestamp,
) -> StoreResult<Option<(MessageId, Vec<Delivery>)>> {
    lock_text(conn, provider, sid).await?;
    let moved: Option<(String, String)> = sqlx::query_as(rows::SMS_STATUS)
        .bind(state.as_str())
        .bind(detail)
        .bind(provider)
        .bind(sid)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?;
    if let Some((message, conversation)) = moved {
        let message = MessageId::new(message);
        let deliveries =
            message_updated(conn, &ConversationId::new(conversation), &message, now).await?;
        return Ok(Some((message, deliveries)));
    }
    let known: Option<i32> = sqlx::query_scalar(rows::SMS_KNOWN)
        .bind(provider)
        .bind(sid)
        .bind(false)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?;
    if known.is_none() {
        sqlx::query(rows::SMS_EARLY_SWEEP)
            .bind(now.millis() - EARLY_STATUS_TTL_MS)
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
        sqlx::query(rows::SMS_EARLY_STATUS)
            .bind(provider)
            .bind(sid)
            .bind(state.as_str())
            .bind(detail)
            .bind(now.millis())
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
    }
    Ok(None)
}

/// Records a try at mailing a message (see `MessageStore::finish_mail`).
pub(crate) async fn finish_mail(
    conn: &mut Conn,
    message: &MessageId,
    outcome: &MailOutcome,
) -> StoreResult<Vec<Delivery>> {
    let conversation: Option<String> = match outcome.lease {
        Some(lease) => sqlx::query_scalar(rows::FINISH_MAIL)
            .bind(outcome.state.as_str())
            .bind(&outcome.detail)
            .bind(outcome.next_attempt_at.millis())
            .bind(outcome.unsure)
            .bind(message.as_str())
            .bind(lease.millis())
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_error)?,
        None => sqlx::query_scalar(rows::BOUNCE_MAIL)
            .bind(&outcome.detail)
            .bind(message.as_str())
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_error)?,
    };
    let Some(conversation) = conversation else {
        return Ok(Vec::new());
    };
    let conversation = ConversationId::new(conversation);
    if let Some(sent) = &outcome.sent {
        sqlx::query(rows::INSERT_SENT_EMAIL)
            .bind(message.as_str())
            .bind(conversation.as_str())
            .bind(&sent.message_id)
            .bind(&sent.subject)
            .bind(&sent.from)
            .bind(sql::email_recipients_column(&sent.recipients))
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
    }
    let members = member_users(conn, &conversation).await?;
    events::lock_users(conn, &members).await?;
    let mut record = record(EventKind::MessageUpdated, &conversation);
    record.message_id = Some(message.clone());
    events::append(conn, &members, &record, outcome.now).await
}
