//! The read side of the PostgreSQL backend, against its pool.

use hilo_core::{
    Attachment, AttachmentId, Conversation, ConversationId, ConversationView, Folder, Message,
    MessageId, Session, StoredEvent, Timestamp, User, UserId,
};
use hilo_store::sql;
use hilo_store::{ConversationPage, MessagePage, MessageVersion, StoreError, StoreResult};
use sqlx::{PgConnection, Row as _};

use crate::{db_error, decode, rows};

/// The backend's reader pool.
pub(crate) type Pool = sqlx::PgPool;

/// A read-only REPEATABLE READ transaction: one snapshot for several statements, planned
/// generically. The statements a conversation page runs take id lists, and their custom
/// plans cost more to make (0.4–1.2 ms each, hilo-bench's inbox) than the generic ones
/// cost to run. One round trip: sqlx sends the opening as a simple query, which may hold
/// both statements.
pub(crate) async fn snapshot(
    pool: &Pool,
) -> StoreResult<sqlx::Transaction<'static, sqlx::Postgres>> {
    crate::begin(
        pool,
        Some(
            "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET LOCAL plan_cache_mode = force_generic_plan",
        ),
    )
    .await
    .map_err(db_error)
}

pub(crate) async fn count_users(pool: &Pool) -> StoreResult<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE deleted_at IS NULL")
        .fetch_one(pool)
        .await
        .map_err(db_error)
}

pub(crate) async fn credentials(
    pool: &Pool,
    username: &str,
) -> StoreResult<Option<(User, String)>> {
    let row = sqlx::query(concat!(
        "SELECT ",
        rows::user_columns!(),
        ", users.password_hash FROM users WHERE username = $1"
    ))
    .bind(username)
    .fetch_optional(pool)
    .await
    .map_err(db_error)?;
    match row {
        None => Ok(None),
        Some(row) => {
            let hash: String = row.try_get("password_hash").map_err(db_error)?;
            Ok(Some((decode::user(&row)?, hash)))
        }
    }
}

pub(crate) async fn user(pool: &Pool, id: &UserId) -> StoreResult<Option<User>> {
    let row = sqlx::query(rows::USER_BY_ID)
        .bind(id.as_str())
        .fetch_optional(pool)
        .await
        .map_err(db_error)?;
    row.as_ref().map(decode::user).transpose()
}

pub(crate) async fn user_by_username(pool: &Pool, username: &str) -> StoreResult<Option<User>> {
    let row = sqlx::query(concat!(
        "SELECT ",
        rows::user_columns!(),
        " FROM users WHERE username = $1 AND deleted_at IS NULL"
    ))
    .bind(username)
    .fetch_optional(pool)
    .await
    .map_err(db_error)?;
    row.as_ref().map(decode::user).transpose()
}

/// Usernames are stored lower case and display names compared lower-cased, so `LIKE`
/// behaves the same in both dialects (SQLite's is case-insensitive, PostgreSQL's is not).
pub(crate) async fn search_users(pool: &Pool, query: &str, limit: i64) -> StoreResult<Vec<User>> {
    let escaped = hilo_store::sql::like_escape(&query.to_lowercase());
    let contains = format!("%{escaped}%");
    let prefix = format!("{escaped}%");
    let rows = sqlx::query(concat!(
        "SELECT ",
        rows::user_columns!(),
        " FROM users WHERE NOT suspended AND (username LIKE $1 ESCAPE '\\' OR lower(display_name) LIKE $1 ESCAPE '\\') ORDER BY (username LIKE $2 ESCAPE '\\') DESC, username LIMIT $3"
    ))
    .bind(&contains)
    .bind(&prefix)
    .bind(limit)
    .fetch_all(pool)
    .await
    .map_err(db_error)?;
    rows.iter().map(decode::user).collect()
}

pub(crate) async fn session_by_token(
    pool: &Pool,
    token_hash: &str,
) -> StoreResult<Option<(Session, User)>> {
    let row = sqlx::query(concat!(
        "SELECT ",
        rows::session_columns!(),
        ", ",
        rows::user_columns!(),
        " FROM sessions JOIN users ON users.id = sessions.user_id WHERE sessions.token_hash = $1 AND sessions.revoked_at IS NULL"
    ))
    .bind(token_hash)
    .fetch_optional(pool)
    .await
    .map_err(db_error)?;
    match row {
        None => Ok(None),
        Some(row) => Ok(Some((decode::session(&row)?, decode::user(&row)?))),
    }
}

pub(crate) async fn sessions(pool: &Pool, user: &UserId) -> StoreResult<Vec<Session>> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        rows::session_columns!(),
        " FROM sessions WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at DESC, id DESC"
    ))
    .bind(user.as_str())
    .fetch_all(pool)
    .await
    .map_err(db_error)?;
    rows.iter().map(decode::session).collect()
}

pub(crate) async fn conversation(
    pool: &Pool,
    id: &ConversationId,
) -> StoreResult<Option<Conversation>> {
    let Some(row) = sqlx::query(
        "SELECT id, kind, name, last_seq, created_at, updated_at FROM conversations WHERE id = $1",
    )
    .bind(id.as_str())
    .fetch_optional(pool)
    .await
    .map_err(db_error)?
    else {
        return Ok(None);
    };
    let members = sqlx::query(rows::MEMBER_QUERY)
        .bind(id.as_str())
        .fetch_all(pool)
        .await
        .map_err(db_error)?;
    Ok(Some(Conversation {
        id: id.clone(),
        kind: decode::conversation_kind(&row)?,
        name: row.try_get("name").map_err(db_error)?,
        members: members
            .iter()
            .map(decode::member)
            .collect::<StoreResult<_>>()?,
        last_seq: row.try_get("last_seq").map_err(db_error)?,
        created_at: Timestamp(row.try_get("created_at").map_err(db_error)?),
        updated_at: Timestamp(row.try_get("updated_at").map_err(db_error)?),
    }))
}

pub(crate) async fn conversation_view(
    pool: &Pool,
    id: &ConversationId,
    user: &UserId,
) -> StoreResult<Option<ConversationView>> {
    let mut transaction = snapshot(pool).await?;
    let view = views(&mut transaction, std::slice::from_ref(id), user)
        .await?
        .pop();
    transaction.commit().await.map_err(db_error)?;
    Ok(view)
}

/// `ids` as `user` sees them, in that order, leaving out those they are not a current
/// member of: five statements however many there are (`rows::view_select`).
async fn views(
    conn: &mut PgConnection,
    ids: &[ConversationId],
    user: &UserId,
) -> StoreResult<Vec<ConversationView>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let id_list: Vec<&str> = ids.iter().map(ConversationId::as_str).collect();
    // Driven from the list, one conversation at a time by its keys, whatever the planner
    // knows of the tables: before PostgreSQL has statistics (a new server, or autovacuum
    // off) it planned the select with `c.id = ANY(...)` from every membership of the
    // user, 30 ms to 2 s for 5,000 of them.
    const VIEWS: &str = concat!(
        "SELECT v.* FROM unnest(CAST($2 AS text[])) AS page(id) CROSS JOIN LATERAL (",
        rows::view_select!(),
        "c.id = page.id) v"
    );
    let rows = sqlx::query(VIEWS)
        .bind(user.as_str())
        .bind(&id_list)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?
        .iter()
        .map(decode::view_row)
        .collect::<StoreResult<Vec<_>>>()?;
    let members = by_list(
        conn,
        rows::MEMBERS_OF,
        &id_list,
        decode::conversation_member,
    )
    .await?;
    let last_ids: Vec<&str> = rows
        .iter()
        .filter_map(|(_, last)| last.as_deref())
        .collect();
    let last_messages = messages_by_id(conn, &last_ids).await?;
    Ok(sql::assemble_views(ids, rows, members, last_messages))
}

/// Messages `ids` with their reactions and attachments, three statements however many
/// (in no particular order; an id with no message is left out).
pub(crate) async fn messages_by_id(
    conn: &mut PgConnection,
    ids: &[&str],
) -> StoreResult<Vec<Message>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut messages = by_list(conn, rows::MESSAGES_BY_ID, ids, decode::message).await?;
    let reactions = by_list(conn, rows::REACTIONS_OF_MESSAGES, ids, decode::reaction_row).await?;
    sql::with_reactions(&mut messages, reactions);
    let attachments = by_list(
        conn,
        rows::ATTACHMENTS_OF_MESSAGES,
        ids,
        decode::message_attachment,
    )
    .await?;
    sql::with_attachments(&mut messages, attachments);
    Ok(messages)
}

/// Every row of `sql`, whose one parameter is the id list `ids`, decoded by `decode`.
async fn by_list<T>(
    conn: &mut PgConnection,
    sql: &'static str,
    ids: &[&str],
    decode: fn(&decode::Row) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    sqlx::query(sql)
        .bind(ids)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?
        .iter()
        .map(decode)
        .collect()
}

/// The ids and activity times of up to `limit` of `user`'s conversations in `folder`,
/// pinned or not, after `after` (`rows::PAGE_FIRST`, `rows::PAGE_AFTER`).
async fn page_rows(
    conn: &mut PgConnection,
    user: &UserId,
    folder: Folder,
    pinned: bool,
    after: Option<&(Timestamp, ConversationId)>,
    limit: i64,
) -> StoreResult<Vec<(String, i64)>> {
    let query = match after {
        None => sqlx::query_as(rows::PAGE_FIRST)
            .bind(user.as_str())
            .bind(folder.as_str())
            .bind(pinned)
            .bind(limit),
        Some((time, id)) => sqlx::query_as(rows::PAGE_AFTER)
            .bind(user.as_str())
            .bind(folder.as_str())
            .bind(pinned)
            .bind(time.millis())
            .bind(id.as_str())
            .bind(limit),
    };
    query.fetch_all(&mut *conn).await.map_err(db_error)
}

pub(crate) async fn list_conversations(
    pool: &Pool,
    user: &UserId,
    folder: Folder,
    pinned: bool,
    after: Option<(Timestamp, ConversationId)>,
    limit: i64,
) -> StoreResult<ConversationPage> {
    page(pool, user, folder, None, pinned, after.as_ref(), limit).await
}

/// See `ConversationStore::first_page`.
pub(crate) async fn first_page(
    pool: &Pool,
    user: &UserId,
    folder: Folder,
    pinned_max: i64,
    limit: i64,
) -> StoreResult<ConversationPage> {
    page(pool, user, folder, Some(pinned_max), false, None, limit).await
}

/// A page of `user`'s conversations in `folder` (see `page_rows`), led by up to `lead`
/// pinned ones, with their views. One connection, one snapshot: the page and its views
/// agree.
async fn page(
    pool: &Pool,
    user: &UserId,
    folder: Folder,
    lead: Option<i64>,
    pinned: bool,
    after: Option<&(Timestamp, ConversationId)>,
    limit: i64,
) -> StoreResult<ConversationPage> {
    let mut transaction = snapshot(pool).await?;
    let mut ids = Vec::new();
    if let Some(lead) = lead {
        let rows = page_rows(&mut transaction, user, folder, true, None, lead).await?;
        ids.extend(rows.into_iter().map(|(id, _)| ConversationId::new(id)));
    }
    let rows = page_rows(&mut transaction, user, folder, pinned, after, limit + 1).await?;
    let (page_ids, next) = hilo_store::sql::conversation_page(rows, limit);
    ids.extend(page_ids);
    let views = views(&mut transaction, &ids, user).await?;
    transaction.commit().await.map_err(db_error)?;
    Ok(ConversationPage { views, next })
}

/// A message with its reactions, unless `viewer` hid it for themselves.
pub(crate) async fn message(
    pool: &Pool,
    id: &MessageId,
    viewer: Option<&UserId>,
) -> StoreResult<Option<Message>> {
    let mut conn = pool.acquire().await.map_err(db_error)?;
    message_on(&mut conn, id, viewer).await
}

/// [`message`] on a given connection (a write transaction's, or one from the pool).
pub(crate) async fn message_on(
    conn: &mut PgConnection,
    id: &MessageId,
    viewer: Option<&UserId>,
) -> StoreResult<Option<Message>> {
    if let Some(viewer) = viewer {
        let hidden: bool = sqlx::query_scalar(rows::IS_HIDDEN)
            .bind(viewer.as_str())
            .bind(id.as_str())
            .fetch_one(&mut *conn)
            .await
            .map_err(db_error)?;
        if hidden {
            return Ok(None);
        }
    }
    match message_row_on(conn, id).await? {
        Some(message) => Ok(Some(decorated(conn, message).await?)),
        None => Ok(None),
    }
}

/// A message's own row (with its sender and quote), without reactions or attachments.
pub(crate) async fn message_row_on(
    conn: &mut PgConnection,
    id: &MessageId,
) -> StoreResult<Option<Message>> {
    let row = sqlx::query(concat!(rows::message_select!(), " WHERE m.id = $1"))
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?;
    row.as_ref().map(decode::message).transpose()
}

/// A message's attachments, in order.
pub(crate) async fn attachments_of(
    conn: &mut PgConnection,
    id: &MessageId,
) -> StoreResult<Vec<(String, Attachment)>> {
    sqlx::query(rows::ATTACHMENTS_OF_MESSAGE)
        .bind(id.as_str())
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?
        .iter()
        .map(decode::message_attachment)
        .collect()
}

/// A message with its reactions and attachments.
async fn decorated(conn: &mut PgConnection, mut message: Message) -> StoreResult<Message> {
    let rows = sqlx::query(rows::REACTIONS_OF_MESSAGE)
        .bind(message.id.as_str())
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?
        .iter()
        .map(decode::reaction_row)
        .collect::<StoreResult<Vec<_>>>()?;
    sql::with_reactions(std::slice::from_mut(&mut message), rows);
    let rows = attachments_of(conn, &message.id).await?;
    sql::with_attachments(std::slice::from_mut(&mut message), rows);
    Ok(message)
}

/// An attachment `viewer` may read.
pub(crate) async fn attachment_for(
    pool: &Pool,
    id: &AttachmentId,
    viewer: &UserId,
) -> StoreResult<Option<Attachment>> {
    let row = sqlx::query(rows::ATTACHMENT_FOR)
        .bind(id.as_str())
        .bind(viewer.as_str())
        .fetch_optional(pool)
        .await
        .map_err(db_error)?;
    row.as_ref().map(decode::attachment).transpose()
}

/// Attachments marked deleted.
pub(crate) async fn doomed_attachments(pool: &Pool, limit: i64) -> StoreResult<Vec<AttachmentId>> {
    let ids: Vec<String> = sqlx::query_scalar(rows::DOOMED)
        .bind(limit)
        .fetch_all(pool)
        .await
        .map_err(db_error)?;
    Ok(ids.into_iter().map(AttachmentId::new).collect())
}

/// The texts a message had before its edits, oldest first.
pub(crate) async fn message_versions(
    pool: &Pool,
    id: &MessageId,
) -> StoreResult<Vec<MessageVersion>> {
    let rows = sqlx::query(rows::MESSAGE_VERSIONS)
        .bind(id.as_str())
        .fetch_all(pool)
        .await
        .map_err(db_error)?;
    rows.iter()
        .map(|row| {
            Ok(MessageVersion {
                text: row.try_get("text").map_err(db_error)?,
                replaced_at: Timestamp(row.try_get("replaced_at").map_err(db_error)?),
            })
        })
        .collect()
}

/// Messages with `after < seq < before`; see `MessageStore::messages`.
pub(crate) async fn messages(
    pool: &Pool,
    conversation: &ConversationId,
    viewer: &UserId,
    before: Option<i64>,
    after: Option<i64>,
    limit: i64,
) -> StoreResult<MessagePage> {
    let upper = before.unwrap_or(i64::MAX);
    // One extra row tells whether more exist beyond the page.
    let rows = if let Some(after) = after {
        sqlx::query(concat!(
            rows::message_select!(),
            " WHERE m.conversation_id = $1 AND m.seq > $2 AND m.seq < $3 AND NOT EXISTS (SELECT 1 FROM hidden_messages h WHERE h.user_id = $4 AND h.message_id = m.id) AND m.seq > COALESCE((SELECT mb.cleared_seq FROM members mb WHERE mb.conversation_id = m.conversation_id AND mb.user_id = $4), 0) ORDER BY m.seq ASC LIMIT $5"
        ))
        .bind(conversation.as_str())
        .bind(after)
        .bind(upper)
        .bind(viewer.as_str())
        .bind(limit + 1)
        .fetch_all(pool)
        .await
    } else {
        sqlx::query(concat!(
            rows::message_select!(),
            " WHERE m.conversation_id = $1 AND m.seq < $2 AND NOT EXISTS (SELECT 1 FROM hidden_messages h WHERE h.user_id = $3 AND h.message_id = m.id) AND m.seq > COALESCE((SELECT mb.cleared_seq FROM members mb WHERE mb.conversation_id = m.conversation_id AND mb.user_id = $3), 0) ORDER BY m.seq DESC LIMIT $4"
        ))
        .bind(conversation.as_str())
        .bind(upper)
        .bind(viewer.as_str())
        .bind(limit + 1)
        .fetch_all(pool)
        .await
    }
    .map_err(db_error)?;
    let messages = rows
        .iter()
        .map(decode::message)
        .collect::<StoreResult<Vec<_>>>()?;
    let mut page = sql::message_page(messages, limit, after.is_some());
    if let (Some(first), Some(last)) = (
        page.messages.first().map(|m| m.seq),
        page.messages.last().map(|m| m.seq),
    ) {
        let rows = sqlx::query(rows::REACTIONS_IN_RANGE)
            .bind(conversation.as_str())
            .bind(first)
            .bind(last)
            .fetch_all(pool)
            .await
            .map_err(db_error)?
            .iter()
            .map(decode::reaction_row)
            .collect::<StoreResult<Vec<_>>>()?;
        sql::with_reactions(&mut page.messages, rows);
        let rows = sqlx::query(rows::ATTACHMENTS_IN_RANGE)
            .bind(conversation.as_str())
            .bind(first)
            .bind(last)
            .fetch_all(pool)
            .await
            .map_err(db_error)?
            .iter()
            .map(decode::message_attachment)
            .collect::<StoreResult<Vec<_>>>()?;
        sql::with_attachments(&mut page.messages, rows);
    }
    Ok(page)
}

pub(crate) async fn events_after(
    pool: &Pool,
    user: &UserId,
    after: i64,
    limit: i64,
) -> StoreResult<Vec<StoredEvent>> {
    let rows = sqlx::query(
        "SELECT user_id, cursor, kind, conversation_id, message_id, subject_user_id, session_id, number, report_id, created_at FROM user_events WHERE user_id = $1 AND cursor > $2 ORDER BY cursor LIMIT $3",
    )
    .bind(user.as_str())
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await
    .map_err(db_error)?;
    rows.iter().map(decode::event).collect()
}

pub(crate) async fn event_bounds(pool: &Pool, user: &UserId) -> StoreResult<(i64, i64)> {
    let row: Option<(i64, i64)> =
        sqlx::query_as("SELECT event_floor, event_head FROM users WHERE id = $1")
            .bind(user.as_str())
            .fetch_optional(pool)
            .await
            .map_err(db_error)?;
    row.ok_or(StoreError::NotFound)
}

/// Every current member account's receipt.
pub(crate) async fn receipts(
    conn: impl sqlx::PgExecutor<'_>,
    id: &ConversationId,
) -> StoreResult<Vec<hilo_store::Receipt>> {
    let rows: Vec<(String, i64, i64, bool)> = sqlx::query_as(rows::RECEIPTS)
        .bind(id.as_str())
        .fetch_all(conn)
        .await
        .map_err(db_error)?;
    Ok(rows
        .into_iter()
        .map(
            |(user, delivered_seq, last_read_seq, shares_reads)| hilo_store::Receipt {
                user: UserId::new(user),
                delivered_seq,
                last_read_seq,
                shares_reads,
            },
        )
        .collect())
}
