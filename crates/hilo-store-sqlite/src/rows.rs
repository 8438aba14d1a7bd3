//! Column lists, and reading SQLite rows through the decoders shared with the PostgreSQL
//! store (`hilo_store::sql`), which name the columns these lists select.

use hilo_core::{ConversationKind, Member, MemberView, Message, Session, StoredEvent, User};
use hilo_store::StoreResult;
use hilo_store::sql::{self, Columns};
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

/// A SQLite row as seen by the shared decoders.
struct Cols<'r>(&'r SqliteRow);

impl Columns for Cols<'_> {
    fn text(&self, column: &str) -> StoreResult<String> {
        self.0.try_get(column).map_err(db_error)
    }
    fn opt_text(&self, column: &str) -> StoreResult<Option<String>> {
        self.0.try_get(column).map_err(db_error)
    }
    fn int(&self, column: &str) -> StoreResult<i64> {
        self.0.try_get(column).map_err(db_error)
    }
    fn opt_int(&self, column: &str) -> StoreResult<Option<i64>> {
        self.0.try_get(column).map_err(db_error)
    }
    fn flag(&self, column: &str) -> StoreResult<bool> {
        self.0.try_get(column).map_err(db_error)
    }
}

/// `pub(crate) fn name(&SqliteRow)` for each shared decoder.
macro_rules! decoders {
    ($($name:ident -> $ty:ty),* $(,)?) => {
        $(pub(crate) fn $name(row: &SqliteRow) -> StoreResult<$ty> {
            sql::$name(&Cols(row))
        })*
    };
}

decoders!(
    user -> User,
    session -> Session,
    member -> Member,
    message -> Message,
    conversation_kind -> ConversationKind,
    member_view -> MemberView,
    event -> StoredEvent,
);

pub(crate) const MEMBER_QUERY: &str = "SELECT m.user_id, m.contact_id, m.role, m.joined_at, u.username, u.display_name AS user_name, c.address, c.display_name AS contact_name FROM members m LEFT JOIN users u ON u.id = m.user_id LEFT JOIN contacts c ON c.id = m.contact_id WHERE m.conversation_id = ? AND m.left_at IS NULL ORDER BY m.joined_at, m.rowid";

/// `SELECT` of a message with its sender's names; append a `WHERE` with `concat!`.
macro_rules! message_select {
    () => {
        "SELECT m.id, m.conversation_id, m.seq, m.sender_user_id, m.sender_contact_id, m.channel, m.text, m.client_txn_id, m.edited_at, m.deleted, m.created_at, u.username, u.display_name AS user_name, c.address, c.display_name AS contact_name FROM messages m LEFT JOIN users u ON u.id = m.sender_user_id LEFT JOIN contacts c ON c.id = m.sender_contact_id"
    };
}
pub(crate) use message_select;
