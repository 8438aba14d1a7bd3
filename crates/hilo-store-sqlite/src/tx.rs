//! The body of every write, run by a job on the writer thread inside the batch's
//! transaction (see `writer`). Nothing here locks: the single writer runs one write at a
//! time, so what a body reads still holds when it writes.
//!
//! PostgreSQL's bodies (`hilo-store-postgres/src/tx.rs`) do the same writes in the same
//! order with row locks; the integration suite runs against both backends and holds them
//! to the same behaviour.

use hilo_core::message::excerpt;
use hilo_core::search::IndexTerms;
use hilo_core::{
    Attachment, AttachmentId, ContactId, ConversationId, DeliveryState, EventKind, EventRecord,
    MailDelivery, Message, MessageId, Party, ReplyRef, SessionId, Timestamp, User, UserId,
};
use hilo_store::sql::{self, Columns as _};
use hilo_store::{
    AppendOutcome, CreateUserOutcome, Delivery, MailJob, MailOutcome, MemberSettingsPatch,
    MembershipChange, MessageChange, NewContactDirect, NewGroup, NewMemberContact, NewMessage,
    NewReceived, NewSession, NewUser, ProfilePatch, ReceivedVia, StoreError, StoreResult,
};
use rusqlite::{Connection, params};

use crate::db::{all, column, execute, one, scalar};
use crate::{events, reads, rows, search};

/// An event about a conversation.
fn record(kind: EventKind, id: &ConversationId) -> EventRecord {
    let mut record = EventRecord::new(kind);
    record.conversation_id = Some(id.clone());
    record
}

fn user_in(conn: &Connection, id: &UserId) -> StoreResult<User> {
    reads::user(conn, id)?.ok_or(StoreError::NotFound)
}

fn message_in(conn: &Connection, id: &MessageId) -> StoreResult<Message> {
    reads::message(conn, id, None)?.ok_or(StoreError::NotFound)
}

pub(crate) fn insert_session(conn: &Connection, new: &NewSession) -> StoreResult<()> {
    execute(
        conn,
        "INSERT INTO sessions (id, user_id, token_hash, device_name, ip, created_at, last_seen_at, agent, network) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8)",
        params![
            new.id.as_str(),
            new.user_id.as_str(),
            new.token_hash,
            new.device_name,
            new.ip,
            new.now.millis(),
            new.agent,
            new.network
        ],
    )?;
    Ok(())
}

/// Current member accounts of a conversation, in join order.
fn member_users(conn: &Connection, id: &ConversationId) -> StoreResult<Vec<UserId>> {
    let ids: Vec<String> = column(conn, rows::MEMBER_USERS, [id.as_str()])?;
    Ok(ids.into_iter().map(UserId::new).collect())
}

/// Adds `user` to a conversation on behalf of `inviter` (see `rows::INSERT_MEMBER`).
fn insert_member(
    conn: &Connection,
    id: &ConversationId,
    user: &UserId,
    role: &str,
    inviter: &UserId,
    now: Timestamp,
) -> StoreResult<()> {
    execute(
        conn,
        rows::INSERT_MEMBER,
        params![
            id.as_str(),
            inviter.as_str(),
            user.as_str(),
            role,
            now.millis()
        ],
    )?;
    Ok(())
}

/// The actor's role if they are a current member of an existing conversation; `NotFound`
/// otherwise. A permission the service checked still holds when the write runs.
fn require_member(conn: &Connection, id: &ConversationId, actor: &UserId) -> StoreResult<String> {
    let role: Option<String> = scalar(
        conn,
        "SELECT role FROM members WHERE conversation_id = ?1 AND user_id = ?2 AND left_at IS NULL",
        [id.as_str(), actor.as_str()],
    )?;
    role.ok_or(StoreError::NotFound)
}

/// The email contact `contact` joins conversation `id` at `now` (the contact made if its
/// address is new; a former member rejoins through its old row). False when it already
/// was a member.
fn add_contact_member(
    conn: &Connection,
    id: &ConversationId,
    contact: &NewMemberContact,
    now: Timestamp,
) -> StoreResult<bool> {
    execute(
        conn,
        rows::INSERT_CONTACT,
        params![
            contact.new_id.as_str(),
            contact.address,
            contact.display_name,
            now.millis()
        ],
    )?;
    let contact: String = scalar(conn, rows::CONTACT_BY_ADDRESS, [contact.address.as_str()])?
        .ok_or(StoreError::NotFound)?;
    if scalar::<String>(
        conn,
        rows::CONTACT_IS_MEMBER,
        [id.as_str(), contact.as_str()],
    )?
    .is_some()
    {
        return Ok(false);
    }
    let rejoined = execute(
        conn,
        rows::REJOIN_CONTACT_MEMBER,
        params![now.millis(), id.as_str(), contact.as_str()],
    )?;
    if rejoined == 0 {
        execute(
            conn,
            rows::INSERT_CONTACT_MEMBER,
            params![id.as_str(), contact.as_str(), now.millis()],
        )?;
    }
    Ok(true)
}

/// Moves the conversation's activity time forward (never back) to `now`.
fn touch(conn: &Connection, id: &ConversationId, now: Timestamp) -> StoreResult<()> {
    execute(
        conn,
        "UPDATE conversations SET updated_at = max(updated_at, ?1) WHERE id = ?2",
        params![now.millis(), id.as_str()],
    )?;
    execute(conn, rows::SYNC_ACTIVITY, [id.as_str()])?;
    Ok(())
}

/// Appends a message: returns the original for a repeated `client_txn_id`, refuses a
/// sender who is not a member, otherwise takes the next `seq`, stores the message, moves
/// the sender's read marker to it and appends `message.created` to every member's stream.
/// The single writer makes this atomic and serialises it with every other write.
pub(crate) fn append_message(
    conn: &Connection,
    new: &NewMessage,
    terms: &IndexTerms,
) -> StoreResult<AppendOutcome> {
    let repeated: Option<String> = scalar(
        conn,
        "SELECT id FROM messages WHERE conversation_id = ?1 AND sender_user_id = ?2 AND client_txn_id = ?3",
        [
            new.conversation_id.as_str(),
            new.sender.as_str(),
            new.client_txn_id.as_str(),
        ],
    )?;
    if let Some(id) = repeated {
        return Ok(AppendOutcome::Repeated(message_in(
            conn,
            &MessageId::new(id),
        )?));
    }
    // No such conversation and no such member read the same: no members, or not among them.
    let members = member_users(conn, &new.conversation_id)?;
    if !members.contains(&new.sender) {
        return Ok(AppendOutcome::NotMember);
    }
    let reply_to = match &new.reply_to {
        None => None,
        Some(quoted) => match one(
            conn,
            concat!(
                rows::message_select!(),
                " WHERE m.id = ?1 AND m.conversation_id = ?2"
            ),
            [quoted.as_str(), new.conversation_id.as_str()],
            |row| sql::message(row),
        )? {
            Some(quoted) if !quoted.deleted => Some(ReplyRef {
                id: quoted.id,
                seq: quoted.seq,
                sender_id: quoted.sender.as_ref().map(|p| p.id().to_owned()),
                excerpt: quoted.text.as_deref().map(excerpt),
                deleted: false,
            }),
            _ => return Ok(AppendOutcome::InvalidReply),
        },
    };
    for attachment in &new.attachments {
        let sendable: bool = scalar(
            conn,
            rows::ATTACHMENT_SENDABLE,
            [attachment.as_str(), new.sender.as_str()],
        )?
        .unwrap_or(false);
        if !sendable {
            return Ok(AppendOutcome::InvalidAttachment);
        }
    }
    let seq = next_seq(conn, &new.conversation_id, new.now)?;
    execute(
        conn,
        "INSERT INTO messages (id, conversation_id, seq, sender_user_id, channel, text, client_txn_id, created_at, reply_to_id, mentions, forwarded, location_lat, location_lon, location_label) VALUES (?1, ?2, ?3, ?4, ?14, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            new.id.as_str(),
            new.conversation_id.as_str(),
            seq,
            new.sender.as_str(),
            new.text,
            new.client_txn_id,
            new.now.millis(),
            new.reply_to.as_ref().map(MessageId::as_str),
            sql::join_ids(&new.mentions),
            new.forwarded,
            new.location.as_ref().map(|l| l.lat),
            new.location.as_ref().map(|l| l.lon),
            new.location.as_ref().and_then(|l| l.label.as_deref()),
            new.channel.as_str(),
        ],
    )?;
    attach(conn, &new.id, &new.attachments, new.now)?;
    if let Some(email) = &new.email {
        insert_received_email(
            conn,
            &new.id,
            &new.conversation_id,
            &email.meta,
            &email.full_text,
            email.html.as_deref(),
        )?;
    }
    if let Some(sms) = &new.sms {
        insert_sms(conn, &new.id, &new.conversation_id, sms)?;
    }
    search::index(conn, &new.id, terms)?;
    // Mailed (or texted) to the conversation's contacts, if it has any.
    let mailed = execute(
        conn,
        rows::ENQUEUE_MAIL,
        params![
            new.id.as_str(),
            new.conversation_id.as_str(),
            new.now.millis()
        ],
    )? > 0;
    // Sending means having read everything up to one's own message.
    execute(
        conn,
        "UPDATE members SET last_read_seq = ?1, delivered_seq = max(delivered_seq, ?1) WHERE conversation_id = ?2 AND user_id = ?3 AND last_read_seq < ?1",
        params![seq, new.conversation_id.as_str(), new.sender.as_str()],
    )?;
    let moved = moved_by_message(conn, &new.conversation_id, new.sender.as_str(), new.spam)?;
    // The move first: a client sees the conversation change folder, then the message.
    let moved = events::append(
        conn,
        &moved.into_iter().map(UserId::new).collect::<Vec<_>>(),
        &record(EventKind::ConversationUpdated, &new.conversation_id),
        new.now,
    )?;
    let mut record = record(EventKind::MessageCreated, &new.conversation_id);
    record.message_id = Some(new.id.clone());
    let deliveries = events::append(conn, &members, &record, new.now)?;
    // The answer is built from what was just written rather than read back: only the
    // sender's names come from the store.
    let (username, display_name) = one(
        conn,
        "SELECT username, display_name FROM users WHERE id = ?1",
        [new.sender.as_str()],
        |row| Ok((row.text("username")?, row.text("display_name")?)),
    )?
    .ok_or(StoreError::NotFound)?;
    let mut message = Message::chat(
        new.id.clone(),
        new.conversation_id.clone(),
        seq,
        Party::User {
            id: new.sender.clone(),
            username,
            display_name,
        },
        new.text.clone(),
        new.now,
    );
    message.channel = new.channel;
    message.client_txn_id = Some(new.client_txn_id.clone());
    message.reply_to = reply_to;
    message.mentions = new.mentions.clone();
    message.location = new.location.clone();
    message.forwarded = new.forwarded;
    message.delivery = mailed.then_some(MailDelivery {
        state: DeliveryState::Queued,
        detail: None,
    });
    if !new.attachments.is_empty() {
        message.attachments = all(
            conn,
            rows::ATTACHMENTS_OF_MESSAGE,
            [new.id.as_str()],
            |row| sql::message_attachment(row).map(|(_, a)| a),
        )?;
    }
    Ok(AppendOutcome::Created(message, deliveries, moved))
}

/// Takes the next `seq` of a conversation written to at `now` (its activity time and the
/// members' copies move with it).
fn next_seq(conn: &Connection, id: &ConversationId, now: Timestamp) -> StoreResult<i64> {
    let seq: i64 = scalar(
        conn,
        "UPDATE conversations SET last_seq = last_seq + 1, updated_at = max(updated_at, ?1) WHERE id = ?2 RETURNING last_seq",
        params![now.millis(), id.as_str()],
    )?
    .ok_or(StoreError::NotFound)?;
    execute(conn, rows::SYNC_ACTIVITY, [id.as_str()])?;
    Ok(seq)
}

/// The members a new message from `sender` (an account's or a contact's id) moves between
/// folders (`rows::ROUTE_TO_SPAM` if it was judged spam, `rows::ROUTE_ON_SEND`) or shows
/// the conversation to again (`rows::REVEALED_BY`), each once.
fn moved_by_message(
    conn: &Connection,
    id: &ConversationId,
    sender: &str,
    spam: bool,
) -> StoreResult<Vec<String>> {
    let mut moved: Vec<String> = if spam {
        column(conn, rows::ROUTE_TO_SPAM, [id.as_str(), sender])?
    } else {
        Vec::new()
    };
    moved.extend(column::<String>(
        conn,
        rows::ROUTE_ON_SEND,
        [id.as_str(), sender],
    )?);
    let revealed: Vec<String> = column(conn, rows::REVEALED_BY, [id.as_str()])?;
    moved.extend(
        revealed
            .into_iter()
            .filter(|u| !moved.contains(u))
            .collect::<Vec<_>>(),
    );
    Ok(moved)
}

/// The message an actor wants to change, if it exists in a conversation the actor is a
/// current member of; otherwise the answer to give.
fn target(
    conn: &Connection,
    id: &MessageId,
    actor: &UserId,
) -> StoreResult<Result<Message, MessageChange>> {
    let Some(message) = reads::message(conn, id, None)? else {
        return Ok(Err(MessageChange::NotFound));
    };
    if require_member(conn, &message.conversation_id, actor).is_err() {
        return Ok(Err(MessageChange::NotFound));
    }
    Ok(Ok(message))
}

/// A target only its sender may change, and only while it is not deleted.
fn own_live_target(
    conn: &Connection,
    id: &MessageId,
    actor: &UserId,
) -> StoreResult<Result<Message, MessageChange>> {
    Ok(match target(conn, id, actor)? {
        Ok(message) if message.sender_user() != Some(actor) => Err(MessageChange::NotSender),
        other => other,
    })
}

/// Appends `message.updated` for a changed message to the stream of every current member
/// who has not hidden it, and returns it as it is now.
fn updated(
    conn: &Connection,
    id: &MessageId,
    conversation: &ConversationId,
    now: Timestamp,
) -> StoreResult<MessageChange> {
    let hidden: Vec<String> = column(conn, rows::HIDDEN_BY, [id.as_str()])?;
    let (members, hiders): (Vec<UserId>, Vec<UserId>) = member_users(conn, conversation)?
        .into_iter()
        .partition(|member| !hidden.iter().any(|h| h == member.as_str()));
    let mut record = record(EventKind::MessageUpdated, conversation);
    record.message_id = Some(id.clone());
    let deliveries = events::append(conn, &members, &record, now)?;
    let mut replies: Vec<(Message, Vec<Delivery>)> = Vec::new();
    for hider in &hiders {
        let seen: Vec<String> = column(
            conn,
            rows::VISIBLE_REPLIES_TO,
            [id.as_str(), hider.as_str()],
        )?;
        for reply in seen.into_iter().map(MessageId::new) {
            record.message_id = Some(reply.clone());
            let told = events::append(conn, std::slice::from_ref(hider), &record, now)?;
            match replies.iter_mut().find(|(m, _)| m.id == reply) {
                Some((_, all)) => all.extend(told),
                None => replies.push((message_in(conn, &reply)?, told)),
            }
        }
    }
    Ok(MessageChange::Changed(
        message_in(conn, id)?,
        deliveries,
        replies,
    ))
}

pub(crate) fn edit_message(
    conn: &Connection,
    id: &MessageId,
    editor: &UserId,
    text: &str,
    mentions: &[UserId],
    terms: &IndexTerms,
    now: Timestamp,
) -> StoreResult<MessageChange> {
    let message = match own_live_target(conn, id, editor)? {
        Ok(message) if message.deleted => return Ok(MessageChange::Deleted),
        Ok(message) => message,
        Err(answer) => return Ok(answer),
    };
    if message.text.as_deref() == Some(text) {
        return Ok(MessageChange::Unchanged(message));
    }
    if let Some(previous) = &message.text {
        execute(
            conn,
            "INSERT INTO message_versions (message_id, version, text, replaced_at) SELECT ?1, COALESCE(MAX(version), 0) + 1, ?2, ?3 FROM message_versions WHERE message_id = ?1",
            params![id.as_str(), previous, now.millis()],
        )?;
    }
    execute(
        conn,
        "UPDATE messages SET text = ?1, mentions = ?2, edited_at = ?3 WHERE id = ?4",
        params![text, sql::join_ids(mentions), now.millis(), id.as_str()],
    )?;
    execute(conn, rows::FORGET_EMAIL_BODY, [id.as_str()])?;
    search::index(conn, id, terms)?;
    updated(conn, id, &message.conversation_id, now)
}

pub(crate) fn delete_message(
    conn: &Connection,
    id: &MessageId,
    actor: Option<&UserId>,
    now: Timestamp,
) -> StoreResult<MessageChange> {
    let target = match actor {
        Some(actor) => own_live_target(conn, id, actor)?,
        // A moderator: any message.
        None => reads::message(conn, id, None)?.ok_or(MessageChange::NotFound),
    };
    let message = match target {
        Ok(message) if message.deleted => return Ok(MessageChange::Unchanged(message)),
        Ok(message) => message,
        Err(answer) => return Ok(answer),
    };
    execute(
        conn,
        "UPDATE messages SET deleted = 1, text = NULL, mentions = NULL, location_lat = NULL, location_lon = NULL, location_label = NULL WHERE id = ?1",
        [id.as_str()],
    )?;
    execute(conn, rows::BLANK_EMAIL, [id.as_str()])?;
    execute(
        conn,
        "DELETE FROM reactions WHERE message_id = ?1",
        [id.as_str()],
    )?;
    execute(
        conn,
        rows::DOOM_ATTACHMENTS_OF,
        params![now.millis(), id.as_str()],
    )?;
    execute(
        conn,
        "DELETE FROM message_attachments WHERE message_id = ?1",
        [id.as_str()],
    )?;
    execute(
        conn,
        "DELETE FROM message_versions WHERE message_id = ?1",
        [id.as_str()],
    )?;
    search::unindex(conn, id)?;
    updated(conn, id, &message.conversation_id, now)
}

pub(crate) fn react(
    conn: &Connection,
    id: &MessageId,
    user: &UserId,
    emoji: &str,
    add: bool,
    max_per_user: usize,
    now: Timestamp,
) -> StoreResult<MessageChange> {
    let message = match target(conn, id, user)? {
        Ok(message) if message.deleted => return Ok(MessageChange::Deleted),
        Ok(message) => message,
        Err(answer) => return Ok(answer),
    };
    let changed = if add {
        let mine: i64 = scalar(
            conn,
            "SELECT COUNT(*) FROM reactions WHERE message_id = ?1 AND user_id = ?2 AND emoji <> ?3",
            params![id.as_str(), user.as_str(), emoji],
        )?
        .unwrap_or(0);
        if usize::try_from(mine).unwrap_or(usize::MAX) >= max_per_user {
            return Ok(MessageChange::TooManyReactions);
        }
        execute(
            conn,
            "INSERT INTO reactions (message_id, user_id, emoji, created_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
            params![id.as_str(), user.as_str(), emoji, now.millis()],
        )?
    } else {
        execute(
            conn,
            "DELETE FROM reactions WHERE message_id = ?1 AND user_id = ?2 AND emoji = ?3",
            params![id.as_str(), user.as_str(), emoji],
        )?
    };
    if changed == 0 {
        return Ok(MessageChange::Unchanged(message));
    }
    updated(conn, id, &message.conversation_id, now)
}

pub(crate) fn hide_message(
    conn: &Connection,
    id: &MessageId,
    user: &UserId,
    now: Timestamp,
) -> StoreResult<Option<(Message, Option<Delivery>)>> {
    let message = match target(conn, id, user)? {
        Ok(message) => message,
        Err(_) => return Ok(None),
    };
    let hidden = execute(
        conn,
        "INSERT INTO hidden_messages (user_id, message_id, hidden_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
        params![user.as_str(), id.as_str(), now.millis()],
    )?;
    if hidden == 0 {
        return Ok(Some((message, None)));
    }
    let mut record = record(EventKind::MessageHidden, &message.conversation_id);
    record.message_id = Some(id.clone());
    let delivery = events::append(conn, std::slice::from_ref(user), &record, now)?.pop();
    Ok(Some((message, delivery)))
}

/// Revokes the given live sessions of `user` and appends `session.revoked` for each.
pub(crate) fn revoke_sessions(
    conn: &Connection,
    user: &UserId,
    sessions: Vec<String>,
    now: Timestamp,
) -> StoreResult<Vec<(SessionId, Delivery)>> {
    let mut out = Vec::with_capacity(sessions.len());
    for session in sessions {
        execute(
            conn,
            "UPDATE sessions SET revoked_at = ?1 WHERE id = ?2",
            params![now.millis(), session],
        )?;
        let session = SessionId::new(session);
        let mut record = EventRecord::new(EventKind::SessionRevoked);
        record.session_id = Some(session.clone());
        let mut deliveries = events::append(conn, std::slice::from_ref(user), &record, now)?;
        if let Some(delivery) = deliveries.pop() {
            out.push((session, delivery));
        }
    }
    Ok(out)
}

/// Creates an account with the first-is-admin rule and invite redemption.
pub(crate) fn create_user(conn: &Connection, new: &NewUser) -> StoreResult<CreateUserOutcome> {
    let first: bool = scalar(
        conn,
        "SELECT NOT EXISTS (SELECT 1 FROM users WHERE deleted_at IS NULL)",
        [],
    )?
    .ok_or(StoreError::NotFound)?;
    // The very first account bootstraps the server, so it needs no invite. The invite is
    // judged before the username, so a made-up code cannot be used to learn which
    // usernames exist.
    let redeem = new.invite_required && !first;
    let invite = new.invite_hash.as_deref().unwrap_or("");
    if redeem {
        let valid: bool = scalar(
            conn,
            "SELECT EXISTS (SELECT 1 FROM invites WHERE code_hash = ?1 AND used_at IS NULL AND expires_at > ?2)",
            params![invite, new.now.millis()],
        )?
        .unwrap_or(false);
        if !valid {
            return Ok(CreateUserOutcome::InviteInvalid);
        }
    }
    let inserted = execute(
        conn,
        "INSERT INTO users (id, username, display_name, password_hash, is_admin, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (username) DO NOTHING",
        params![
            new.id.as_str(),
            new.username,
            new.display_name,
            new.password_hash,
            first || new.force_admin,
            new.now.millis()
        ],
    )?;
    if inserted == 0 {
        return Ok(CreateUserOutcome::UsernameTaken);
    }
    if redeem {
        // Account creation is serialised: the code checked above is still unused here.
        execute(
            conn,
            "UPDATE invites SET used_by = ?1, used_at = ?2 WHERE code_hash = ?3",
            params![new.id.as_str(), new.now.millis(), invite],
        )?;
    }
    if let Some(session) = &new.session {
        insert_session(conn, session)?;
    }
    Ok(CreateUserOutcome::Created(user_in(conn, &new.id)?))
}

pub(crate) fn update_profile(
    conn: &Connection,
    id: &UserId,
    patch: &ProfilePatch,
    now: Timestamp,
) -> StoreResult<(User, Vec<Delivery>)> {
    let before = user_in(conn, id)?;
    let settings = patch.settings.as_ref();
    let done = execute(
        conn,
        "UPDATE users SET display_name = coalesce(?2, display_name), who_can_message = coalesce(?3, who_can_message), last_seen_visibility = coalesce(?4, last_seen_visibility), read_receipts = coalesce(?5, read_receipts) WHERE id = ?1",
        params![
            id.as_str(),
            patch.display_name,
            settings.map(|s| s.who_can_message.as_str()),
            settings.map(|s| s.last_seen_visibility.as_str()),
            settings.map(|s| s.read_receipts)
        ],
    )?;
    if done == 0 {
        return Err(StoreError::NotFound);
    }
    let after = user_in(conn, id)?;
    let mut recipients = Vec::new();
    if after.display_name != before.display_name {
        let others: Vec<String> = column(conn, rows::NAME_AUDIENCE, [id.as_str()])?;
        recipients.extend(others.into_iter().map(UserId::new));
    }
    if after != before {
        recipients.push(id.clone());
    }
    let mut event = EventRecord::new(EventKind::UserUpdated);
    event.subject_user_id = Some(id.clone());
    let deliveries = events::append(conn, &recipients, &event, now)?;
    Ok((after, deliveries))
}

pub(crate) fn set_admin(conn: &Connection, id: &UserId, is_admin: bool) -> StoreResult<()> {
    let done = execute(
        conn,
        "UPDATE users SET is_admin = ?1 WHERE id = ?2",
        params![is_admin, id.as_str()],
    )?;
    if done == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

/// Replaces the password hash and revokes every live session but `keep`.
pub(crate) fn set_password(
    conn: &Connection,
    id: &UserId,
    password_hash: &str,
    keep: Option<&SessionId>,
    now: Timestamp,
) -> StoreResult<Vec<(SessionId, Delivery)>> {
    let sessions: Vec<String> = column(
        conn,
        "SELECT id FROM sessions WHERE user_id = ?1 AND revoked_at IS NULL AND id IS NOT ?2 ORDER BY id",
        params![id.as_str(), keep.map(|k| k.as_str())],
    )?;
    let done = execute(
        conn,
        "UPDATE users SET password_hash = ?1 WHERE id = ?2",
        params![password_hash, id.as_str()],
    )?;
    if done == 0 {
        return Err(StoreError::NotFound);
    }
    revoke_sessions(conn, id, sessions, now)
}

pub(crate) fn touch_session(conn: &Connection, id: &SessionId, now: Timestamp) -> StoreResult<()> {
    execute(
        conn,
        "UPDATE sessions SET last_seen_at = ?1 WHERE id = ?2 AND last_seen_at < ?1",
        params![now.millis(), id.as_str()],
    )?;
    Ok(())
}

/// Revokes one live session of `user`; `None` when there is no such session.
pub(crate) fn revoke_session(
    conn: &Connection,
    user: &UserId,
    session: &SessionId,
    now: Timestamp,
) -> StoreResult<Option<Delivery>> {
    let live: Option<String> = scalar(
        conn,
        "SELECT id FROM sessions WHERE id = ?1 AND user_id = ?2 AND revoked_at IS NULL",
        [session.as_str(), user.as_str()],
    )?;
    let Some(live) = live else { return Ok(None) };
    let mut revoked = revoke_sessions(conn, user, vec![live], now)?;
    Ok(revoked.pop().map(|(_, delivery)| delivery))
}

pub(crate) fn create_invite(
    conn: &Connection,
    code_hash: &str,
    created_by: Option<&UserId>,
    now: Timestamp,
    expires_at: Timestamp,
) -> StoreResult<()> {
    execute(
        conn,
        "INSERT INTO invites (code_hash, created_by, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
        params![
            code_hash,
            created_by.map(|b| b.as_str()),
            now.millis(),
            expires_at.millis()
        ],
    )?;
    Ok(())
}

/// The direct conversation of the pair (`low`, `high`, in sorted order), created with
/// `id` if there is none; whether this call created it, and the events it appended.
pub(crate) fn find_or_create_direct(
    conn: &Connection,
    id: &ConversationId,
    low: &UserId,
    high: &UserId,
    opener: &UserId,
    now: Timestamp,
) -> StoreResult<(ConversationId, bool, Vec<Delivery>)> {
    let key = hilo_store::sql::direct_key(low, high);
    let created: Option<String> = scalar(
        conn,
        "INSERT INTO conversations (id, kind, direct_key, created_at, updated_at) VALUES (?1, 'direct', ?2, ?3, ?3) ON CONFLICT (direct_key) DO NOTHING RETURNING id",
        params![id.as_str(), key, now.millis()],
    )?;
    if created.is_none() {
        let existing: String = scalar(
            conn,
            "SELECT id FROM conversations WHERE direct_key = ?1",
            [key.as_str()],
        )?
        .ok_or(StoreError::NotFound)?;
        let existing = ConversationId::new(existing);
        let deliveries = if execute(conn, rows::REOPEN, [existing.as_str(), opener.as_str()])? == 0
        {
            Vec::new()
        } else {
            let record = record(EventKind::ConversationUpdated, &existing);
            events::append(conn, std::slice::from_ref(opener), &record, now)?
        };
        return Ok((existing, false, deliveries));
    }
    let mut members = vec![low.clone()];
    if high != low {
        members.push(high.clone());
    }
    for user in &members {
        insert_member(conn, id, user, "member", opener, now)?;
    }
    let deliveries = events::append(
        conn,
        &members,
        &record(EventKind::ConversationCreated, id),
        now,
    )?;
    Ok((id.clone(), true, deliveries))
}

pub(crate) fn create_group(conn: &Connection, group: &NewGroup) -> StoreResult<Vec<Delivery>> {
    execute(
        conn,
        "INSERT INTO conversations (id, kind, name, created_at, updated_at) VALUES (?1, 'group', ?2, ?3, ?3)",
        params![group.id.as_str(), group.name, group.now.millis()],
    )?;
    insert_member(
        conn,
        &group.id,
        &group.creator,
        "admin",
        &group.creator,
        group.now,
    )?;
    for user in group.members.iter().filter(|u| **u != group.creator) {
        insert_member(conn, &group.id, user, "member", &group.creator, group.now)?;
    }
    for contact in &group.contacts {
        add_contact_member(conn, &group.id, contact, group.now)?;
    }
    let members = member_users(conn, &group.id)?;
    events::append(
        conn,
        &members,
        &record(EventKind::ConversationCreated, &group.id),
        group.now,
    )
}

pub(crate) fn rename_group(
    conn: &Connection,
    id: &ConversationId,
    actor: &UserId,
    name: &str,
    now: Timestamp,
) -> StoreResult<Vec<Delivery>> {
    require_member(conn, id, actor)?;
    let done = execute(
        conn,
        "UPDATE conversations SET name = ?1 WHERE id = ?2 AND kind = 'group'",
        params![name, id.as_str()],
    )?;
    if done == 0 {
        return Err(StoreError::NotFound);
    }
    touch(conn, id, now)?;
    let members = member_users(conn, id)?;
    events::append(
        conn,
        &members,
        &record(EventKind::ConversationUpdated, id),
        now,
    )
}

pub(crate) fn add_members(
    conn: &Connection,
    id: &ConversationId,
    actor: &UserId,
    users: &[UserId],
    contacts: &[NewMemberContact],
    max_members: usize,
    now: Timestamp,
) -> StoreResult<MembershipChange> {
    require_member(conn, id, actor)?;
    let before = member_users(conn, id)?;
    let mut added: Vec<UserId> = Vec::new();
    for user in users {
        if !before.contains(user) && !added.contains(user) {
            added.push(user.clone());
        }
    }
    let mut joined = 0;
    for contact in contacts {
        if add_contact_member(conn, id, contact, now)? {
            joined += 1;
        }
    }
    let count: i64 = scalar(conn, rows::MEMBER_COUNT, [id.as_str()])?.unwrap_or_default();
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
        let rejoined = execute(
            conn,
            rows::REJOIN_MEMBER,
            params![now.millis(), actor.as_str(), id.as_str(), user.as_str()],
        )?;
        if rejoined == 0 {
            insert_member(conn, id, user, "member", actor, now)?;
        }
    }
    touch(conn, id, now)?;
    let mut deliveries = events::append(
        conn,
        &added,
        &record(EventKind::ConversationCreated, id),
        now,
    )?;
    deliveries.extend(events::append(
        conn,
        &before,
        &record(EventKind::ConversationUpdated, id),
        now,
    )?);
    Ok(MembershipChange {
        changed: added,
        deliveries,
    })
}

pub(crate) fn remove_member(
    conn: &Connection,
    id: &ConversationId,
    actor: &UserId,
    user: &UserId,
    now: Timestamp,
) -> StoreResult<MembershipChange> {
    let actor_role = require_member(conn, id, actor)?;
    if actor != user && actor_role != "admin" {
        return Err(StoreError::Conflict("not_group_admin"));
    }
    let role: Option<String> = scalar(
        conn,
        "UPDATE members SET left_at = ?1 WHERE conversation_id = ?2 AND user_id = ?3 AND left_at IS NULL RETURNING role",
        params![now.millis(), id.as_str(), user.as_str()],
    )?;
    let Some(role) = role else {
        return Ok(MembershipChange::default());
    };
    if role == "admin" {
        // A group is never left without an admin: the longest-standing member takes over
        // when the last one goes.
        execute(
            conn,
            concat!(
                "UPDATE members SET role = 'admin' WHERE ",
                member_order!(),
                " = (SELECT ",
                member_order!(),
                " FROM members WHERE conversation_id = ?1 AND left_at IS NULL AND user_id IS NOT NULL ORDER BY joined_at, ",
                member_order!(),
                " LIMIT 1) AND NOT EXISTS (SELECT 1 FROM members WHERE conversation_id = ?1 AND left_at IS NULL AND role = 'admin')"
            ),
            [id.as_str()],
        )?;
    }
    touch(conn, id, now)?;
    let mut affected = member_users(conn, id)?;
    affected.push(user.clone());
    let mut event = record(EventKind::ConversationUpdated, id);
    event.subject_user_id = Some(user.clone());
    let deliveries = events::append(conn, &affected, &event, now)?;
    Ok(MembershipChange {
        changed: vec![user.clone()],
        deliveries,
    })
}

/// An email contact leaves a group (see `ConversationStore::remove_contact`).
pub(crate) fn remove_contact(
    conn: &Connection,
    id: &ConversationId,
    actor: Option<&UserId>,
    address: &str,
    now: Timestamp,
) -> StoreResult<MembershipChange> {
    if let Some(actor) = actor
        && require_member(conn, id, actor)? != "admin"
    {
        return Err(StoreError::Conflict("not_group_admin"));
    }
    if execute(
        conn,
        rows::LEAVE_CONTACT,
        params![now.millis(), id.as_str(), address],
    )? == 0
    {
        return Ok(MembershipChange::default());
    }
    touch(conn, id, now)?;
    let members = member_users(conn, id)?;
    let deliveries = events::append(
        conn,
        &members,
        &record(EventKind::ConversationUpdated, id),
        now,
    )?;
    Ok(MembershipChange {
        changed: Vec::new(),
        deliveries,
    })
}

pub(crate) fn update_member_settings(
    conn: &Connection,
    id: &ConversationId,
    user: &UserId,
    patch: &MemberSettingsPatch,
    now: Timestamp,
) -> StoreResult<Option<Delivery>> {
    let done = execute(
        conn,
        "UPDATE members SET folder = coalesce(?1, folder), notify = coalesce(?2, notify), muted_until = CASE WHEN ?3 THEN ?4 ELSE muted_until END, pinned = coalesce(?7, pinned) WHERE conversation_id = ?5 AND user_id = ?6 AND left_at IS NULL",
        params![
            patch.folder.map(|f| f.as_str()),
            patch.notify.map(|n| n.as_str()),
            patch.muted_until.is_some(),
            patch.muted_until.flatten().map(|t| t.millis()),
            id.as_str(),
            user.as_str(),
            patch.pinned
        ],
    )?;
    if done == 0 {
        return Ok(None);
    }
    let mut deliveries = events::append(
        conn,
        std::slice::from_ref(user),
        &record(EventKind::ConversationUpdated, id),
        now,
    )?;
    Ok(deliveries.pop())
}

/// Moves the reader's marker forward to `seq` (clamped to the newest message).
pub(crate) fn mark_read(
    conn: &Connection,
    id: &ConversationId,
    user: &UserId,
    seq: i64,
    share: bool,
    now: Timestamp,
) -> StoreResult<(i64, Vec<Delivery>)> {
    let current = one(
        conn,
        "SELECT m.last_read_seq, c.last_seq FROM members m JOIN conversations c ON c.id = m.conversation_id WHERE m.conversation_id = ?1 AND m.user_id = ?2 AND m.left_at IS NULL",
        [id.as_str(), user.as_str()],
        |row| Ok((row.int("last_read_seq")?, row.int("last_seq")?)),
    )?;
    let Some((last_read, last_seq)) = current else {
        return Err(StoreError::NotFound);
    };
    let target = seq.min(last_seq);
    if target <= last_read {
        return Ok((last_read, Vec::new()));
    }
    // Reading implies having received.
    execute(
        conn,
        "UPDATE members SET last_read_seq = ?1, delivered_seq = max(delivered_seq, ?1) WHERE conversation_id = ?2 AND user_id = ?3",
        params![target, id.as_str(), user.as_str()],
    )?;
    // The reader's own devices always hear of it; the others only when the reader shares
    // read receipts, and only those who share theirs (receipts off works both ways).
    let mut recipients = vec![user.clone()];
    if share {
        let sharers = reads::receipts(conn, id)?;
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
    let deliveries = events::append(conn, &recipients, &event, now)?;
    Ok((target, deliveries))
}

pub(crate) fn create_attachment(conn: &Connection, a: &Attachment) -> StoreResult<()> {
    execute(
        conn,
        "INSERT INTO attachments (id, uploader_id, name, content_type, size, width, height, has_thumbnail, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            a.id.as_str(),
            a.uploader.as_str(),
            a.name,
            a.content_type,
            a.size,
            a.width,
            a.height,
            a.has_thumbnail,
            a.created_at.millis()
        ],
    )?;
    Ok(())
}

pub(crate) fn doom_orphans(
    conn: &Connection,
    cutoff: Timestamp,
    now: Timestamp,
) -> StoreResult<u64> {
    let n = execute(
        conn,
        rows::DOOM_ORPHANS,
        params![now.millis(), cutoff.millis()],
    )?;
    Ok(n as u64)
}

pub(crate) fn forget_attachment(conn: &Connection, id: &AttachmentId) -> StoreResult<()> {
    execute(
        conn,
        "DELETE FROM attachments WHERE id = ?1 AND deleted_at IS NOT NULL",
        [id.as_str()],
    )?;
    Ok(())
}

/// Moves a member's delivery marker forward and tells the senders of what it covers.
pub(crate) fn mark_delivered(
    conn: &Connection,
    id: &ConversationId,
    user: &UserId,
    seq: i64,
    now: Timestamp,
) -> StoreResult<Vec<Delivery>> {
    let current: Option<i64> = scalar(
        conn,
        "SELECT delivered_seq FROM members WHERE conversation_id = ?1 AND user_id = ?2 AND left_at IS NULL",
        [id.as_str(), user.as_str()],
    )?;
    let Some(current) = current.filter(|current| *current < seq) else {
        return Ok(Vec::new());
    };
    execute(
        conn,
        "UPDATE members SET delivered_seq = ?1 WHERE conversation_id = ?2 AND user_id = ?3",
        params![seq, id.as_str(), user.as_str()],
    )?;
    let senders: Vec<String> = column(
        conn,
        rows::SENDERS_BETWEEN,
        params![id.as_str(), current, user.as_str(), seq],
    )?;
    let members = member_users(conn, id)?;
    let recipients: Vec<UserId> = members
        .into_iter()
        .filter(|m| senders.iter().any(|s| s == m.as_str()))
        .collect();
    let mut event = record(EventKind::Delivered, id);
    event.subject_user_id = Some(user.clone());
    event.number = Some(seq);
    events::append(conn, &recipients, &event, now)
}

pub(crate) fn stream_opened(
    conn: &Connection,
    node: &str,
    user: &UserId,
    until: Timestamp,
    now: Timestamp,
) -> StoreResult<bool> {
    let already: bool =
        scalar(conn, rows::HAS_STREAM, params![user.as_str(), now.millis()])?.unwrap_or(false);
    execute(
        conn,
        rows::STREAM_OPENED,
        params![node, user.as_str(), until.millis()],
    )?;
    Ok(already)
}

pub(crate) fn stream_closed(
    conn: &Connection,
    node: &str,
    user: &UserId,
    now: Timestamp,
) -> StoreResult<bool> {
    if execute(conn, rows::STREAM_CLOSED, params![node, user.as_str()])? == 0 {
        // Already closed (an earlier last-stream-out did it): nothing changes.
        return Ok(true);
    }
    Ok(scalar(
        conn,
        rows::STREAM_ELSEWHERE,
        params![user.as_str(), node, now.millis()],
    )?
    .unwrap_or(false))
}

pub(crate) fn streams_alive(
    conn: &Connection,
    node: &str,
    users: &[UserId],
    until: Timestamp,
    forget_before: Timestamp,
) -> StoreResult<()> {
    let ids = crate::db::json_list(users.iter().map(UserId::as_str));
    execute(
        conn,
        concat!(
            "INSERT INTO presence (node_id, user_id, until_at) SELECT ?2, id, ?1 FROM users WHERE ",
            id_in!("id", "?3"),
            " ON CONFLICT (node_id, user_id) DO UPDATE SET until_at = excluded.until_at"
        ),
        params![until.millis(), node, ids],
    )?;
    execute(conn, rows::STREAMS_EXPIRED, [forget_before.millis()])?;
    Ok(())
}

pub(crate) fn clear_conversation(
    conn: &Connection,
    id: &ConversationId,
    user: &UserId,
    now: Timestamp,
) -> StoreResult<Option<Delivery>> {
    if execute(conn, rows::CLEAR_CONVERSATION, [id.as_str(), user.as_str()])? == 0 {
        return Ok(None);
    }
    let deliveries = events::append(
        conn,
        std::slice::from_ref(user),
        &record(EventKind::ConversationUpdated, id),
        now,
    )?;
    Ok(deliveries.into_iter().next())
}

/// The direct conversation between `user` and the email contact at `address` (made with
/// the given ids if needed, `user` in `folder`); whether it was made just now, and the
/// contact's id.
#[allow(clippy::too_many_arguments)]
fn contact_direct(
    conn: &Connection,
    user: &UserId,
    new_contact_id: &ContactId,
    address: &str,
    display_name: &str,
    new_conversation_id: &ConversationId,
    folder: &str,
    now: Timestamp,
) -> StoreResult<(ConversationId, ContactId, bool)> {
    execute(
        conn,
        rows::INSERT_CONTACT,
        params![new_contact_id.as_str(), address, display_name, now.millis()],
    )?;
    let contact: String =
        scalar(conn, rows::CONTACT_BY_ADDRESS, [address])?.ok_or(StoreError::NotFound)?;
    let contact = ContactId::new(contact);
    let key = sql::contact_direct_key(user, &contact);
    let created: Option<String> = scalar(
        conn,
        rows::INSERT_DIRECT,
        params![new_conversation_id.as_str(), key, now.millis()],
    )?;
    Ok(match created {
        Some(id) => {
            let id = ConversationId::new(id);
            execute(
                conn,
                rows::INSERT_ADDRESSEE,
                params![id.as_str(), user.as_str(), now.millis(), folder],
            )?;
            execute(
                conn,
                rows::INSERT_CONTACT_MEMBER,
                params![id.as_str(), contact.as_str(), now.millis()],
            )?;
            (id, contact, true)
        }
        None => (
            ConversationId::new(
                scalar::<String>(conn, rows::DIRECT_BY_KEY, [key.as_str()])?
                    .ok_or(StoreError::NotFound)?,
            ),
            contact,
            false,
        ),
    })
}

/// An account opens its direct conversation with an email contact (see
/// `MessageStore::open_contact_direct`).
pub(crate) fn open_contact_direct(
    conn: &Connection,
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
    )?;
    let kind = if created {
        EventKind::ConversationCreated
    } else if execute(conn, rows::REOPEN, [id.as_str(), open.user.as_str()])? > 0 {
        EventKind::ConversationUpdated
    } else {
        return Ok((id, false, Vec::new()));
    };
    let deliveries = events::append(
        conn,
        std::slice::from_ref(&open.user),
        &record(kind, &id),
        open.now,
    )?;
    Ok((id, created, deliveries))
}

/// Puts `attachments` on message `id`, in order, marking each sent.
fn attach(
    conn: &Connection,
    id: &MessageId,
    attachments: &[AttachmentId],
    now: Timestamp,
) -> StoreResult<()> {
    for (position, attachment) in attachments.iter().enumerate() {
        execute(
            conn,
            "INSERT INTO message_attachments (message_id, position, attachment_id) VALUES (?1, ?2, ?3)",
            params![id.as_str(), position as i64, attachment.as_str()],
        )?;
        execute(
            conn,
            "UPDATE attachments SET sent_at = COALESCE(sent_at, ?1) WHERE id = ?2",
            params![now.millis(), attachment.as_str()],
        )?;
    }
    Ok(())
}

/// The `message_emails` row of message `id`, which came as the mail `meta` describes.
fn insert_received_email(
    conn: &Connection,
    id: &MessageId,
    conversation: &ConversationId,
    meta: &hilo_core::EmailMeta,
    full_text: &str,
    html: Option<&str>,
) -> StoreResult<()> {
    execute(
        conn,
        rows::INSERT_MESSAGE_EMAIL,
        params![
            id.as_str(),
            conversation.as_str(),
            meta.message_id,
            true,
            meta.subject,
            meta.from,
            sql::email_recipients_column(&meta.recipients),
            meta.auth.as_ref().map(sql::email_auth_column),
            full_text,
            html,
        ],
    )?;
    Ok(())
}

/// The `message_sms` row of message `id`.
fn insert_sms(
    conn: &Connection,
    id: &MessageId,
    conversation: &ConversationId,
    sms: &hilo_core::SmsMeta,
) -> StoreResult<()> {
    execute(
        conn,
        rows::INSERT_MESSAGE_SMS,
        params![
            id.as_str(),
            conversation.as_str(),
            sms.provider,
            sms.sid,
            sms.inbound,
            sms.from,
            sms.to,
            i64::from(sms.segments),
            sms.encoding,
        ],
    )?;
    Ok(())
}

/// A received mail or text from a contact (see `MessageStore::append_received`).
pub(crate) fn append_received(
    conn: &Connection,
    new: &NewReceived,
    terms: &IndexTerms,
) -> StoreResult<(AppendOutcome, bool)> {
    let (conversation, contact, created) = match &new.group {
        Some(group) => {
            let contact: String = scalar(
                conn,
                rows::CONTACT_MEMBER_BY_ADDRESS,
                [group.as_str(), new.address.as_str()],
            )?
            .ok_or(StoreError::NotFound)?;
            (group.clone(), ContactId::new(contact), false)
        }
        None => contact_direct(
            conn,
            &new.recipient,
            &new.new_contact_id,
            &new.address,
            &new.display_name,
            &new.new_conversation_id,
            "requests",
            new.now,
        )?,
    };
    let opened = if created {
        events::append(
            conn,
            std::slice::from_ref(&new.recipient),
            &record(EventKind::ConversationCreated, &conversation),
            new.now,
        )?
    } else {
        Vec::new()
    };
    let repeated = match &new.via {
        ReceivedVia::Email(email) => scalar::<String>(
            conn,
            rows::RECEIVED_EMAIL,
            [conversation.as_str(), email.meta.message_id.as_str()],
        )?,
        ReceivedVia::Sms(sms) => scalar::<String>(
            conn,
            rows::RECEIVED_SMS,
            [sms.provider.as_str(), sms.sid.as_str()],
        )?,
    };
    if let Some(id) = repeated {
        return Ok((
            AppendOutcome::Repeated(message_in(conn, &MessageId::new(id))?),
            false,
        ));
    }
    let members = member_users(conn, &conversation)?;
    let seq = next_seq(conn, &conversation, new.now)?;
    execute(
        conn,
        "INSERT INTO messages (id, conversation_id, seq, sender_contact_id, channel, text, created_at, mentions, forwarded) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, '', 0)",
        params![
            new.id.as_str(),
            conversation.as_str(),
            seq,
            contact.as_str(),
            match &new.via {
                ReceivedVia::Email(_) => "email",
                ReceivedVia::Sms(_) => "sms",
            },
            new.text,
            new.now.millis()
        ],
    )?;
    match &new.via {
        ReceivedVia::Email(email) => insert_received_email(
            conn,
            &new.id,
            &conversation,
            &email.meta,
            &email.full_text,
            email.html.as_deref(),
        )?,
        ReceivedVia::Sms(sms) => insert_sms(conn, &new.id, &conversation, sms)?,
    }
    attach(conn, &new.id, &new.attachments, new.now)?;
    search::index(conn, &new.id, terms)?;
    // In a group, mailed on to its other email contacts (a direct conversation has none).
    if new.group.is_some() {
        execute(
            conn,
            rows::ENQUEUE_RELAYED_MAIL,
            params![
                new.id.as_str(),
                conversation.as_str(),
                new.now.millis(),
                contact.as_str()
            ],
        )?;
    }
    let mut moved = moved_by_message(conn, &conversation, contact.as_str(), new.spam)?;
    // A conversation just opened is announced by its creation, not as a move.
    if created {
        moved.clear();
    }
    let mut moved = events::append(
        conn,
        &moved.into_iter().map(UserId::new).collect::<Vec<_>>(),
        &record(EventKind::ConversationUpdated, &conversation),
        new.now,
    )?;
    moved.extend(opened);
    let mut record = record(EventKind::MessageCreated, &conversation);
    record.message_id = Some(new.id.clone());
    let deliveries = events::append(conn, &members, &record, new.now)?;
    Ok((
        AppendOutcome::Created(message_in(conn, &new.id)?, deliveries, moved),
        created,
    ))
}

/// Claims up to `limit` mails (`channel` `email`) or texts (`sms`) due at `now` for
/// `lease_ms` (see `MessageStore::claim_mail`); a text the provider took is never claimed
/// again.
pub(crate) fn claim_outbound(
    conn: &Connection,
    channel: &str,
    now: Timestamp,
    lease_ms: i64,
    limit: i64,
) -> StoreResult<Vec<MailJob>> {
    // A text handed over by a sender whose lease ran out `SMS_STALE_MS` ago without
    // recording the answer (a recorded text has no lease) is claimed too, as unsure.
    all(
        conn,
        "UPDATE outbound_mail SET claimed_until = ?1, attempts = attempts + 1, unsure_at = COALESCE(unsure_at, handed_at), handed_at = NULL WHERE message_id IN (SELECT message_id FROM outbound_mail WHERE state = 'queued' AND next_attempt_at <= ?2 AND channel = ?4 AND (claimed_until IS NULL OR claimed_until < ?2) AND (handed_at IS NULL OR claimed_until < ?5) ORDER BY next_attempt_at LIMIT ?3) RETURNING message_id, conversation_id, attempts, created_at, claimed_until, unsure_at",
        params![
            now.millis() + lease_ms,
            now.millis(),
            limit,
            channel,
            now.millis() - rows::SMS_STALE_MS
        ],
        |row| sql::mail_job(row),
    )
}

/// `message.updated` about `message` to its conversation's members.
fn message_updated(
    conn: &Connection,
    conversation: &ConversationId,
    message: &MessageId,
    now: Timestamp,
) -> StoreResult<Vec<Delivery>> {
    let members = member_users(conn, conversation)?;
    let mut record = record(EventKind::MessageUpdated, conversation);
    record.message_id = Some(message.clone());
    events::append(conn, &members, &record, now)
}

/// The number `conversation` texts `their` from (see `SmsStore::bind_sms_route`).
pub(crate) fn bind_sms_route(
    conn: &Connection,
    conversation: &ConversationId,
    their: &str,
    candidates: &[String],
    now: Timestamp,
) -> StoreResult<Option<String>> {
    if let Some(ours) = scalar::<String>(conn, rows::SMS_ROUTE_OF, [conversation.as_str(), their])?
    {
        return Ok(Some(ours));
    }
    for ours in candidates {
        if execute(
            conn,
            rows::BIND_SMS_ROUTE,
            params![ours, their, conversation.as_str(), now.millis()],
        )? > 0
        {
            return Ok(Some(ours.clone()));
        }
    }
    Ok(None)
}

/// How long a status callback for a text not known (yet) is kept.
const EARLY_STATUS_TTL_MS: i64 = 24 * 3600 * 1000;

/// The provider took a text (see `SmsStore::sms_handed`).
pub(crate) fn sms_handed(
    conn: &Connection,
    message: &MessageId,
    sms: &hilo_core::SmsMeta,
    now: Timestamp,
) -> StoreResult<Vec<Delivery>> {
    let Some(conversation) = scalar::<String>(conn, rows::SMS_HANDED, [message.as_str()])? else {
        return Ok(Vec::new());
    };
    let conversation = ConversationId::new(conversation);
    insert_sms(conn, message, &conversation, sms)?;
    let early = all(
        conn,
        rows::SMS_EARLY_STATUSES,
        [sms.provider.as_str(), sms.sid.as_str()],
        |row| Ok((row.text("state")?, row.opt_text("detail")?)),
    )?;
    if let Some((state, detail)) = early.into_iter().next() {
        execute(
            conn,
            rows::SMS_FORGET_EARLY,
            [sms.provider.as_str(), sms.sid.as_str()],
        )?;
        scalar::<String>(
            conn,
            rows::SMS_STATUS,
            params![state, detail, sms.provider, sms.sid],
        )?;
    }
    message_updated(conn, &conversation, message, now)
}

/// A status callback (see `SmsStore::sms_status`).
pub(crate) fn sms_status(
    conn: &Connection,
    provider: &str,
    sid: &str,
    state: DeliveryState,
    detail: Option<&str>,
    now: Timestamp,
) -> StoreResult<Option<(MessageId, Vec<Delivery>)>> {
    let moved = one(
        conn,
        rows::SMS_STATUS,
        params![state.as_str(), detail, provider, sid],
        |row| Ok((row.text("message_id")?, row.text("conversation_id")?)),
    )?;
    if let Some((message, conversation)) = moved {
        let message = MessageId::new(message);
        let deliveries = message_updated(conn, &ConversationId::new(conversation), &message, now)?;
        return Ok(Some((message, deliveries)));
    }
    if scalar::<i64>(conn, rows::SMS_KNOWN, params![provider, sid, false])?.is_none() {
        execute(
            conn,
            rows::SMS_EARLY_SWEEP,
            [now.millis() - EARLY_STATUS_TTL_MS],
        )?;
        execute(
            conn,
            rows::SMS_EARLY_STATUS,
            params![provider, sid, state.as_str(), detail, now.millis()],
        )?;
    }
    Ok(None)
}

/// Records a try at mailing a message (see `MessageStore::finish_mail`).
pub(crate) fn finish_mail(
    conn: &Connection,
    message: &MessageId,
    outcome: &MailOutcome,
) -> StoreResult<Vec<Delivery>> {
    let conversation = match outcome.lease {
        Some(lease) => scalar::<String>(
            conn,
            rows::FINISH_MAIL,
            params![
                outcome.state.as_str(),
                outcome.detail,
                outcome.next_attempt_at.millis(),
                outcome.unsure,
                message.as_str(),
                lease.millis()
            ],
        )?,
        None => scalar::<String>(
            conn,
            rows::BOUNCE_MAIL,
            params![outcome.detail, message.as_str()],
        )?,
    };
    let Some(conversation) = conversation else {
        return Ok(Vec::new());
    };
    let conversation = ConversationId::new(conversation);
    if let Some(sent) = &outcome.sent {
        execute(
            conn,
            rows::INSERT_SENT_EMAIL,
            params![
                message.as_str(),
                conversation.as_str(),
                sent.message_id,
                sent.subject,
                sent.from,
                sql::email_recipients_column(&sent.recipients)
            ],
        )?;
    }
    let members = member_users(conn, &conversation)?;
    let mut record = record(EventKind::MessageUpdated, &conversation);
    record.message_id = Some(message.clone());
    events::append(conn, &members, &record, outcome.now)
}
