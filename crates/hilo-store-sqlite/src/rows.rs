//! Decoding rows into domain types. Column lists live next to the decoders that read them,
//! so a query and its decoder cannot drift apart.

use hilo_core::{
    Channel, ContactId, ConversationId, ConversationKind, EventKind, EventRecord, Folder,
    LastSeenVisibility, Member, MemberView, Message, MessageId, Notify, Party, Role, Session,
    SessionId, Settings, StoredEvent, Timestamp, User, UserId, WhoCanMessage,
};
use hilo_store::{StoreError, StoreResult};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::db_error;

/// The user columns [`user`] reads, for `concat!` into queries.
macro_rules! user_columns {
    () => {
        "users.id, users.username, users.display_name, users.is_admin, users.suspended, users.who_can_message, users.last_seen_visibility, users.read_receipts, users.created_at"
    };
}
pub(crate) use user_columns;

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Other(format!("unexpected {what} in the database: {value:?}").into())
}

fn get<'r, T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>>(
    row: &'r SqliteRow,
    column: &str,
) -> StoreResult<T> {
    row.try_get(column).map_err(db_error)
}

pub(crate) fn user(row: &SqliteRow) -> StoreResult<User> {
    let who: String = get(row, "who_can_message")?;
    let last_seen: String = get(row, "last_seen_visibility")?;
    Ok(User {
        id: UserId::new(get::<String>(row, "id")?),
        username: get(row, "username")?,
        display_name: get(row, "display_name")?,
        is_admin: get(row, "is_admin")?,
        suspended: get(row, "suspended")?,
        settings: Settings {
            who_can_message: WhoCanMessage::parse(&who).ok_or_else(|| corrupt("setting", &who))?,
            last_seen_visibility: LastSeenVisibility::parse(&last_seen)
                .ok_or_else(|| corrupt("setting", &last_seen))?,
            read_receipts: get(row, "read_receipts")?,
        },
        created_at: Timestamp(get(row, "created_at")?),
    })
}

pub(crate) fn session(row: &SqliteRow) -> StoreResult<Session> {
    Ok(Session {
        id: SessionId::new(get::<String>(row, "session_id")?),
        user_id: UserId::new(get::<String>(row, "session_user_id")?),
        device_name: get(row, "device_name")?,
        created_at: Timestamp(get(row, "session_created_at")?),
        last_seen_at: Timestamp(get(row, "last_seen_at")?),
        ip: get(row, "ip")?,
    })
}

/// Reads a party from `<prefix>user_id`, `<prefix>username`, … columns; `None` when both
/// the user and the contact columns are NULL (a system sender).
fn party(
    row: &SqliteRow,
    user_id: &str,
    username: &str,
    user_name: &str,
    contact_id: &str,
    address: &str,
    contact_name: &str,
) -> StoreResult<Option<Party>> {
    if let Some(id) = get::<Option<String>>(row, user_id)? {
        return Ok(Some(Party::User {
            id: UserId::new(id),
            username: get::<Option<String>>(row, username)?.unwrap_or_default(),
            display_name: get::<Option<String>>(row, user_name)?.unwrap_or_default(),
        }));
    }
    if let Some(id) = get::<Option<String>>(row, contact_id)? {
        return Ok(Some(Party::Contact {
            id: ContactId::new(id),
            address: get::<Option<String>>(row, address)?.unwrap_or_default(),
            display_name: get::<Option<String>>(row, contact_name)?.unwrap_or_default(),
        }));
    }
    Ok(None)
}

pub(crate) const MEMBER_QUERY: &str = "SELECT m.user_id, m.contact_id, m.role, m.joined_at, u.username, u.display_name AS user_name, c.address, c.display_name AS contact_name FROM members m LEFT JOIN users u ON u.id = m.user_id LEFT JOIN contacts c ON c.id = m.contact_id WHERE m.conversation_id = ? AND m.left_at IS NULL ORDER BY m.joined_at, m.rowid";

pub(crate) fn member(row: &SqliteRow) -> StoreResult<Member> {
    let role: String = get(row, "role")?;
    Ok(Member {
        party: party(
            row,
            "user_id",
            "username",
            "user_name",
            "contact_id",
            "address",
            "contact_name",
        )?
        .ok_or_else(|| corrupt("member", "neither user nor contact"))?,
        role: Role::parse(&role).ok_or_else(|| corrupt("role", &role))?,
        joined_at: Timestamp(get(row, "joined_at")?),
    })
}

/// `SELECT` of a message with its sender's names; append a `WHERE` with `concat!`.
macro_rules! message_select {
    () => {
        "SELECT m.id, m.conversation_id, m.seq, m.sender_user_id, m.sender_contact_id, m.channel, m.text, m.client_txn_id, m.edited_at, m.deleted, m.created_at, u.username, u.display_name AS user_name, c.address, c.display_name AS contact_name FROM messages m LEFT JOIN users u ON u.id = m.sender_user_id LEFT JOIN contacts c ON c.id = m.sender_contact_id"
    };
}
pub(crate) use message_select;

pub(crate) fn message(row: &SqliteRow) -> StoreResult<Message> {
    let channel: String = get(row, "channel")?;
    let deleted: bool = get(row, "deleted")?;
    Ok(Message {
        id: MessageId::new(get::<String>(row, "id")?),
        conversation_id: ConversationId::new(get::<String>(row, "conversation_id")?),
        seq: get(row, "seq")?,
        sender: party(
            row,
            "sender_user_id",
            "username",
            "user_name",
            "sender_contact_id",
            "address",
            "contact_name",
        )?,
        channel: Channel::parse(&channel).ok_or_else(|| corrupt("channel", &channel))?,
        text: if deleted { None } else { get(row, "text")? },
        client_txn_id: get(row, "client_txn_id")?,
        edited_at: get::<Option<i64>>(row, "edited_at")?.map(Timestamp),
        deleted,
        created_at: Timestamp(get(row, "created_at")?),
    })
}

pub(crate) fn conversation_kind(row: &SqliteRow) -> StoreResult<ConversationKind> {
    let kind: String = get(row, "kind")?;
    ConversationKind::parse(&kind).ok_or_else(|| corrupt("conversation kind", &kind))
}

pub(crate) fn member_view(row: &SqliteRow) -> StoreResult<MemberView> {
    let folder: String = get(row, "folder")?;
    let notify: String = get(row, "notify")?;
    Ok(MemberView {
        folder: Folder::parse(&folder).ok_or_else(|| corrupt("folder", &folder))?,
        last_read_seq: get(row, "last_read_seq")?,
        muted_until: get::<Option<i64>>(row, "muted_until")?.map(Timestamp),
        notify: Notify::parse(&notify).ok_or_else(|| corrupt("notify", &notify))?,
    })
}

pub(crate) fn event(row: &SqliteRow) -> StoreResult<StoredEvent> {
    let kind: String = get(row, "kind")?;
    Ok(StoredEvent {
        user_id: UserId::new(get::<String>(row, "user_id")?),
        cursor: get(row, "cursor")?,
        record: EventRecord {
            kind: EventKind::parse(&kind).ok_or_else(|| corrupt("event kind", &kind))?,
            conversation_id: get::<Option<String>>(row, "conversation_id")?
                .map(ConversationId::new),
            message_id: get::<Option<String>>(row, "message_id")?.map(MessageId::new),
            subject_user_id: get::<Option<String>>(row, "subject_user_id")?.map(UserId::new),
            session_id: get::<Option<String>>(row, "session_id")?.map(SessionId::new),
            number: get(row, "number")?,
        },
        created_at: Timestamp(get(row, "created_at")?),
    })
}
