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

use hilo_core::{
    ConversationId, EventKind, EventRecord, Message, SessionId, Timestamp, User, UserId,
};
use hilo_store::{
    AppendOutcome, CreateUserOutcome, Delivery, MemberSettingsPatch, MembershipChange, NewGroup,
    NewMessage, NewSession, NewUser, ProfilePatch, StoreError, StoreResult,
};

use crate::{db_error, decode, events, lock_account_creation, rows};

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
async fn member_users(conn: &mut Conn, id: &ConversationId) -> StoreResult<Vec<UserId>> {
    let ids: Vec<String> = sqlx::query_scalar(rows::MEMBER_USERS)
        .bind(id.as_str())
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(ids.into_iter().map(UserId::new).collect())
}

async fn insert_member(
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

/// Moves the conversation's activity time forward (never back) to `now`.
async fn touch(conn: &mut Conn, id: &ConversationId, now: Timestamp) -> StoreResult<()> {
    sqlx::query("UPDATE conversations SET updated_at = CASE WHEN updated_at < $1 THEN $1 ELSE updated_at END WHERE id = $2")
        .bind(now.millis())
        .bind(id.as_str())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

async fn message_in(conn: &mut Conn, id: &str) -> StoreResult<Message> {
    let row = sqlx::query(concat!(rows::message_select!(), " WHERE m.id = $1"))
        .bind(id)
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error)?;
    decode::message(&row)
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

/// Revokes the given live sessions of `user` and appends `session.revoked` for each.
async fn revoke_sessions(
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
    let first: bool = sqlx::query_scalar("SELECT NOT EXISTS (SELECT 1 FROM users)")
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
) -> StoreResult<User> {
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
    user_in(conn, id).await
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
        return Ok((ConversationId::new(existing), false, Vec::new()));
    }
    let mut members = vec![low.clone()];
    if high != low {
        members.push(high.clone());
    }
    for user in &members {
        insert_member(conn, id, user, "member", now).await?;
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
    insert_member(conn, &group.id, &group.creator, "admin", group.now).await?;
    for user in group.members.iter().filter(|u| **u != group.creator) {
        insert_member(conn, &group.id, user, "member", group.now).await?;
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
    if before.len() + added.len() > max_members {
        return Err(StoreError::Conflict("too_many_members"));
    }
    if added.is_empty() {
        return Ok(MembershipChange::default());
    }
    for user in &added {
        // A former member rejoins through their old row (keeping their read marker);
        // anyone else gets a new one.
        let rejoined = sqlx::query("UPDATE members SET left_at = NULL, joined_at = $1, role = 'member', folder = 'inbox' WHERE conversation_id = $2 AND user_id = $3 AND left_at IS NOT NULL")
            .bind(now.millis())
            .bind(id.as_str())
            .bind(user.as_str())
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
        if rejoined.rows_affected() == 0 {
            insert_member(conn, id, user, "member", now).await?;
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

pub(crate) async fn update_member_settings(
    conn: &mut Conn,
    id: &ConversationId,
    user: &UserId,
    patch: &MemberSettingsPatch,
    now: Timestamp,
) -> StoreResult<Option<Delivery>> {
    let done = sqlx::query(
        "UPDATE members SET folder = coalesce($1, folder), notify = coalesce($2, notify), muted_until = CASE WHEN $3 THEN $4 ELSE muted_until END WHERE conversation_id = $5 AND user_id = $6 AND left_at IS NULL",
    )
    .bind(patch.folder.map(|f| f.as_str()))
    .bind(patch.notify.map(|n| n.as_str()))
    .bind(patch.muted_until.is_some())
    .bind(patch.muted_until.flatten().map(|t| t.millis()))
    .bind(id.as_str())
    .bind(user.as_str())
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
    sqlx::query(
        "UPDATE members SET last_read_seq = $1 WHERE conversation_id = $2 AND user_id = $3",
    )
    .bind(target)
    .bind(id.as_str())
    .bind(user.as_str())
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    let recipients = if share {
        member_users(conn, id).await?
    } else {
        vec![user.clone()]
    };
    let mut event = record(EventKind::Read, id);
    event.subject_user_id = Some(user.clone());
    event.number = Some(target);
    let deliveries = events::append(conn, &recipients, &event, now).await?;
    Ok((target, deliveries))
}
