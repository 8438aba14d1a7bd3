//! Schema-level code both SQL backends share: the migration runner and the column lists
//! and queries whose rows `hilo_store::sql` decodes.
//!
//! This file is not part of `hilo-store` (which has no driver): `hilo-store-sqlite` and
//! `hilo-store-postgres` each mount it with `#[path] mod rows;` and provide, in their
//! `lib.rs`, the macro `member_order!()` (the column that keeps members in join order).
//! The SQL here is the subset both dialects accept, with `$N` placeholders. SQLite reads
//! `$N` as a *named* parameter numbered by first appearance, so every query here must use
//! its placeholders first in increasing order (`$1` before `$2`); a query binding `$2`
//! first would take the wrong values on SQLite without an error.

/// The migrator for `files`: `(version, name, SQL)` for each file of the backend's
/// `migrations/` directory, which the backends keep under the same names.
pub(crate) fn migrator(files: &[(i64, &'static str, &'static str)]) -> sqlx::migrate::Migrator {
    use sqlx::SqlSafeStr;
    use sqlx::migrate::{Migration, MigrationType, Migrator};
    Migrator::with_migrations(
        files
            .iter()
            .map(|&(version, name, sql)| {
                Migration::new(
                    version,
                    name.into(),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

/// The user columns [`user`] reads, for `concat!` into queries.
macro_rules! user_columns {
    () => {
        "users.id, users.username, users.display_name, users.is_admin, users.suspended, users.who_can_message, users.last_seen_visibility, users.read_receipts, users.created_at"
    };
}
pub(crate) use user_columns;

/// The session columns [`session`] reads.
macro_rules! session_columns {
    () => {
        "sessions.id AS session_id, sessions.user_id AS session_user_id, sessions.device_name, sessions.created_at AS session_created_at, sessions.last_seen_at, sessions.ip"
    };
}
pub(crate) use session_columns;

/// `SELECT` of a message with its sender's names; append a `WHERE` with `concat!`.
macro_rules! message_select {
    () => {
        "SELECT m.id, m.conversation_id, m.seq, m.sender_user_id, m.sender_contact_id, m.channel, m.text, m.client_txn_id, m.edited_at, m.deleted, m.created_at, u.username, u.display_name AS user_name, c.address, c.display_name AS contact_name FROM messages m LEFT JOIN users u ON u.id = m.sender_user_id LEFT JOIN contacts c ON c.id = m.sender_contact_id"
    };
}
pub(crate) use message_select;

/// An account by id.
pub(crate) const USER_BY_ID: &str =
    concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1");

/// The ids of a conversation's current member accounts, in join order.
pub(crate) const MEMBER_USERS: &str = concat!(
    "SELECT user_id FROM members WHERE conversation_id = $1 AND user_id IS NOT NULL AND left_at IS NULL ORDER BY joined_at, ",
    member_order!()
);

/// A conversation's current members, in join order.
pub(crate) const MEMBER_QUERY: &str = concat!(
    "SELECT m.user_id, m.contact_id, m.role, m.joined_at, u.username, u.display_name AS user_name, c.address, c.display_name AS contact_name FROM members m LEFT JOIN users u ON u.id = m.user_id LEFT JOIN contacts c ON c.id = m.contact_id WHERE m.conversation_id = $1 AND m.left_at IS NULL ORDER BY m.joined_at, m.",
    member_order!()
);
