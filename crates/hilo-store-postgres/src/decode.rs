//! Row decoding for sqlx's PostgreSQL rows through the shared decoders of
//! `hilo_store::sql`.

use hilo_core::{ConversationKind, Member, Message, Session, StoredEvent, User};
use hilo_store::StoreResult;
use hilo_store::sql::{self, Columns};
use sqlx::Row as _;

use crate::db_error;

/// A row of this backend.
pub(crate) type Row = sqlx::postgres::PgRow;

/// A row as seen by the shared decoders.
struct Cols<'r>(&'r Row);

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
    fn opt_float(&self, column: &str) -> StoreResult<Option<f64>> {
        self.0.try_get(column).map_err(db_error)
    }
}

/// `pub(crate) fn name(&Row)` for each shared decoder.
macro_rules! decoders {
    ($($name:ident -> $ty:ty),* $(,)?) => {
        $(pub(crate) fn $name(row: &Row) -> StoreResult<$ty> {
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
    event -> StoredEvent,
    reaction_row -> hilo_store::sql::ReactionRow,
    attachment -> hilo_core::Attachment,
    message_attachment -> (String, hilo_core::Attachment),
    relation -> hilo_core::Relation,
    since -> hilo_store::Since,
    report -> hilo_core::Report,
    audit_event -> hilo_store::AuditEvent,
    folder -> hilo_core::Folder,
    member_place -> hilo_store::MemberPlace,
    view_row -> (hilo_core::ConversationView, Option<String>),
    conversation_member -> (String, Member),
    mail_job -> hilo_store::MailJob,
    thread_mail -> hilo_store::ThreadMail,
);

/// A non-null text column.
pub(crate) fn text(row: &Row, column: &str) -> StoreResult<String> {
    Cols(row).text(column)
}
