//! Every read, run whole on a reader thread (see `reader`) against its connection. The
//! columns and decoders are the ones PostgreSQL's reads use (`rows`, `hilo_store::sql`).

use hilo_core::{
    Attachment, AttachmentId, Conversation, ConversationId, ConversationView, Folder, Message,
    MessageId, Session, StoredEvent, Timestamp, User, UserId,
};
use hilo_store::sql::{self, Columns};
use hilo_store::{ConversationPage, MessagePage, MessageVersion, StoreError, StoreResult};
use rusqlite::{Connection, params};

use crate::db::{all, one, scalar};
use crate::rows;

pub(crate) fn count_users(conn: &Connection) -> StoreResult<i64> {
    Ok(scalar(
        conn,
        "SELECT COUNT(*) FROM users WHERE deleted_at IS NULL",
        [],
    )?
    .unwrap_or(0))
}

pub(crate) fn credentials(
    conn: &Connection,
    username: &str,
) -> StoreResult<Option<(User, String)>> {
    one(
        conn,
        concat!(
            "SELECT ",
            rows::user_columns!(),
            ", users.password_hash FROM users WHERE username = ?1"
        ),
        [username],
        |row| Ok((sql::user(row)?, row.text("password_hash")?)),
    )
}

pub(crate) fn user(conn: &Connection, id: &UserId) -> StoreResult<Option<User>> {
    one(conn, rows::USER_BY_ID, [id.as_str()], |row| sql::user(row))
}

pub(crate) fn user_by_username(conn: &Connection, username: &str) -> StoreResult<Option<User>> {
    one(
        conn,
        concat!(
            "SELECT ",
            rows::user_columns!(),
            " FROM users WHERE username = ?1 AND deleted_at IS NULL"
        ),
        [username],
        |row| sql::user(row),
    )
}

/// Usernames are stored lower case and display names compared lower-cased, as on
/// PostgreSQL, whose `LIKE` is case-sensitive.
pub(crate) fn search_users(conn: &Connection, query: &str, limit: i64) -> StoreResult<Vec<User>> {
    let escaped = sql::like_escape(&query.to_lowercase());
    let contains = format!("%{escaped}%");
    let prefix = format!("{escaped}%");
    all(
        conn,
        concat!(
            "SELECT ",
            rows::user_columns!(),
            " FROM users WHERE NOT suspended AND (username LIKE ?1 ESCAPE '\\' OR lower(display_name) LIKE ?1 ESCAPE '\\') ORDER BY (username LIKE ?2 ESCAPE '\\') DESC, username LIMIT ?3"
        ),
        params![contains, prefix, limit],
        |row| sql::user(row),
    )
}

pub(crate) fn session_by_token(
    conn: &Connection,
    token_hash: &str,
) -> StoreResult<Option<(Session, User)>> {
    one(
        conn,
        concat!(
            "SELECT ",
            rows::session_columns!(),
            ", ",
            rows::user_columns!(),
            " FROM sessions JOIN users ON users.id = sessions.user_id WHERE sessions.token_hash = ?1 AND sessions.revoked_at IS NULL"
        ),
        [token_hash],
        |row| Ok((sql::session(row)?, sql::user(row)?)),
    )
}

pub(crate) fn sessions(conn: &Connection, user: &UserId) -> StoreResult<Vec<Session>> {
    all(
        conn,
        concat!(
            "SELECT ",
            rows::session_columns!(),
            " FROM sessions WHERE user_id = ?1 AND revoked_at IS NULL ORDER BY created_at DESC, id DESC"
        ),
        [user.as_str()],
        |row| sql::session(row),
    )
}

pub(crate) fn conversation(
    conn: &Connection,
    id: &ConversationId,
) -> StoreResult<Option<Conversation>> {
    let Some(mut conversation) = one(
        conn,
        "SELECT id, kind, name, last_seq, created_at, updated_at FROM conversations WHERE id = ?1",
        [id.as_str()],
        |row| {
            Ok(Conversation {
                id: id.clone(),
                kind: sql::conversation_kind(row)?,
                name: row.opt_text("name")?,
                members: Vec::new(),
                last_seq: row.int("last_seq")?,
                created_at: Timestamp(row.int("created_at")?),
                updated_at: Timestamp(row.int("updated_at")?),
            })
        },
    )?
    else {
        return Ok(None);
    };
    conversation.members = all(conn, rows::MEMBER_QUERY, [id.as_str()], |row| {
        sql::member(row)
    })?;
    Ok(Some(conversation))
}

pub(crate) fn conversation_view(
    conn: &Connection,
    id: &ConversationId,
    user: &UserId,
) -> StoreResult<Option<ConversationView>> {
    Ok(views(conn, std::slice::from_ref(id), user)?.pop())
}

/// `rows::view_select` for conversations `$2` (an id list).
pub(crate) const VIEWS: &str = concat!(rows::view_select!(), id_in!("c.id", "$2"));

/// `ids` as `user` sees them, in that order, leaving out those they are not a current
/// member of: five statements however many there are (`VIEWS`).
fn views(
    conn: &Connection,
    ids: &[ConversationId],
    user: &UserId,
) -> StoreResult<Vec<ConversationView>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let id_list = crate::db::json_list(ids.iter().map(ConversationId::as_str));
    let rows = all(conn, VIEWS, params![user.as_str(), id_list], |row| {
        sql::view_row(row)
    })?;
    let members = all(conn, rows::MEMBERS_OF, [&id_list], |row| {
        sql::conversation_member(row)
    })?;
    let last_ids: Vec<&str> = rows
        .iter()
        .filter_map(|(_, last)| last.as_deref())
        .collect();
    let mut last_messages = Vec::new();
    if !last_ids.is_empty() {
        let message_list = crate::db::json_list(last_ids.iter().copied());
        last_messages = all(conn, rows::MESSAGES_BY_ID, [&message_list], |row| {
            sql::message(row)
        })?;
        let reactions = all(conn, rows::REACTIONS_OF_MESSAGES, [&message_list], |row| {
            sql::reaction_row(row)
        })?;
        sql::with_reactions(&mut last_messages, reactions);
        let attachments = all(
            conn,
            rows::ATTACHMENTS_OF_MESSAGES,
            [&message_list],
            |row| sql::message_attachment(row),
        )?;
        sql::with_attachments(&mut last_messages, attachments);
    }
    Ok(sql::assemble_views(ids, rows, members, last_messages))
}

/// The ids and activity times of up to `limit` of `user`'s conversations in `folder`,
/// pinned or not, after `after` (`rows::PAGE_FIRST`, `rows::PAGE_AFTER`).
fn page_rows(
    conn: &Connection,
    user: &UserId,
    folder: Folder,
    pinned: bool,
    after: Option<&(Timestamp, ConversationId)>,
    limit: i64,
) -> StoreResult<Vec<(String, i64)>> {
    let page = |row: &crate::db::Cols<'_, '_>| Ok((row.text("id")?, row.int("updated_at")?));
    let (user, folder) = (user.as_str(), folder.as_str());
    match after {
        None => all(
            conn,
            crate::rows::PAGE_FIRST,
            params![user, folder, pinned, limit],
            page,
        ),
        Some((time, id)) => all(
            conn,
            crate::rows::PAGE_AFTER,
            params![user, folder, pinned, time.millis(), id.as_str(), limit],
            page,
        ),
    }
}

pub(crate) fn list_conversations(
    conn: &Connection,
    user: &UserId,
    folder: Folder,
    pinned: bool,
    after: Option<(Timestamp, ConversationId)>,
    limit: i64,
) -> StoreResult<ConversationPage> {
    page(conn, user, folder, None, pinned, after.as_ref(), limit)
}

/// See `ConversationStore::first_page`.
pub(crate) fn first_page(
    conn: &Connection,
    user: &UserId,
    folder: Folder,
    pinned_max: i64,
    limit: i64,
) -> StoreResult<ConversationPage> {
    page(conn, user, folder, Some(pinned_max), false, None, limit)
}

/// A page of `user`'s conversations in `folder` (see `page_rows`), led by up to `lead`
/// pinned ones, with their views.
fn page(
    conn: &Connection,
    user: &UserId,
    folder: Folder,
    lead: Option<i64>,
    pinned: bool,
    after: Option<&(Timestamp, ConversationId)>,
    limit: i64,
) -> StoreResult<ConversationPage> {
    let mut ids = Vec::new();
    if let Some(lead) = lead {
        let rows = page_rows(conn, user, folder, true, None, lead)?;
        ids.extend(rows.into_iter().map(|(id, _)| ConversationId::new(id)));
    }
    let rows = page_rows(conn, user, folder, pinned, after, limit + 1)?;
    let (page_ids, next) = sql::conversation_page(rows, limit);
    ids.extend(page_ids);
    Ok(ConversationPage {
        views: views(conn, &ids, user)?,
        next,
    })
}

/// A message with its reactions, unless `viewer` hid it for themselves.
pub(crate) fn message(
    conn: &Connection,
    id: &MessageId,
    viewer: Option<&UserId>,
) -> StoreResult<Option<Message>> {
    if let Some(viewer) = viewer
        && scalar::<bool>(conn, rows::IS_HIDDEN, [viewer.as_str(), id.as_str()])?.unwrap_or(false)
    {
        return Ok(None);
    }
    one(
        conn,
        concat!(rows::message_select!(), " WHERE m.id = ?1"),
        [id.as_str()],
        |row| sql::message(row),
    )?
    .map(|message| decorated(conn, message))
    .transpose()
}

/// A message with its reactions and attachments.
fn decorated(conn: &Connection, mut message: Message) -> StoreResult<Message> {
    let rows = all(
        conn,
        rows::REACTIONS_OF_MESSAGE,
        [message.id.as_str()],
        |row| sql::reaction_row(row),
    )?;
    sql::with_reactions(std::slice::from_mut(&mut message), rows);
    let rows = all(
        conn,
        rows::ATTACHMENTS_OF_MESSAGE,
        [message.id.as_str()],
        |row| sql::message_attachment(row),
    )?;
    sql::with_attachments(std::slice::from_mut(&mut message), rows);
    Ok(message)
}

/// An attachment `viewer` may read.
pub(crate) fn attachment_for(
    conn: &Connection,
    id: &AttachmentId,
    viewer: &UserId,
) -> StoreResult<Option<Attachment>> {
    one(
        conn,
        rows::ATTACHMENT_FOR,
        [id.as_str(), viewer.as_str()],
        |row| sql::attachment(row),
    )
}

/// Attachments marked deleted.
pub(crate) fn doomed_attachments(conn: &Connection, limit: i64) -> StoreResult<Vec<AttachmentId>> {
    let ids: Vec<String> = crate::db::column(conn, rows::DOOMED, [limit])?;
    Ok(ids.into_iter().map(AttachmentId::new).collect())
}

/// Messages with `after < seq < before`; see `MessageStore::messages`.
pub(crate) fn messages(
    conn: &Connection,
    conversation: &ConversationId,
    viewer: &UserId,
    before: Option<i64>,
    after: Option<i64>,
    limit: i64,
) -> StoreResult<MessagePage> {
    let upper = before.unwrap_or(i64::MAX);
    // One extra row tells whether more exist beyond the page.
    let messages = if let Some(after) = after {
        all(
            conn,
            concat!(
                rows::message_select!(),
                " WHERE m.conversation_id = ?1 AND m.seq > ?2 AND m.seq < ?3 AND NOT EXISTS (SELECT 1 FROM hidden_messages h WHERE h.user_id = ?4 AND h.message_id = m.id) AND m.seq > COALESCE((SELECT mb.cleared_seq FROM members mb WHERE mb.conversation_id = m.conversation_id AND mb.user_id = ?4), 0) ORDER BY m.seq ASC LIMIT ?5"
            ),
            params![
                conversation.as_str(),
                after,
                upper,
                viewer.as_str(),
                limit + 1
            ],
            |row| sql::message(row),
        )?
    } else {
        all(
            conn,
            concat!(
                rows::message_select!(),
                " WHERE m.conversation_id = ?1 AND m.seq < ?2 AND NOT EXISTS (SELECT 1 FROM hidden_messages h WHERE h.user_id = ?3 AND h.message_id = m.id) AND m.seq > COALESCE((SELECT mb.cleared_seq FROM members mb WHERE mb.conversation_id = m.conversation_id AND mb.user_id = ?3), 0) ORDER BY m.seq DESC LIMIT ?4"
            ),
            params![conversation.as_str(), upper, viewer.as_str(), limit + 1],
            |row| sql::message(row),
        )?
    };
    let mut page = sql::message_page(messages, limit, after.is_some());
    if let (Some(first), Some(last)) = (
        page.messages.first().map(|m| m.seq),
        page.messages.last().map(|m| m.seq),
    ) {
        let rows = all(
            conn,
            rows::REACTIONS_IN_RANGE,
            params![conversation.as_str(), first, last],
            |row| sql::reaction_row(row),
        )?;
        sql::with_reactions(&mut page.messages, rows);
        let rows = all(
            conn,
            rows::ATTACHMENTS_IN_RANGE,
            params![conversation.as_str(), first, last],
            |row| sql::message_attachment(row),
        )?;
        sql::with_attachments(&mut page.messages, rows);
    }
    Ok(page)
}

/// The texts a message had before its edits, oldest first.
pub(crate) fn message_versions(
    conn: &Connection,
    id: &MessageId,
) -> StoreResult<Vec<MessageVersion>> {
    all(conn, rows::MESSAGE_VERSIONS, [id.as_str()], |row| {
        Ok(MessageVersion {
            text: row.text("text")?,
            replaced_at: Timestamp(row.int("replaced_at")?),
        })
    })
}

pub(crate) fn events_after(
    conn: &Connection,
    user: &UserId,
    after: i64,
    limit: i64,
) -> StoreResult<Vec<StoredEvent>> {
    all(
        conn,
        "SELECT user_id, cursor, kind, conversation_id, message_id, subject_user_id, session_id, number, report_id, created_at FROM user_events WHERE user_id = ?1 AND cursor > ?2 ORDER BY cursor LIMIT ?3",
        params![user.as_str(), after, limit],
        |row| sql::event(row),
    )
}

pub(crate) fn event_bounds(conn: &Connection, user: &UserId) -> StoreResult<(i64, i64)> {
    one(
        conn,
        "SELECT event_floor, event_head FROM users WHERE id = ?1",
        [user.as_str()],
        |row| Ok((row.int("event_floor")?, row.int("event_head")?)),
    )?
    .ok_or(StoreError::NotFound)
}

/// Every current member account's receipt.
pub(crate) fn receipts(
    conn: &Connection,
    id: &ConversationId,
) -> StoreResult<Vec<hilo_store::Receipt>> {
    all(conn, rows::RECEIPTS, [id.as_str()], |row| {
        Ok(hilo_store::Receipt {
            user: UserId::new(row.text("user_id")?),
            delivered_seq: row.int("delivered_seq")?,
            last_read_seq: row.int("last_read_seq")?,
            shares_reads: row.flag("read_receipts")?,
        })
    })
}
