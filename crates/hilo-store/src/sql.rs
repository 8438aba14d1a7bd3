//! What the SQL backends share: turning a row into domain types, and `LIKE` escaping.
//!
//! Both backends select the same column names (see each backend's column lists), so the
//! mapping from columns to `User`, `Message`, … is written once here. A backend only says
//! how to read one typed column from its row type by implementing [`Columns`]; no driver
//! type appears in this crate.

use hilo_core::message::{excerpt, group_reactions};
use hilo_core::{
    Attachment, AttachmentId, Channel, ContactId, Conversation, ConversationId, ConversationKind,
    ConversationView, EmailAuth, EmailField, EmailMeta, EmailRecipient, EventKind, EventRecord,
    Folder, LastSeenVisibility, Location, Member, MemberView, Message, MessageId, Notify, Party,
    ReplyRef, Role, Session, SessionId, Settings, StoredEvent, Timestamp, User, UserId,
    WhoCanMessage,
};

use crate::{MessagePage, StoreError, StoreResult};

/// Typed access to a row's columns by name.
pub trait Columns {
    /// A non-null text column.
    fn text(&self, column: &str) -> StoreResult<String>;
    /// A nullable text column.
    fn opt_text(&self, column: &str) -> StoreResult<Option<String>>;
    /// A non-null integer column.
    fn int(&self, column: &str) -> StoreResult<i64>;
    /// A nullable integer column.
    fn opt_int(&self, column: &str) -> StoreResult<Option<i64>>;
    /// A boolean column (an integer 0/1 in SQLite, a `BOOLEAN` in PostgreSQL).
    fn flag(&self, column: &str) -> StoreResult<bool>;
    /// A nullable floating-point column (`REAL` / `DOUBLE PRECISION`).
    fn opt_float(&self, column: &str) -> StoreResult<Option<f64>>;
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Other(format!("unexpected {what} in the database: {value:?}").into())
}

/// Parses a stored enum value, reporting unknown values as corrupt data.
fn parsed<T>(row: &impl Columns, column: &str, parse: fn(&str) -> Option<T>) -> StoreResult<T> {
    let value = row.text(column)?;
    parse(&value).ok_or_else(|| corrupt(column, &value))
}

/// An account from the columns `id, username, display_name, is_admin, suspended,
/// who_can_message, last_seen_visibility, read_receipts, created_at`.
pub fn user(row: &impl Columns) -> StoreResult<User> {
    Ok(User {
        id: UserId::new(row.text("id")?),
        username: row.text("username")?,
        display_name: row.text("display_name")?,
        is_admin: row.flag("is_admin")?,
        suspended: row.flag("suspended")?,
        settings: Settings {
            who_can_message: parsed(row, "who_can_message", WhoCanMessage::parse)?,
            last_seen_visibility: parsed(row, "last_seen_visibility", LastSeenVisibility::parse)?,
            read_receipts: row.flag("read_receipts")?,
        },
        created_at: Timestamp(row.int("created_at")?),
    })
}

/// A relation from the columns `friends, request_sent, request_received, declined,
/// blocking, blocked_by, mutual_friend`.
pub fn relation(row: &impl Columns) -> StoreResult<hilo_core::Relation> {
    Ok(hilo_core::Relation {
        friends: row.flag("friends")?,
        request_sent: row.flag("request_sent")?,
        request_received: row.flag("request_received")?,
        declined: row.flag("declined")?,
        blocking: row.flag("blocking")?,
        blocked_by: row.flag("blocked_by")?,
        mutual_friend: row.flag("mutual_friend")?,
    })
}

/// A report from `id, reporter_id, message_id, conversation_id, subject_user_id, reason,
/// status, created_at, resolved_at`.
pub fn report(row: &impl Columns) -> StoreResult<hilo_core::Report> {
    Ok(hilo_core::Report {
        id: hilo_core::ReportId::new(row.text("id")?),
        reporter: UserId::new(row.text("reporter_id")?),
        message_id: row.opt_text("message_id")?.map(MessageId::new),
        conversation_id: row.opt_text("conversation_id")?.map(ConversationId::new),
        subject: row.opt_text("subject_user_id")?.map(UserId::new),
        reason: row.text("reason")?,
        status: parsed(row, "status", hilo_core::ReportStatus::parse)?,
        created_at: Timestamp(row.int("created_at")?),
        resolved_at: row.opt_int("resolved_at")?.map(Timestamp),
    })
}

/// A stored folder name (column `folder`).
pub fn folder(row: &impl Columns) -> StoreResult<Folder> {
    parsed(row, "folder", Folder::parse)
}

/// A person with a time (`since`): a friend or a friend request.
pub fn since(row: &impl Columns) -> StoreResult<crate::Since> {
    Ok(crate::Since {
        user: user(row)?,
        at: Timestamp(row.int("since")?),
    })
}

/// A session from `session_id, session_user_id, device_name, session_created_at,
/// last_seen_at, ip`.
pub fn session(row: &impl Columns) -> StoreResult<Session> {
    Ok(Session {
        id: SessionId::new(row.text("session_id")?),
        user_id: UserId::new(row.text("session_user_id")?),
        device_name: row.opt_text("device_name")?,
        created_at: Timestamp(row.int("session_created_at")?),
        last_seen_at: Timestamp(row.int("last_seen_at")?),
        ip: row.opt_text("ip")?,
    })
}

/// A party from a user id column or a contact id column with their names; `None` when
/// both ids are NULL (a system sender).
fn party(row: &impl Columns, user_id: &str, contact_id: &str) -> StoreResult<Option<Party>> {
    if let Some(id) = row.opt_text(user_id)? {
        return Ok(Some(Party::User {
            id: UserId::new(id),
            username: row.opt_text("username")?.unwrap_or_default(),
            display_name: row.opt_text("user_name")?.unwrap_or_default(),
        }));
    }
    if let Some(id) = row.opt_text(contact_id)? {
        return Ok(Some(Party::Contact {
            id: ContactId::new(id),
            address: row.opt_text("address")?.unwrap_or_default(),
            display_name: row.opt_text("contact_name")?.unwrap_or_default(),
        }));
    }
    Ok(None)
}

/// A member from `user_id, contact_id, role, joined_at, username, user_name, address,
/// contact_name`.
pub fn member(row: &impl Columns) -> StoreResult<Member> {
    Ok(Member {
        party: party(row, "user_id", "contact_id")?
            .ok_or_else(|| corrupt("member", "neither user nor contact"))?,
        role: parsed(row, "role", Role::parse)?,
        joined_at: Timestamp(row.int("joined_at")?),
    })
}

/// A message from the columns of `message_select!` (without its reactions: see
/// [`with_reactions`]). A tombstone keeps nothing but its place and sender.
pub fn message(row: &impl Columns) -> StoreResult<Message> {
    let deleted = row.flag("deleted")?;
    let reply_to = match (row.opt_text("reply_to_id")?, row.opt_int("reply_seq")?) {
        (Some(id), Some(seq)) => {
            let reply_deleted = row.flag("reply_deleted")?;
            Some(ReplyRef {
                id: MessageId::new(id),
                seq,
                sender_id: match row.opt_text("reply_sender_user_id")? {
                    Some(user) => Some(user),
                    None => row.opt_text("reply_sender_contact_id")?,
                },
                excerpt: if reply_deleted {
                    None
                } else {
                    row.opt_text("reply_text")?.as_deref().map(excerpt)
                },
                deleted: reply_deleted,
            })
        }
        _ => None,
    };
    let location = match (
        row.opt_float("location_lat")?,
        row.opt_float("location_lon")?,
    ) {
        (Some(lat), Some(lon)) if !deleted => Some(Location {
            lat,
            lon,
            label: row.opt_text("location_label")?,
        }),
        _ => None,
    };
    Ok(Message {
        id: MessageId::new(row.text("id")?),
        conversation_id: ConversationId::new(row.text("conversation_id")?),
        seq: row.int("seq")?,
        sender: party(row, "sender_user_id", "sender_contact_id")?,
        channel: parsed(row, "channel", Channel::parse)?,
        text: if deleted { None } else { row.opt_text("text")? },
        client_txn_id: row.opt_text("client_txn_id")?,
        edited_at: row.opt_int("edited_at")?.map(Timestamp),
        deleted,
        created_at: Timestamp(row.int("created_at")?),
        reply_to: if deleted { None } else { reply_to },
        mentions: if deleted {
            Vec::new()
        } else {
            split_ids(row.opt_text("mentions")?.as_deref())
        },
        reactions: Vec::new(),
        location,
        forwarded: row.flag("forwarded")?,
        attachments: Vec::new(),
        email: if deleted { None } else { email(row)? },
        sms: sms(row)?,
        delivery: match row.opt_text("delivery_state")? {
            Some(state) => Some(hilo_core::MailDelivery {
                state: hilo_core::DeliveryState::parse(&state)
                    .ok_or_else(|| corrupt("outbound_mail", "unknown delivery state"))?,
                detail: row.opt_text("delivery_detail")?,
            }),
            None => None,
        },
        collapsed: false,
    })
}

/// A message's mail from `email_rfc_id, email_subject, email_from, email_recipients,
/// email_auth` (all NULL for a message that never was mail).
fn sms(row: &impl Columns) -> StoreResult<Option<hilo_core::SmsMeta>> {
    let Some(sid) = row.opt_text("sms_sid")? else {
        return Ok(None);
    };
    Ok(Some(hilo_core::SmsMeta {
        provider: row.text("sms_provider")?,
        sid,
        inbound: row.flag("sms_inbound")?,
        from: row.text("sms_from")?,
        to: row.text("sms_to")?,
        segments: u32::try_from(row.int("sms_segments")?)
            .map_err(|_| corrupt("message_sms", "segments out of range"))?,
        encoding: row.text("sms_encoding")?,
    }))
}

fn email(row: &impl Columns) -> StoreResult<Option<EmailMeta>> {
    let Some(message_id) = row.opt_text("email_rfc_id")? else {
        return Ok(None);
    };
    let recipients = row
        .opt_text("email_recipients")?
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, '\t');
            let field = EmailField::parse(fields.next()?)?;
            let address = fields.next()?.to_owned();
            let name = fields.next().filter(|n| !n.is_empty()).map(str::to_owned);
            Some(EmailRecipient {
                field,
                address,
                name,
            })
        })
        .collect();
    let auth = row.opt_text("email_auth")?.and_then(|text| {
        let mut words = text.split(' ').map(str::to_owned);
        Some(EmailAuth {
            spf: words.next()?,
            dkim: words.next()?,
            dmarc: words.next()?,
        })
    });
    Ok(Some(EmailMeta {
        message_id,
        subject: row.opt_text("email_subject")?,
        from: row.opt_text("email_from")?.unwrap_or_default(),
        recipients,
        auth,
    }))
}

/// A claimed mail from `message_id, conversation_id, attempts, created_at, claimed_until,
/// unsure_at`.
pub fn mail_job(row: &impl Columns) -> StoreResult<crate::MailJob> {
    Ok(crate::MailJob {
        message_id: MessageId::new(row.text("message_id")?),
        conversation_id: ConversationId::new(row.text("conversation_id")?),
        attempts: row.int("attempts")?,
        queued_at: Timestamp(row.int("created_at")?),
        lease: Timestamp(row.int("claimed_until")?),
        unsure_since: row.opt_int("unsure_at")?.map(Timestamp),
    })
}

/// A conversation's mail from `rfc_id, subject, inbound`.
pub fn thread_mail(row: &impl Columns) -> StoreResult<crate::ThreadMail> {
    Ok(crate::ThreadMail {
        rfc_id: row.text("rfc_id")?,
        subject: row.opt_text("subject")?,
        inbound: row.flag("inbound")?,
    })
}

/// How `message_emails.recipients` holds a mail's To and Cc: a line per address, its
/// field, address and name separated by tabs (none of which an address or a cleaned
/// name holds).
pub fn email_recipients_column(recipients: &[EmailRecipient]) -> String {
    recipients
        .iter()
        .map(|r| {
            let clean = |text: &str| text.replace(['\t', '\n', '\r'], " ");
            format!(
                "{}\t{}\t{}",
                r.field.as_str(),
                clean(&r.address),
                clean(r.name.as_deref().unwrap_or(""))
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// How `message_emails.auth` holds the results: `spf dkim dmarc`.
pub fn email_auth_column(auth: &EmailAuth) -> String {
    format!("{} {} {}", auth.spf, auth.dkim, auth.dmarc)
}

/// An attachment from `attachment_columns!`.
pub fn attachment(row: &impl Columns) -> StoreResult<Attachment> {
    Ok(Attachment {
        id: AttachmentId::new(row.text("attachment_id")?),
        uploader: UserId::new(row.text("uploader_id")?),
        name: row.text("attachment_name")?,
        content_type: row.text("content_type")?,
        size: row.int("size")?,
        width: row.opt_int("width")?,
        height: row.opt_int("height")?,
        has_thumbnail: row.flag("has_thumbnail")?,
        created_at: Timestamp(row.int("attachment_created_at")?),
    })
}

/// An attachment row of a message: `message_id` and `attachment_columns!`.
pub fn message_attachment(row: &impl Columns) -> StoreResult<(String, Attachment)> {
    Ok((row.text("message_id")?, attachment(row)?))
}

/// Puts attachment rows (in order) on the messages they belong to; a tombstone has none.
pub fn with_attachments(messages: &mut [Message], rows: Vec<(String, Attachment)>) {
    if rows.is_empty() {
        return;
    }
    for message in messages.iter_mut().filter(|m| !m.deleted) {
        message.attachments = rows
            .iter()
            .filter(|(id, _)| id == message.id.as_str())
            .map(|(_, a)| a.clone())
            .collect();
    }
}

/// The `mentions` column: user ids separated by spaces, NULL for none.
pub fn join_ids(ids: &[UserId]) -> Option<String> {
    if ids.is_empty() {
        return None;
    }
    Some(ids.iter().map(UserId::as_str).collect::<Vec<_>>().join(" "))
}

fn split_ids(column: Option<&str>) -> Vec<UserId> {
    column
        .map(|ids| {
            ids.split(' ')
                .filter(|id| !id.is_empty())
                .map(UserId::new)
                .collect()
        })
        .unwrap_or_default()
}

/// One reaction row: `(message_id, emoji, user_id)`, read in the order reactions were made.
pub type ReactionRow = (String, String, String);

/// A reaction row from `message_id, emoji, user_id`.
pub fn reaction_row(row: &impl Columns) -> StoreResult<ReactionRow> {
    Ok((
        row.text("message_id")?,
        row.text("emoji")?,
        row.text("user_id")?,
    ))
}

/// Puts reaction rows (in the order they were made) on the messages they belong to.
pub fn with_reactions(messages: &mut [Message], rows: Vec<ReactionRow>) {
    if rows.is_empty() {
        return;
    }
    for message in messages.iter_mut() {
        message.reactions = group_reactions(
            rows.iter()
                .filter(|(id, _, _)| id == message.id.as_str())
                .map(|(_, emoji, user)| (emoji.clone(), UserId::new(user.clone()))),
        );
    }
}

/// A conversation's kind from `kind`.
pub fn conversation_kind(row: &impl Columns) -> StoreResult<ConversationKind> {
    parsed(row, "kind", ConversationKind::parse)
}

/// A member's own view from `folder, last_read_seq, muted_until, notify, cleared_seq,
/// pinned, hidden`.
pub fn member_view(row: &impl Columns) -> StoreResult<MemberView> {
    Ok(MemberView {
        folder: parsed(row, "folder", Folder::parse)?,
        last_read_seq: row.int("last_read_seq")?,
        muted_until: row.opt_int("muted_until")?.map(Timestamp),
        notify: parsed(row, "notify", Notify::parse)?,
        cleared_seq: row.opt_int("cleared_seq")?,
        pinned: row.flag("pinned")?,
        hidden: row.flag("hidden")?,
    })
}

/// Where a member stands in a conversation, from `folder, hidden, pinned`.
pub fn member_place(row: &impl Columns) -> StoreResult<crate::MemberPlace> {
    Ok(crate::MemberPlace {
        folder: folder(row)?,
        hidden: row.flag("hidden")?,
        pinned: row.flag("pinned")?,
    })
}

/// A member with the conversation it belongs to, from the columns of `rows::MEMBERS_OF`.
pub fn conversation_member(row: &impl Columns) -> StoreResult<(String, Member)> {
    Ok((row.text("conversation_id")?, member(row)?))
}

/// A conversation as its member sees it, from the columns of `rows::view_select`: without its
/// members and last message (see [`assemble_views`]), with the id of that message.
pub fn view_row(row: &impl Columns) -> StoreResult<(ConversationView, Option<String>)> {
    let view = ConversationView {
        conversation: Conversation {
            id: ConversationId::new(row.text("id")?),
            kind: conversation_kind(row)?,
            name: row.opt_text("name")?,
            members: Vec::new(),
            last_seq: row.int("last_seq")?,
            created_at: Timestamp(row.int("created_at")?),
            updated_at: Timestamp(row.int("updated_at")?),
        },
        me: member_view(row)?,
        unread_count: row.int("unread_count")?,
        last_message: None,
    };
    Ok((view, row.opt_text("last_message_id")?))
}

/// The views of `ids`, in that order, from the rows of `rows::view_select` (a conversation
/// without a row, which the member is not in, is left out), with their members (rows of
/// `rows::MEMBERS_OF`, in join order) and last messages (decorated, any order).
pub fn assemble_views(
    ids: &[ConversationId],
    rows: Vec<(ConversationView, Option<String>)>,
    members: Vec<(String, Member)>,
    last_messages: Vec<Message>,
) -> Vec<ConversationView> {
    let mut by_id: std::collections::HashMap<String, (ConversationView, Option<String>)> = rows
        .into_iter()
        .map(|row| (row.0.conversation.id.as_str().to_owned(), row))
        .collect();
    for (conversation, member) in members {
        if let Some((view, _)) = by_id.get_mut(&conversation) {
            view.conversation.members.push(member);
        }
    }
    let mut last_messages: std::collections::HashMap<String, Message> = last_messages
        .into_iter()
        .map(|message| (message.id.as_str().to_owned(), message))
        .collect();
    ids.iter()
        .filter_map(|id| by_id.remove(id.as_str()))
        .map(|(mut view, last)| {
            view.last_message = last.and_then(|id| last_messages.remove(&id));
            view
        })
        .collect()
}

/// An event from `user_id, cursor, kind, conversation_id, message_id, subject_user_id,
/// session_id, number, report_id, created_at`.
pub fn event(row: &impl Columns) -> StoreResult<StoredEvent> {
    Ok(StoredEvent {
        user_id: UserId::new(row.text("user_id")?),
        cursor: row.int("cursor")?,
        record: EventRecord {
            kind: parsed(row, "kind", EventKind::parse)?,
            conversation_id: row.opt_text("conversation_id")?.map(ConversationId::new),
            message_id: row.opt_text("message_id")?.map(MessageId::new),
            subject_user_id: row.opt_text("subject_user_id")?.map(UserId::new),
            session_id: row.opt_text("session_id")?.map(SessionId::new),
            number: row.opt_int("number")?,
            report_id: row.opt_text("report_id")?.map(hilo_core::ReportId::new),
        },
        created_at: Timestamp(row.int("created_at")?),
    })
}

/// A history page from up to `limit + 1` rows read away from the starting point (ascending
/// when reading forwards, descending when reading backwards): the extra row only tells
/// that more exist; the page itself is always in ascending `seq`.
pub fn message_page(mut messages: Vec<Message>, limit: i64, forwards: bool) -> MessagePage {
    let has_more = messages.len() as i64 > limit;
    messages.truncate(usize::try_from(limit).unwrap_or(0));
    if !forwards {
        messages.reverse();
    }
    MessagePage { messages, has_more }
}

/// The first `limit` conversation ids of up to `limit + 1` `(id, updated_at)` rows, and
/// where the next page starts when the extra row shows there is one.
///
/// Whether more exist, and where the next page starts, come from this one query: a
/// conversation the user leaves while the page's views load must not end the paging early
/// or shift the cursor.
pub fn conversation_page(
    mut rows: Vec<(String, i64)>,
    limit: i64,
) -> (Vec<ConversationId>, Option<(Timestamp, ConversationId)>) {
    let has_more = rows.len() as i64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    let next = if has_more {
        rows.last()
            .map(|(id, updated_at)| (Timestamp(*updated_at), ConversationId::new(id.clone())))
    } else {
        None
    };
    let ids = rows
        .into_iter()
        .map(|(id, _)| ConversationId::new(id))
        .collect();
    (ids, next)
}

/// The unique key of the direct conversation between two accounts, given in sorted order,
/// so (a, b) and (b, a) collide on the `direct_key` unique index whichever node or request
/// creates it first.
pub fn direct_key(low: &UserId, high: &UserId) -> String {
    format!("u:{low}|u:{high}")
}

/// The key of the direct conversation between an account and a contact.
pub fn contact_direct_key(user: &UserId, contact: &ContactId) -> String {
    format!("c:{contact}|u:{user}")
}

/// Escapes `%`, `_` and `\` so `text` matches itself in a `LIKE … ESCAPE '\'` pattern.
pub fn like_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// Spam filter counts from `(feature, spam, ham)` rows of `spam_features`, the empty
/// feature holding the numbers of messages taught.
pub fn spam_counts(rows: Vec<(String, i64, i64)>) -> hilo_core::spam::Counts {
    let mut counts = hilo_core::spam::Counts::default();
    for (feature, s, h) in rows {
        let (s, h) = (s.max(0) as u64, h.max(0) as u64);
        if feature.is_empty() {
            counts.spam_docs = s;
            counts.ham_docs = h;
        } else {
            counts.features.insert(feature, (s, h));
        }
    }
    counts
}

/// An audit entry from [`crate::AuditEvent`]'s columns.
pub fn audit_event(row: &impl Columns) -> StoreResult<crate::AuditEvent> {
    Ok(crate::AuditEvent {
        id: row.text("id")?,
        user_id: row.opt_text("user_id")?.map(UserId::new),
        username: row.opt_text("username")?,
        actor_id: row.opt_text("actor_id")?.map(UserId::new),
        kind: row.text("kind")?,
        at: Timestamp(row.int("at")?),
        ip: row.opt_text("ip")?,
        device: row.opt_text("device")?,
        detail: row.text("detail")?,
    })
}

/// The newest possible audit id, for a first page: ids are lower-case UUIDs.
pub const AUDIT_NEWEST: &str = "ffffffff-ffff-ffff-ffff-ffffffffffff";

/// The `LIKE` pattern of an admin user search: everything for `None`.
pub fn contains_pattern(query: Option<&str>) -> String {
    match query {
        Some(query) => format!("%{}%", like_escape(&query.to_lowercase())),
        None => "%".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_patterns_escape_their_wildcards() {
        assert_eq!(super::like_escape("a%b_c\\d"), "a\\%b\\_c\\\\d");
        assert_eq!(super::like_escape("ñandú"), "ñandú");
    }
}
