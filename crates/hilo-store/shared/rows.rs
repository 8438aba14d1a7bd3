//! Schema-level code both SQL backends share: the migration runner and the column lists
//! and queries whose rows `hilo_store::sql` decodes.
//!
//! This file is not part of `hilo-store` (which has no driver): `hilo-store-sqlite` and
//! `hilo-store-postgres` each mount it with `#[path] mod rows;` and provide, in their
//! `lib.rs`, the macros `member_order!()` (the column that keeps members in join order)
//! and `id_in!("column", "$N")` (the condition that the column is one of the ids in
//! parameter `$N`, which the backend binds as its own kind of list).
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

/// `SELECT` of a message with its sender's names and what it quotes; append a `WHERE` with
/// `concat!`.
macro_rules! message_select {
    () => {
        "SELECT m.id, m.conversation_id, m.seq, m.sender_user_id, m.sender_contact_id, m.channel, m.text, m.client_txn_id, m.edited_at, m.deleted, m.created_at, m.reply_to_id, m.mentions, m.forwarded, m.location_lat, m.location_lon, m.location_label, u.username, u.display_name AS user_name, c.address, c.display_name AS contact_name, r.seq AS reply_seq, r.sender_user_id AS reply_sender_user_id, r.sender_contact_id AS reply_sender_contact_id, r.text AS reply_text, r.deleted AS reply_deleted, e.rfc_id AS email_rfc_id, e.subject AS email_subject, e.from_address AS email_from, e.recipients AS email_recipients, e.auth AS email_auth, o.state AS delivery_state, o.detail AS delivery_detail, s.provider AS sms_provider, s.sid AS sms_sid, s.inbound AS sms_inbound, s.from_number AS sms_from, s.to_number AS sms_to, s.segments AS sms_segments, s.encoding AS sms_encoding FROM messages m LEFT JOIN users u ON u.id = m.sender_user_id LEFT JOIN contacts c ON c.id = m.sender_contact_id LEFT JOIN messages r ON r.id = m.reply_to_id LEFT JOIN message_emails e ON e.message_id = m.id LEFT JOIN outbound_mail o ON o.message_id = m.id LEFT JOIN message_sms s ON s.message_id = m.id"
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

/// `SELECT` of members (`m`) with their names, as [`hilo_store::sql::member`] reads them
/// (and `conversation_id`); append the condition.
macro_rules! member_select {
    () => {
        "SELECT m.conversation_id, m.user_id, m.contact_id, m.role, m.joined_at, u.username, u.display_name AS user_name, c.address, c.display_name AS contact_name FROM members m LEFT JOIN users u ON u.id = m.user_id LEFT JOIN contacts c ON c.id = m.contact_id WHERE "
    };
}

/// A conversation's current members, in join order.
pub(crate) const MEMBER_QUERY: &str = concat!(
    member_select!(),
    "m.conversation_id = $1 AND m.left_at IS NULL ORDER BY m.joined_at, m.",
    member_order!()
);

/// Conversations as member `$1` sees them, one row for each they are a current member
/// of: the conversation, the member's own state, the messages from others after their
/// read marker (`unread_count`) and the id of the newest message they may see
/// (`last_message_id`: not hidden by them, not before a "delete for me"). Append the
/// condition that picks the conversations (`c`). A page of a conversation list is this,
/// `MEMBERS_OF` and `MESSAGES_BY_ID` with its reactions and attachments: five statements
/// however long the page, not seven for each conversation.
macro_rules! view_select {
    () => {
        concat!(
            "SELECT c.id, c.kind, c.name, c.last_seq, c.created_at, c.updated_at, mb.folder, mb.last_read_seq, mb.muted_until, mb.notify, mb.cleared_seq, mb.pinned, mb.hidden, ",
            "(SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id AND m.seq > mb.last_read_seq AND m.seq > COALESCE(mb.cleared_seq, 0) AND NOT m.deleted AND (m.sender_user_id IS NULL OR m.sender_user_id <> $1) AND NOT EXISTS (SELECT 1 FROM hidden_messages h WHERE h.user_id = $1 AND h.message_id = m.id)) AS unread_count, ",
            "(SELECT m.id FROM messages m WHERE m.conversation_id = c.id AND m.seq > COALESCE(mb.cleared_seq, 0) AND NOT EXISTS (SELECT 1 FROM hidden_messages h WHERE h.user_id = $1 AND h.message_id = m.id) ORDER BY m.seq DESC LIMIT 1) AS last_message_id ",
            "FROM conversations c JOIN members mb ON mb.conversation_id = c.id AND mb.user_id = $1 AND mb.left_at IS NULL WHERE "
        )
    };
}
pub(crate) use view_select;

/// The current members of conversations `$1` (an id list), each with `conversation_id`,
/// in join order.
pub(crate) const MEMBERS_OF: &str = concat!(
    member_select!(),
    id_in!("m.conversation_id", "$1"),
    " AND m.left_at IS NULL ORDER BY m.joined_at, m.",
    member_order!()
);

/// Messages `$1` (an id list), in no particular order.
pub(crate) const MESSAGES_BY_ID: &str = concat!(message_select!(), " WHERE ", id_in!("m.id", "$1"));

/// The reactions on messages `$1` (an id list), in the order they were made.
pub(crate) const REACTIONS_OF_MESSAGES: &str = concat!(
    "SELECT message_id, emoji, user_id FROM reactions WHERE ",
    id_in!("message_id", "$1"),
    " ORDER BY created_at, user_id, emoji"
);

/// One message's reactions, in the order they were made.
pub(crate) const REACTIONS_OF_MESSAGE: &str = "SELECT message_id, emoji, user_id FROM reactions WHERE message_id = $1 ORDER BY created_at, user_id, emoji";

/// The reactions on a conversation's messages with `$2 <= seq <= $3` (one history page),
/// in the order they were made.
pub(crate) const REACTIONS_IN_RANGE: &str = "SELECT r.message_id, r.emoji, r.user_id FROM reactions r JOIN messages m ON m.id = r.message_id WHERE m.conversation_id = $1 AND m.seq >= $2 AND m.seq <= $3 ORDER BY r.created_at, r.user_id, r.emoji";

/// Whether `$1` hid message `$2` for themselves, or deleted its conversation for
/// themselves since.
pub(crate) const IS_HIDDEN: &str = "SELECT EXISTS (SELECT 1 FROM hidden_messages WHERE user_id = $1 AND message_id = $2) OR EXISTS (SELECT 1 FROM members mb JOIN messages m ON m.conversation_id = mb.conversation_id WHERE mb.user_id = $1 AND m.id = $2 AND m.seq <= mb.cleared_seq)";

/// The texts a message had before its edits, oldest first.
pub(crate) const MESSAGE_VERSIONS: &str =
    "SELECT text, replaced_at FROM message_versions WHERE message_id = $1 ORDER BY version";

/// Who hid message `$1` for themselves, or deleted its conversation for themselves since
/// (they hear nothing more of it).
pub(crate) const HIDDEN_BY: &str = "SELECT user_id FROM hidden_messages WHERE message_id = $1 UNION SELECT mb.user_id FROM members mb JOIN messages m ON m.conversation_id = mb.conversation_id WHERE m.id = $1 AND mb.user_id IS NOT NULL AND m.seq <= mb.cleared_seq";

/// Every current member account of conversation `$1`, in join order, with what a receipt
/// shows of them: the newest message delivered to them, their read marker, and whether
/// they share read receipts (never while the conversation sits in their message requests
/// or spam).
pub(crate) const RECEIPTS: &str = concat!(
    "SELECT m.user_id, m.delivered_seq, m.last_read_seq, (u.read_receipts AND m.folder IN ('inbox', 'archived')) AS read_receipts FROM members m JOIN users u ON u.id = m.user_id WHERE m.conversation_id = $1 AND m.left_at IS NULL ORDER BY m.joined_at, m.",
    member_order!()
);

/// The accounts other than `$3` that sent messages of conversation `$1` with `seq` in
/// `($2, $4]`: who hears that `$3` received them.
pub(crate) const SENDERS_BETWEEN: &str = "SELECT DISTINCT sender_user_id FROM messages WHERE conversation_id = $1 AND seq > $2 AND sender_user_id IS NOT NULL AND sender_user_id <> $3 AND seq <= $4 AND NOT deleted";

/// The accounts sharing a current conversation with `$1` (not `$1` itself).
pub(crate) const CO_MEMBERS: &str = "SELECT DISTINCT o.user_id FROM members me JOIN members o ON o.conversation_id = me.conversation_id WHERE me.user_id = $1 AND me.left_at IS NULL AND o.left_at IS NULL AND o.user_id IS NOT NULL AND o.user_id <> $1";

/// Who hears of `$1`'s new display name: the current members of every conversation `$1`
/// is or was in, since their messages stay there, shown under the name they have now.
pub(crate) const NAME_AUDIENCE: &str = "SELECT DISTINCT o.user_id FROM members me JOIN members o ON o.conversation_id = me.conversation_id WHERE me.user_id = $1 AND o.left_at IS NULL AND o.user_id IS NOT NULL AND o.user_id <> $1";

/// The attachment columns [`hilo_store::sql::attachment`] reads (table alias `a`).
macro_rules! attachment_columns {
    () => {
        "a.id AS attachment_id, a.uploader_id, a.name AS attachment_name, a.content_type, a.size, a.width, a.height, a.has_thumbnail, a.created_at AS attachment_created_at"
    };
}

/// Whether attachment `a` may be read by user `$2`: its uploader before it is sent, or a
/// current member of a conversation where a live (not deleted) message carries it.
macro_rules! attachment_readable {
    () => {
        "a.deleted_at IS NULL AND ((a.uploader_id = $2 AND a.sent_at IS NULL) OR EXISTS (SELECT 1 FROM message_attachments ma JOIN messages m ON m.id = ma.message_id JOIN members mb ON mb.conversation_id = m.conversation_id WHERE ma.attachment_id = a.id AND NOT m.deleted AND mb.user_id = $2 AND mb.left_at IS NULL))"
    };
}

/// Attachment `$1` if user `$2` may read it.
pub(crate) const ATTACHMENT_FOR: &str = concat!(
    "SELECT ",
    attachment_columns!(),
    " FROM attachments a WHERE a.id = $1 AND ",
    attachment_readable!()
);

/// Whether user `$2` may put attachment `$1` on a message: they can read it, or it is
/// their own and not deleted (sending it again).
pub(crate) const ATTACHMENT_SENDABLE: &str = concat!(
    "SELECT EXISTS (SELECT 1 FROM attachments a WHERE a.id = $1 AND (",
    attachment_readable!(),
    " OR (a.uploader_id = $2 AND a.deleted_at IS NULL)))"
);

/// One message's attachments, in order, each with `message_id`.
pub(crate) const ATTACHMENTS_OF_MESSAGE: &str = concat!(
    "SELECT ma.message_id, ",
    attachment_columns!(),
    " FROM message_attachments ma JOIN attachments a ON a.id = ma.attachment_id WHERE ma.message_id = $1 ORDER BY ma.position"
);

/// The attachments of messages `$1` (an id list), each message's in order.
pub(crate) const ATTACHMENTS_OF_MESSAGES: &str = concat!(
    "SELECT ma.message_id, ",
    attachment_columns!(),
    " FROM message_attachments ma JOIN attachments a ON a.id = ma.attachment_id WHERE ",
    id_in!("ma.message_id", "$1"),
    " ORDER BY ma.position"
);

/// The attachments of a conversation's messages with `$2 <= seq <= $3` (one history page).
pub(crate) const ATTACHMENTS_IN_RANGE: &str = concat!(
    "SELECT ma.message_id, ",
    attachment_columns!(),
    " FROM message_attachments ma JOIN messages m ON m.id = ma.message_id JOIN attachments a ON a.id = ma.attachment_id WHERE m.conversation_id = $1 AND m.seq >= $2 AND m.seq <= $3 ORDER BY m.seq, ma.position"
);

/// Marks deleted the attachments of message `$2` that no other live message carries
/// (at time `$1`), before its links are removed: nobody may read them from now on.
pub(crate) const DOOM_ATTACHMENTS_OF: &str = "UPDATE attachments SET deleted_at = $1 WHERE id IN (SELECT attachment_id FROM message_attachments WHERE message_id = $2) AND NOT EXISTS (SELECT 1 FROM message_attachments ma JOIN messages m ON m.id = ma.message_id WHERE ma.attachment_id = attachments.id AND ma.message_id <> $2 AND NOT m.deleted)";

/// Marks deleted (at `$1`) the uploads never sent that were made before `$2`.
pub(crate) const DOOM_ORPHANS: &str = "UPDATE attachments SET deleted_at = $1 WHERE sent_at IS NULL AND deleted_at IS NULL AND created_at < $2";

/// Up to `$1` attachments marked deleted, whose bytes are to be removed.
pub(crate) const DOOMED: &str =
    "SELECT id FROM attachments WHERE deleted_at IS NOT NULL ORDER BY deleted_at LIMIT $1";

/// Node `$1` has a stream of user `$2` open, current until `$3`.
pub(crate) const STREAM_OPENED: &str = "INSERT INTO presence (node_id, user_id, until_at) VALUES ($1, $2, $3) ON CONFLICT (node_id, user_id) DO UPDATE SET until_at = excluded.until_at";

/// Whether a node other than `$2` has a stream of user `$1` current at `$3`.
pub(crate) const STREAM_ELSEWHERE: &str =
    "SELECT EXISTS (SELECT 1 FROM presence WHERE user_id = $1 AND node_id <> $2 AND until_at > $3)";

/// Node `$1` has no stream of user `$2` left.
pub(crate) const STREAM_CLOSED: &str = "DELETE FROM presence WHERE node_id = $1 AND user_id = $2";

/// Whether any node has a stream of user `$1` current at `$2`.
pub(crate) const HAS_STREAM: &str =
    "SELECT EXISTS (SELECT 1 FROM presence WHERE user_id = $1 AND until_at > $2)";

/// Forgets the rows of nodes gone for a while (expired before `$1`).
pub(crate) const STREAMS_EXPIRED: &str = "DELETE FROM presence WHERE until_at < $1";

/// `$1`'s relation to `$2` (the columns [`hilo_store::sql::relation`] reads).
pub(crate) const RELATION: &str = "SELECT EXISTS (SELECT 1 FROM friends WHERE user_id = $1 AND friend_id = $2) AS friends, EXISTS (SELECT 1 FROM friend_requests WHERE from_user_id = $1 AND to_user_id = $2) AS request_sent, EXISTS (SELECT 1 FROM friend_requests WHERE from_user_id = $2 AND to_user_id = $1 AND declined_at IS NULL) AS request_received, EXISTS (SELECT 1 FROM friend_requests WHERE from_user_id = $2 AND to_user_id = $1 AND declined_at IS NOT NULL) AS declined, EXISTS (SELECT 1 FROM blocks WHERE blocker_id = $1 AND blocked_id = $2) AS blocking, EXISTS (SELECT 1 FROM blocks WHERE blocker_id = $2 AND blocked_id = $1) AS blocked_by, EXISTS (SELECT 1 FROM friends a JOIN friends b ON b.friend_id = a.friend_id WHERE a.user_id = $1 AND b.user_id = $2) AS mutual_friend";

/// `$1`'s friends with the time each friendship began (`since`), by username.
pub(crate) const FRIENDS: &str = concat!(
    "SELECT ",
    user_columns!(),
    ", f.since FROM friends f JOIN users ON users.id = f.friend_id WHERE f.user_id = $1 ORDER BY users.username"
);

/// Friend requests to `$1` not declined, newest first, with when each was made (`since`).
pub(crate) const INCOMING_REQUESTS: &str = concat!(
    "SELECT ",
    user_columns!(),
    ", r.created_at AS since FROM friend_requests r JOIN users ON users.id = r.from_user_id WHERE r.to_user_id = $1 AND r.declined_at IS NULL ORDER BY r.created_at DESC, users.username"
);

/// Friend requests from `$1` (declined ones too: the asker is not told), newest first, with when each was made (`since`).
pub(crate) const OUTGOING_REQUESTS: &str = concat!(
    "SELECT ",
    user_columns!(),
    ", r.created_at AS since FROM friend_requests r JOIN users ON users.id = r.to_user_id WHERE r.from_user_id = $1 ORDER BY r.created_at DESC, users.username"
);

/// `$1` asks `$2` to be friends (at `$3`).
pub(crate) const INSERT_FRIEND_REQUEST: &str =
    "INSERT INTO friend_requests (from_user_id, to_user_id, created_at) VALUES ($1, $2, $3)";

/// The request from `$1` to `$2` is over.
pub(crate) const DELETE_FRIEND_REQUEST: &str =
    "DELETE FROM friend_requests WHERE from_user_id = $1 AND to_user_id = $2";

/// `$3` declines (at `$1`) the request from `$2`, without telling them.
pub(crate) const DECLINE_FRIEND_REQUEST: &str =
    "UPDATE friend_requests SET declined_at = $1 WHERE from_user_id = $2 AND to_user_id = $3";

/// `$1` and `$2` are friends since `$3`.
pub(crate) const INSERT_FRIENDS: &str =
    "INSERT INTO friends (user_id, friend_id, since) VALUES ($1, $2, $3), ($2, $1, $3)";

/// `$1` and `$2` are no longer friends.
pub(crate) const DELETE_FRIENDS: &str = "DELETE FROM friends WHERE (user_id = $1 AND friend_id = $2) OR (user_id = $2 AND friend_id = $1)";

/// `$1` blocks `$2` (since `$3`); nothing when it already did.
pub(crate) const INSERT_BLOCK: &str = "INSERT INTO blocks (blocker_id, blocked_id, created_at) VALUES ($1, $2, $3) ON CONFLICT (blocker_id, blocked_id) DO NOTHING";

/// `$1` no longer blocks `$2`.
pub(crate) const DELETE_BLOCK: &str =
    "DELETE FROM blocks WHERE blocker_id = $1 AND blocked_id = $2";

/// The accounts `$1` blocks, by username.
pub(crate) const BLOCKED_USERS: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM blocks b JOIN users ON users.id = b.blocked_id WHERE b.blocker_id = $1 ORDER BY users.username"
);

/// The accounts that block `$1`.
pub(crate) const BLOCKERS_OF: &str = "SELECT blocker_id FROM blocks WHERE blocked_id = $1";

/// One more message from `$2` dropped by `$1`'s block.
pub(crate) const COUNT_DROPPED: &str =
    "UPDATE blocks SET dropped = dropped + 1 WHERE blocker_id = $1 AND blocked_id = $2";

/// How many messages from `$2` the block of `$1` dropped.
pub(crate) const DROPPED: &str =
    "SELECT dropped FROM blocks WHERE blocker_id = $1 AND blocked_id = $2";

/// Who hears that `$1` came online or went offline when they show it to everyone: their
/// friends, and the accounts sharing a current conversation with them that sits in their
/// inbox or archive (not in requests or spam), except anyone they block.
pub(crate) const PRESENCE_AUDIENCE: &str = "SELECT o.user_id FROM members me JOIN members o ON o.conversation_id = me.conversation_id WHERE me.user_id = $1 AND me.left_at IS NULL AND me.folder IN ('inbox', 'archived') AND o.left_at IS NULL AND o.user_id IS NOT NULL AND o.user_id <> $1 AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = $1 AND b.blocked_id = o.user_id) UNION SELECT friend_id FROM friends WHERE user_id = $1";

/// The folder a member added by `$2` (who opened or invited) starts in: the inbox for
/// the one who opened it and for the inviter's friends, message requests for anyone else.
macro_rules! arrival_folder {
    ($member:literal) => {
        // `$2` first: SQLite numbers `$N` by first appearance (see the top of this file).
        concat!(
            "CASE WHEN $2 = ",
            $member,
            " OR EXISTS (SELECT 1 FROM friends f WHERE f.friend_id = $2 AND f.user_id = ",
            $member,
            ") THEN 'inbox' ELSE 'requests' END"
        )
    };
}

/// Account `$3` joins conversation `$1` as `$4` (role) at `$5`, added by `$2` (or opening
/// it, when it is `$3`), in its arrival folder.
pub(crate) const INSERT_MEMBER: &str = concat!(
    "INSERT INTO members (conversation_id, folder, user_id, role, joined_at, activity_at) VALUES ($1, ",
    arrival_folder!("$3"),
    ", $3, $4, $5, (SELECT updated_at FROM conversations WHERE id = $1))"
);

/// A former member of conversation `$3`, account `$4`, rejoins (added by `$2` at `$1`)
/// through their old row, keeping their read marker, in their arrival folder.
pub(crate) const REJOIN_MEMBER: &str = concat!(
    "UPDATE members SET joined_at = $1, left_at = NULL, role = 'member', hidden = FALSE, folder = ",
    arrival_folder!("members.user_id"),
    ", activity_at = (SELECT updated_at FROM conversations WHERE id = $3) WHERE conversation_id = $3 AND user_id = $4 AND left_at IS NOT NULL"
);

/// Every current member of conversation `$1` takes its activity time, the order of their
/// lists (`members_by_user` walks it): run in every transaction that moves it.
pub(crate) const SYNC_ACTIVITY: &str = "UPDATE members SET activity_at = (SELECT updated_at FROM conversations WHERE id = $1) WHERE conversation_id = $1 AND left_at IS NULL AND activity_at <> (SELECT updated_at FROM conversations WHERE id = $1)";

/// The conversations of account `$1` in folder `$2`, pinned (`$3` true) or not, that they
/// have not deleted, each with its activity time (`updated_at`): append the order and
/// limit. An index range of `members_by_user`, newest first.
macro_rules! page_select {
    () => {
        "SELECT m.conversation_id AS id, m.activity_at AS updated_at FROM members m WHERE m.user_id = $1 AND m.folder = $2 AND m.pinned = $3 AND m.left_at IS NULL AND NOT m.hidden"
    };
}

/// The first page of a list ([`page_select`]): at most `$4` rows.
pub(crate) const PAGE_FIRST: &str = concat!(
    page_select!(),
    " ORDER BY m.activity_at DESC, m.conversation_id DESC LIMIT $4"
);

/// A later page ([`page_select`]): at most `$6` rows after the one with activity time `$4`
/// and id `$5`.
pub(crate) const PAGE_AFTER: &str = concat!(
    page_select!(),
    " AND (m.activity_at, m.conversation_id) < ($4, $5) ORDER BY m.activity_at DESC, m.conversation_id DESC LIMIT $6"
);

/// Where a message from `$2` in conversation `$1` puts the conversation: back in the
/// inbox for the sender (sending accepts a request) and for members who archived it, and
/// out of message requests for the sender's friends. The accounts whose folder changed.
pub(crate) const ROUTE_ON_SEND: &str = "UPDATE members SET folder = 'inbox' WHERE conversation_id = $1 AND left_at IS NULL AND user_id IS NOT NULL AND ((user_id = $2 AND folder <> 'inbox') OR (user_id <> $2 AND (folder = 'archived' OR (folder = 'requests' AND EXISTS (SELECT 1 FROM friends f WHERE f.user_id = members.user_id AND f.friend_id = $2))))) RETURNING user_id";

/// A new message in conversation `$1` shows it again to the members who had deleted or
/// declined it (with only what follows their `cleared_seq`). Those members.
pub(crate) const REVEALED_BY: &str = "UPDATE members SET hidden = FALSE WHERE conversation_id = $1 AND hidden AND left_at IS NULL AND user_id IS NOT NULL RETURNING user_id";

/// Member `$2` opens conversation `$1` again after deleting it: it is back in their
/// lists, still without what they deleted. No row unless it was hidden.
pub(crate) const REOPEN: &str = "UPDATE members SET hidden = FALSE WHERE conversation_id = $1 AND user_id = $2 AND hidden AND left_at IS NULL";

/// Member `$2` of conversation `$1` deletes it for themselves (or declines it): everything
/// up to its newest message is hidden from them, counts as read, and the conversation is
/// gone for them until it is written to or they open it again, unpinned (it comes back
/// as a new one, and a hidden pin would hold one of their ten places unseen).
pub(crate) const CLEAR_CONVERSATION: &str = "UPDATE members SET hidden = TRUE, pinned = FALSE, cleared_seq = (SELECT last_seq FROM conversations WHERE id = $1), last_read_seq = (SELECT last_seq FROM conversations WHERE id = $1), delivered_seq = (SELECT last_seq FROM conversations WHERE id = $1) WHERE conversation_id = $1 AND user_id = $2 AND left_at IS NULL";

/// The report columns [`hilo_store::sql::report`] reads.
macro_rules! report_columns {
    () => {
        "id, reporter_id, message_id, conversation_id, subject_user_id, reason, status, created_at, resolved_at"
    };
}

/// Stores report `$1` from `$2` about message `$3` (of conversation `$4`) and/or account
/// `$5`, because `$6`, made at `$7`.
pub(crate) const INSERT_REPORT: &str = "INSERT INTO reports (id, reporter_id, message_id, conversation_id, subject_user_id, reason, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// Report `$1`.
pub(crate) const REPORT_BY_ID: &str =
    concat!("SELECT ", report_columns!(), " FROM reports WHERE id = $1");

/// Up to `$2` reports with status `$1`, oldest first (the queue's order).
pub(crate) const REPORTS_WITH_STATUS: &str = concat!(
    "SELECT ",
    report_columns!(),
    " FROM reports WHERE status = $1 ORDER BY created_at, id LIMIT $2"
);

/// Resolves open report `$4` with status `$1` at `$2` by `$3`; the reporter, when it was
/// open.
pub(crate) const RESOLVE_REPORT: &str = "UPDATE reports SET status = $1, resolved_at = $2, resolved_by = $3 WHERE id = $4 AND status = 'open' RETURNING reporter_id";

/// The live replies to message `$1` that account `$2` sees (not hidden or deleted for them).
pub(crate) const VISIBLE_REPLIES_TO: &str = "SELECT m.id FROM messages m WHERE m.reply_to_id = $1 AND NOT m.deleted AND NOT EXISTS (SELECT 1 FROM hidden_messages h WHERE h.user_id = $2 AND h.message_id = m.id) AND m.seq > COALESCE((SELECT mb.cleared_seq FROM members mb WHERE mb.conversation_id = m.conversation_id AND mb.user_id = $2), 0) ORDER BY m.seq";

/// When conversation `$1` is direct and `$2` a current member: the other member account
/// and that member's folder. No row for groups (or anyone else).
pub(crate) const DIRECT_PEER: &str = "SELECT o.user_id, o.folder FROM conversations c JOIN members me ON me.conversation_id = c.id JOIN members o ON o.conversation_id = c.id WHERE c.id = $1 AND c.kind = 'direct' AND me.user_id = $2 AND me.left_at IS NULL AND o.user_id IS NOT NULL AND o.user_id <> $2 AND o.left_at IS NULL";

/// The folder of conversation `$1` for its current member `$2`, and whether they deleted
/// and pinned it.
pub(crate) const MEMBER_PLACE: &str = "SELECT folder, hidden, pinned FROM members WHERE conversation_id = $1 AND user_id = $2 AND left_at IS NULL";

/// Adds one lesson's counts to a feature (`$2`, `$3`: 1 and 0 for spam, 0 and 1 for ham).
pub(crate) const TEACH_FEATURE: &str = "INSERT INTO spam_features (feature, spam, ham) VALUES ($1, $2, $3) ON CONFLICT (feature) DO UPDATE SET spam = spam_features.spam + excluded.spam, ham = spam_features.ham + excluded.ham";

/// Conversations a sender opened (sent the first message of) since `$2`.
pub(crate) const OPENED_SINCE: &str =
    "SELECT COUNT(*) FROM messages WHERE sender_user_id = $1 AND created_at > $2 AND seq = 1";

/// Conversations a sender opened with exactly the text `$3` since `$2`. Both this and
/// [`OPENED_SINCE`] read only first messages (index `messages_opened_by_sender`): a count
/// over everything a sender wrote in a day made each send cost one row per message they
/// had sent, so a busy sender's sends slowed down the more they sent.
pub(crate) const SAME_TEXT_SINCE: &str = "SELECT COUNT(DISTINCT conversation_id) FROM messages WHERE sender_user_id = $1 AND created_at > $2 AND seq = 1 AND text = $3";

/// Moves a message's recipients out of their requests into spam (the message was judged
/// spam); they get `conversation.updated`.
pub(crate) const ROUTE_TO_SPAM: &str = "UPDATE members SET folder = 'spam' WHERE conversation_id = $1 AND user_id <> $2 AND user_id IS NOT NULL AND left_at IS NULL AND folder = 'requests' RETURNING user_id";

/// The names of a message's attachments, in order: searchable with its text.
pub(crate) const ATTACHMENT_NAMES_OF: &str = "SELECT a.name FROM message_attachments ma JOIN attachments a ON a.id = ma.attachment_id WHERE ma.message_id = $1 ORDER BY ma.position";

/// An account's TOTP secret and pending enrolment.
pub(crate) const TWO_FACTOR: &str = "SELECT totp_secret, totp_pending FROM users WHERE id = $1";

/// An account's unused recovery codes.
pub(crate) const RECOVERY_CODES: &str =
    "SELECT n, code_hash FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL ORDER BY n";

/// Starts an enrolment.
pub(crate) const SET_TOTP_PENDING: &str = "UPDATE users SET totp_pending = $1 WHERE id = $2";

/// Confirms the pending enrolment `$1`, marking step `$2` used.
pub(crate) const ENABLE_TOTP: &str = "UPDATE users SET totp_secret = $1, totp_pending = NULL, totp_last_step = $2 WHERE id = $3 AND totp_pending = $1";

/// Forgets an account's recovery codes.
pub(crate) const DELETE_RECOVERY_CODES: &str = "DELETE FROM recovery_codes WHERE user_id = $1";

/// Stores one recovery code's hash.
pub(crate) const INSERT_RECOVERY_CODE: &str =
    "INSERT INTO recovery_codes (user_id, n, code_hash) VALUES ($1, $2, $3)";

/// Turns 2FA off.
pub(crate) const DISABLE_TOTP: &str =
    "UPDATE users SET totp_secret = NULL, totp_pending = NULL WHERE id = $1";

/// Marks step `$1` used unless that step or a later one was.
pub(crate) const CLAIM_TOTP_STEP: &str =
    "UPDATE users SET totp_last_step = $1 WHERE id = $2 AND totp_last_step < $1";

/// Spends a recovery code unless it was spent.
pub(crate) const USE_RECOVERY_CODE: &str =
    "UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND n = $3 AND used_at IS NULL";

/// Replaces a password hash by the same password's hash under new parameters.
pub(crate) const REHASH_PASSWORD: &str =
    "UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3";

/// Appends to the audit log.
pub(crate) const INSERT_AUDIT: &str = "INSERT INTO audit_events (id, user_id, username, actor_id, kind, at, ip, device, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

/// One account's audit entries before id `$2`, newest first.
pub(crate) const AUDIT_OF_USER: &str = "SELECT id, user_id, username, actor_id, kind, at, ip, device, detail FROM audit_events WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3";

/// Every audit entry before id `$1`, newest first.
pub(crate) const AUDIT_ALL: &str = "SELECT id, user_id, username, actor_id, kind, at, ip, device, detail FROM audit_events WHERE id < $1 ORDER BY id DESC LIMIT $2";

/// Accounts after username `$1` whose username or display name is like `$2`.
pub(crate) const LIST_USERS: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM users WHERE deleted_at IS NULL AND username > $1 AND (username LIKE $2 ESCAPE '\\' OR lower(display_name) LIKE $2 ESCAPE '\\') ORDER BY username LIMIT $3"
);

/// Counts an event of key `$1` at `$2`; the window restarts when it began at or before
/// `$3`, and `$4` (sliding) moves the stored time to now at every event.
pub(crate) const BUMP_COUNTER: &str = "INSERT INTO rate_limits (key, started_at, count) VALUES ($1, $2, 1) ON CONFLICT (key) DO UPDATE SET count = CASE WHEN rate_limits.started_at <= $3 THEN 1 ELSE rate_limits.count + 1 END, started_at = CASE WHEN rate_limits.started_at <= $3 OR $4 THEN excluded.started_at ELSE rate_limits.started_at END RETURNING count, started_at";

/// A counter.
pub(crate) const COUNTER: &str = "SELECT count, started_at FROM rate_limits WHERE key = $1";

/// Takes one back from a counter.
pub(crate) const REFUND_COUNTER: &str =
    "UPDATE rate_limits SET count = count - 1 WHERE key = $1 AND count > 0";

/// Forgets a counter.
pub(crate) const FORGET_COUNTER: &str = "DELETE FROM rate_limits WHERE key = $1";

/// Forgets old counters.
pub(crate) const SWEEP_COUNTERS: &str = "DELETE FROM rate_limits WHERE started_at < $1";

/// What deleting account `$1` removes outright: its secrets, addresses, relations, hidden marks,
/// presence, sessions and event stream.
pub(crate) const DELETE_ACCOUNT_DATA: [&str; 10] = [
    "DELETE FROM recovery_codes WHERE user_id = $1",
    "DELETE FROM user_emails WHERE user_id = $1",
    "DELETE FROM blocked_addresses WHERE user_id = $1",
    "DELETE FROM friends WHERE user_id = $1 OR friend_id = $1",
    "DELETE FROM friend_requests WHERE from_user_id = $1 OR to_user_id = $1",
    "DELETE FROM blocks WHERE blocker_id = $1 OR blocked_id = $1",
    "DELETE FROM hidden_messages WHERE user_id = $1",
    "DELETE FROM presence WHERE user_id = $1",
    "DELETE FROM sessions WHERE user_id = $1",
    "DELETE FROM user_events WHERE user_id = $1",
];

/// What deleting account `$2` at `$1` changes first, before its sessions (the lock order
/// of every body: member rows before `users` rows): unsent uploads are doomed (the sweep
/// removes their bytes) and memberships end.
pub(crate) const END_ACCOUNT_PLACES: [&str; 2] = [
    "UPDATE attachments SET deleted_at = $1 WHERE uploader_id = $2 AND sent_at IS NULL AND deleted_at IS NULL",
    "UPDATE members SET left_at = $1 WHERE user_id = $2 AND left_at IS NULL",
];

/// The last step of deleting account `$2` at `$1`: it becomes a tombstone no one can log
/// in to or find, whose username (with a `-`, which no username has) is free again.
pub(crate) const TOMBSTONE_ACCOUNT: &str = "UPDATE users SET deleted_at = $1, username = 'deleted-' || id, display_name = 'Deleted user', password_hash = '!', suspended = TRUE, is_admin = FALSE, totp_secret = NULL, totp_pending = NULL WHERE id = $2 AND deleted_at IS NULL";

/// Whether account `$1` exists and is not deleted.
pub(crate) const ACCOUNT_LIVE: &str =
    "SELECT EXISTS (SELECT 1 FROM users WHERE id = $1 AND deleted_at IS NULL)";

/// Whether account `$1` has sessions with a recorded network at all, one from a device
/// described as `$2` (NULL matching NULL), and one from network `$3`.
pub(crate) const KNOWN_CLIENT: &str = "SELECT EXISTS (SELECT 1 FROM sessions WHERE user_id = $1 AND network IS NOT NULL) AS baseline, EXISTS (SELECT 1 FROM sessions WHERE user_id = $1 AND network IS NOT NULL AND agent IS NOT DISTINCT FROM $2) AS agent_seen, EXISTS (SELECT 1 FROM sessions WHERE user_id = $1 AND network = $3) AS network_seen";

/// Creates the server's own account `$2` (id `$1`, shown as `$3`, at `$4`) unless it
/// exists: no password, suspended (no login, no profile) and marked deleted (in no list).
pub(crate) const INSERT_SYSTEM_ACCOUNT: &str = "INSERT INTO users (id, username, display_name, password_hash, suspended, deleted_at, created_at) VALUES ($1, $2, $3, '!', TRUE, $4, $4) ON CONFLICT (username) DO NOTHING";

/// An account's id by username.
pub(crate) const USER_ID_BY_USERNAME: &str = "SELECT id FROM users WHERE username = $1";

/// Adds a contact (`$1` id, `$2` lower-case email address or E.164 number, `$3` name, `$4`
/// time) unless the address is one already; read its id with [`CONTACT_BY_ADDRESS`].
pub(crate) const INSERT_CONTACT: &str = "INSERT INTO contacts (id, kind, address, display_name, created_at) VALUES ($1, CASE WHEN substr($2, 1, 1) = '+' AND $2 NOT LIKE '%@%' THEN 'phone' ELSE 'email' END, $2, $3, $4) ON CONFLICT (address) DO NOTHING";

/// A contact's id by address.
pub(crate) const CONTACT_BY_ADDRESS: &str = "SELECT id FROM contacts WHERE address = $1";

/// The current members of conversation `$1`, accounts and contacts alike.
pub(crate) const MEMBER_COUNT: &str =
    "SELECT count(*) FROM members WHERE conversation_id = $1 AND left_at IS NULL";

/// Whether contact `$2` is a current member of conversation `$1`.
pub(crate) const CONTACT_IS_MEMBER: &str = "SELECT contact_id FROM members WHERE conversation_id = $1 AND contact_id = $2 AND left_at IS NULL";

/// A former member of conversation `$2`, contact `$3`, rejoins at `$1`.
pub(crate) const REJOIN_CONTACT_MEMBER: &str = "UPDATE members SET joined_at = $1, left_at = NULL WHERE conversation_id = $2 AND contact_id = $3 AND left_at IS NOT NULL";

/// The email contact at address `$3` leaves conversation `$2` at `$1`.
pub(crate) const LEAVE_CONTACT: &str = "UPDATE members SET left_at = $1 WHERE conversation_id = $2 AND contact_id = (SELECT id FROM contacts WHERE address = $3) AND left_at IS NULL";

/// The contact at address `$2` when it is a current member of conversation `$1`.
pub(crate) const CONTACT_MEMBER_BY_ADDRESS: &str = "SELECT k.id FROM members mb JOIN contacts k ON k.id = mb.contact_id WHERE mb.conversation_id = $1 AND k.address = $2 AND mb.contact_id IS NOT NULL AND mb.left_at IS NULL";

/// Opens the direct conversation `$1` with key `$2` at `$3`, unless the pair has one.
pub(crate) const INSERT_DIRECT: &str = "INSERT INTO conversations (id, kind, direct_key, created_at, updated_at) VALUES ($1, 'direct', $2, $3, $3) ON CONFLICT (direct_key) DO NOTHING RETURNING id";

/// A direct conversation's id by key.
pub(crate) const DIRECT_BY_KEY: &str = "SELECT id FROM conversations WHERE direct_key = $1";

/// Contact `$2` joins conversation `$1` at `$3` (contacts have no folder of their own).
pub(crate) const INSERT_CONTACT_MEMBER: &str = "INSERT INTO members (conversation_id, contact_id, role, folder, joined_at, activity_at) VALUES ($1, $2, 'member', 'inbox', $3, $3)";

/// Account `$2` joins conversation `$1` with a contact, opened at `$3`, in folder `$4`
/// (`requests` when the contact wrote first, `inbox` when the account opened it).
pub(crate) const INSERT_ADDRESSEE: &str = "INSERT INTO members (conversation_id, user_id, role, joined_at, activity_at, folder) VALUES ($1, $2, 'member', $3, $3, $4)";

/// The message already stored for mail `$2` received in conversation `$1`, if any.
pub(crate) const RECEIVED_EMAIL: &str =
    "SELECT message_id FROM message_emails WHERE conversation_id = $1 AND rfc_id = $2 AND inbound";

/// Keeps a message's mail (columns as in migration 18).
pub(crate) const INSERT_MESSAGE_EMAIL: &str = "INSERT INTO message_emails (message_id, conversation_id, rfc_id, inbound, subject, from_address, recipients, auth, full_text, html) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

/// Queues message `$1` of conversation `$2`, written at `$3`, for mailing if the
/// conversation has an email contact among its members, or for texting if it has a phone
/// contact (only direct conversations have those; nothing otherwise). It runs on
/// every send: `contact_id IS NOT NULL` lets it read the partial index `members_contact`
/// (a conversation's contacts only) instead of every member of a large group.
pub(crate) const ENQUEUE_MAIL: &str = "INSERT INTO outbound_mail (message_id, conversation_id, next_attempt_at, created_at, channel) SELECT $1, $2, $3, $3, CASE WHEN k.kind = 'phone' THEN 'sms' ELSE 'email' END FROM members mb JOIN contacts k ON k.id = mb.contact_id WHERE mb.conversation_id = $2 AND mb.contact_id IS NOT NULL AND mb.left_at IS NULL ORDER BY k.kind LIMIT 1";

/// Queues message `$1` of conversation `$2`, received at `$3` from contact `$4`, for
/// mailing on to the conversation's other email contacts, if it has any (a group's).
pub(crate) const ENQUEUE_RELAYED_MAIL: &str = "INSERT INTO outbound_mail (message_id, conversation_id, next_attempt_at, created_at) SELECT $1, $2, $3, $3 WHERE EXISTS (SELECT 1 FROM members mb JOIN contacts k ON k.id = mb.contact_id WHERE mb.conversation_id = $2 AND mb.contact_id IS NOT NULL AND mb.contact_id <> $4 AND mb.left_at IS NULL AND k.kind = 'email')";

/// The mail of conversation `$1`, newest first, at most `$2`: `rfc_id, subject, inbound`.
pub(crate) const THREAD_MAIL: &str = "SELECT e.rfc_id, e.subject, e.inbound FROM message_emails e JOIN messages m ON m.id = e.message_id WHERE e.conversation_id = $1 ORDER BY m.seq DESC LIMIT $2";

/// Keeps the mail a message was sent as, the first time it is composed.
pub(crate) const INSERT_SENT_EMAIL: &str = "INSERT INTO message_emails (message_id, conversation_id, rfc_id, inbound, subject, from_address, recipients) VALUES ($1, $2, $3, FALSE, $4, $5, $6) ON CONFLICT (message_id) DO NOTHING";

/// Records how a try at sending message `$5` went: state `$1`, detail `$2`, next try at
/// `$3`; only by the sender holding the lease `$6`, and never over a bounce that came in
/// meanwhile (a late answer cannot undo it). A text whose sending failed may be claimed
/// again; with `$4` its try may have reached the provider all the same, and the first such
/// try's time is kept in `unsure_at` (SET reads the row as it was, `handed_at` included).
pub(crate) const FINISH_MAIL: &str = "UPDATE outbound_mail SET state = $1, detail = $2, next_attempt_at = $3, unsure_at = CASE WHEN $4 THEN COALESCE(unsure_at, handed_at) ELSE unsure_at END, claimed_until = NULL, handed_at = NULL WHERE message_id = $5 AND state = 'queued' AND claimed_until = $6 RETURNING conversation_id";

/// A bounce: message `$2`'s mail failed, for reason `$1`.
pub(crate) const BOUNCE_MAIL: &str = "UPDATE outbound_mail SET state = 'failed', detail = $1, claimed_until = NULL WHERE message_id = $2 RETURNING conversation_id";

/// A message deleted for everyone keeps only its mail's Message-ID (repeats of it stay
/// recognised); its subject, addresses, text and HTML go with the message's text.
pub(crate) const BLANK_EMAIL: &str = "UPDATE message_emails SET subject = NULL, recipients = '', full_text = '', html = NULL WHERE message_id = $1";

/// What an edit leaves of message `$1`'s mail: its headers, not its words (the whole
/// text and HTML said what the edit took back).
pub(crate) const FORGET_EMAIL_BODY: &str =
    "UPDATE message_emails SET full_text = '', html = NULL WHERE message_id = $1";

/// The outside addresses of account `$1`, oldest first.
pub(crate) const EMAILS: &str = "SELECT address, verified_at, created_at, digest FROM user_emails WHERE user_id = $1 ORDER BY created_at, address";

/// Account `$1` adds address `$2` waiting for code `$3` until `$4` (added at `$5`), or
/// gives it a new code while it waits (its tries start again).
pub(crate) const PUT_EMAIL_CODE: &str = "INSERT INTO user_emails (user_id, address, code_hash, code_expires_at, attempts, created_at) VALUES ($1, $2, $3, $4, 0, $5) ON CONFLICT (user_id, address) DO UPDATE SET code_hash = excluded.code_hash, code_expires_at = excluded.code_expires_at, attempts = 0 WHERE user_emails.verified_at IS NULL";

/// One more try at the code of account `$1`'s waiting address `$2`, while fewer than `$3`
/// were made: the code's hash and expiry.
pub(crate) const CLAIM_EMAIL_ATTEMPT: &str = "UPDATE user_emails SET attempts = attempts + 1 WHERE user_id = $1 AND address = $2 AND verified_at IS NULL AND attempts < $3 RETURNING code_hash, code_expires_at";

/// Account `$2`'s waiting address `$3` is verified at `$1`, unless another account
/// verified it first.
pub(crate) const CONFIRM_EMAIL: &str = "UPDATE user_emails SET verified_at = $1, code_hash = NULL, code_expires_at = NULL WHERE user_id = $2 AND address = $3 AND verified_at IS NULL AND NOT EXISTS (SELECT 1 FROM user_emails o WHERE o.address = $3 AND o.verified_at IS NOT NULL)";

/// Removes account `$1`'s address `$2`.
pub(crate) const REMOVE_EMAIL: &str = "DELETE FROM user_emails WHERE user_id = $1 AND address = $2";

/// Removes account `$1`'s address `$2` if it still waits for its code.
pub(crate) const REMOVE_WAITING_EMAIL: &str =
    "DELETE FROM user_emails WHERE user_id = $1 AND address = $2 AND verified_at IS NULL";

/// The account that verified address `$1`.
pub(crate) const EMAIL_OWNER: &str =
    "SELECT user_id FROM user_emails WHERE address = $1 AND verified_at IS NOT NULL";

/// Account `$1` blocks address `$2` from `$3`.
pub(crate) const BLOCK_ADDRESS: &str = "INSERT INTO blocked_addresses (user_id, address, created_at) VALUES ($1, $2, $3) ON CONFLICT (user_id, address) DO NOTHING";

/// Account `$1` no longer blocks address `$2`.
pub(crate) const UNBLOCK_ADDRESS: &str =
    "DELETE FROM blocked_addresses WHERE user_id = $1 AND address = $2";

/// The addresses account `$1` blocks, newest first.
pub(crate) const BLOCKED_ADDRESSES: &str = "SELECT address, created_at, dropped FROM blocked_addresses WHERE user_id = $1 ORDER BY created_at DESC, address";

/// Counts a dropped mail from address `$2` if account `$1` blocks it.
pub(crate) const DROP_IF_BLOCKED: &str =
    "UPDATE blocked_addresses SET dropped = dropped + 1 WHERE user_id = $1 AND address = $2";

/// The whole text and the HTML of the mail message `$1` came as.
pub(crate) const EMAIL_BODY: &str =
    "SELECT full_text, html FROM message_emails WHERE message_id = $1";

/// Whether account `$2`'s address `$3` gets digests (`$1`).
pub(crate) const SET_DIGEST: &str =
    "UPDATE user_emails SET digest = $1 WHERE user_id = $2 AND address = $3";

/// The verified addresses of account `$1` that get digests.
pub(crate) const DIGEST_ADDRESSES: &str = "SELECT address FROM user_emails WHERE user_id = $1 AND verified_at IS NOT NULL AND digest AND address LIKE '%@%' ORDER BY created_at, address";

/// What waits to be mailed in digests at `$1`: a member's conversation (in their inbox or
/// archive, not muted, not silenced, not deleted for them) with a message from someone
/// else that came at `$2` or before and is neither read nor mailed yet, for an account
/// with an address that gets digests and no stream open anywhere; `from_seq` is where the
/// digest starts. A page of `$5` by account and conversation, after (`$3`, `$4`). It starts
/// from the few accounts with a digest address (through `members_by_user`), never a scan
/// of every membership, since every node runs it every few seconds.
pub(crate) const DIGESTS_DUE: &str = "SELECT m.user_id, m.conversation_id, CASE WHEN m.digested_seq > m.last_read_seq THEN m.digested_seq ELSE m.last_read_seq END AS from_seq, c.last_seq FROM members m JOIN conversations c ON c.id = m.conversation_id WHERE m.user_id IN (SELECT e.user_id FROM user_emails e WHERE e.verified_at IS NOT NULL AND e.digest) AND m.left_at IS NULL AND NOT m.hidden AND m.folder IN ('inbox', 'archived') AND (m.muted_until IS NULL OR m.muted_until <= $1) AND m.notify <> 'none' AND c.last_seq > m.last_read_seq AND c.last_seq > m.digested_seq AND NOT EXISTS (SELECT 1 FROM presence p WHERE p.user_id = m.user_id AND p.until_at > $1) AND EXISTS (SELECT 1 FROM messages x WHERE x.conversation_id = m.conversation_id AND x.seq > m.last_read_seq AND x.seq > m.digested_seq AND x.created_at <= $2 AND (x.sender_user_id IS NULL OR x.sender_user_id <> m.user_id)) AND (m.user_id > $3 OR (m.user_id = $3 AND m.conversation_id > $4)) ORDER BY m.user_id, m.conversation_id LIMIT $5";

/// Account `$3`'s conversation `$2` was mailed up to `$1`.
pub(crate) const MARK_DIGESTED: &str = "UPDATE members SET digested_seq = $1 WHERE conversation_id = $2 AND user_id = $3 AND digested_seq < $1";

/// The message already stored for text `$2` of provider `$1`, if any.
pub(crate) const RECEIVED_SMS: &str =
    "SELECT message_id FROM message_sms WHERE provider = $1 AND sid = $2";

/// Keeps a message's text (columns as in migration 22).
pub(crate) const INSERT_MESSAGE_SMS: &str = "INSERT INTO message_sms (message_id, conversation_id, provider, sid, inbound, from_number, to_number, segments, encoding) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (message_id) DO NOTHING";

/// The conversation of texts between our number `$1` and their number `$2`.
pub(crate) const SMS_ROUTE: &str =
    "SELECT conversation_id FROM sms_routes WHERE our_number = $1 AND their_number = $2";

/// The number conversation `$1` texts number `$2` from.
pub(crate) const SMS_ROUTE_OF: &str = "SELECT our_number FROM sms_routes WHERE conversation_id = $1 AND their_number = $2 ORDER BY created_at LIMIT 1";

/// Binds our number `$1` and their number `$2` to conversation `$3` (at `$4`) unless the
/// pair carries a conversation already.
pub(crate) const BIND_SMS_ROUTE: &str = "INSERT INTO sms_routes (our_number, their_number, conversation_id, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (our_number, their_number) DO NOTHING";

/// Whether number `$2` opted out of texts from our number `$1`.
pub(crate) const SMS_OPTED_OUT: &str =
    "SELECT 1 FROM sms_opt_outs WHERE our_number = $1 AND their_number = $2";

/// Number `$2` texted STOP to our number `$1` at `$3`.
pub(crate) const SMS_OPT_OUT: &str = "INSERT INTO sms_opt_outs (our_number, their_number, created_at) VALUES ($1, $2, $3) ON CONFLICT (our_number, their_number) DO NOTHING";

/// Number `$2` texted START to our number `$1`.
pub(crate) const SMS_OPT_IN: &str =
    "DELETE FROM sms_opt_outs WHERE our_number = $1 AND their_number = $2";

/// Where a delivery state stands in its order (queued, sent, then delivered or failed):
/// `sms_rank!("state")` for a column, the same for a parameter.
macro_rules! sms_rank {
    ($state:literal) => {
        concat!(
            "(CASE ",
            $state,
            " WHEN 'queued' THEN 0 WHEN 'sent' THEN 1 ELSE 2 END)"
        )
    };
}

/// Message `$2`'s text is being handed to the provider at `$1` (only with lease `$3`, and
/// only while it runs): it is not claimed again until its try is recorded, or until its
/// lease has been over for [`SMS_STALE_MS`] (its sender is gone; claimed as unsure).
pub(crate) const SMS_SENDING: &str = "UPDATE outbound_mail SET handed_at = $1, detail = NULL WHERE message_id = $2 AND state = 'queued' AND claimed_until = $3 AND claimed_until > $1 AND handed_at IS NULL";

/// How long after its lease ran out a text that was handed over but never recorded is
/// taken for lost with its sender (a node that died between the two) and claimed again as
/// unsure: far longer than a try takes (a send, then its recording, is at most a few
/// minutes, and a text is handed over only within its lease).
pub(crate) const SMS_STALE_MS: i64 = 10 * 60 * 1000;

/// The provider took message `$1`'s text: it waits for status callbacks.
pub(crate) const SMS_HANDED: &str = "UPDATE outbound_mail SET claimed_until = NULL WHERE message_id = $1 AND handed_at IS NOT NULL RETURNING conversation_id";

/// A status callback: text `$4` of provider `$3` is in state `$1` (why: `$2`), unless it
/// is there or further already.
pub(crate) const SMS_STATUS: &str = concat!(
    "UPDATE outbound_mail SET state = $1, detail = COALESCE($2, detail) WHERE message_id = (SELECT message_id FROM message_sms WHERE provider = $3 AND sid = $4 AND NOT inbound) AND handed_at IS NOT NULL AND ",
    sms_rank!("state"),
    " < ",
    sms_rank!("$1"),
    " RETURNING message_id, conversation_id"
);

/// A status callback for text `$2` of provider `$1` that came before the send's answer
/// was recorded: state `$3`, detail `$4`, at `$5`.
pub(crate) const SMS_EARLY_STATUS: &str = "INSERT INTO sms_early_status (provider, sid, state, detail, received_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (provider, sid, state) DO NOTHING";

/// Forgets early status callbacks received before `$1` (a day ago): their texts' answers
/// were never recorded, or they were about texts of someone else's.
pub(crate) const SMS_EARLY_SWEEP: &str = "DELETE FROM sms_early_status WHERE received_at < $1";

/// Whether text `$2` of provider `$1` is a message's already: received (`$3` true) or sent.
pub(crate) const SMS_KNOWN: &str =
    "SELECT 1 FROM message_sms WHERE provider = $1 AND sid = $2 AND inbound = $3";

/// The status callbacks that came early for text `$2` of provider `$1`, furthest first.
pub(crate) const SMS_EARLY_STATUSES: &str = concat!(
    "SELECT state, detail FROM sms_early_status WHERE provider = $1 AND sid = $2 ORDER BY ",
    sms_rank!("state"),
    " DESC, received_at"
);

/// Forgets the early status callbacks of text `$2` of provider `$1`.
pub(crate) const SMS_FORGET_EARLY: &str =
    "DELETE FROM sms_early_status WHERE provider = $1 AND sid = $2";
