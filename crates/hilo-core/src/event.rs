//! Per-user events: the durable stream every client follows.
//!
//! Each account has its own gap-free sequence of events; an event's position in it is the
//! client's cursor. An event row stores references (conversation, message, subject) rather
//! than a rendered copy of the payload, so a group message costs one small row per
//! recipient and replay renders the current state of what it points at.

use crate::account::str_enum;
use crate::{ConversationId, MessageId, SessionId, Timestamp, UserId};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A new message in a conversation the user is in.
    MessageCreated,
    /// A message was edited, deleted or reacted to.
    MessageUpdated,
    /// The user became a member of a conversation.
    ConversationCreated,
    /// A conversation's name, membership or the user's own view of it changed.
    ConversationUpdated,
    /// Someone (possibly the user on another device) read up to a `seq`.
    Read,
    /// One of the user's sessions was revoked.
    SessionRevoked,
    /// The user deleted a message for themselves only (on another device, perhaps).
    MessageHidden,
    /// Messages the user sent reached some device of another member (up to a `seq`).
    Delivered,
    /// An account the user shares a conversation with (or the user's own) changed its
    /// display name, or the user changed their own settings.
    UserUpdated,
    /// A friend request: to the person asked (incoming) and the asker's own devices
    /// (outgoing; `number` 1 for incoming, 0 for outgoing).
    FriendRequest,
    /// A friend request was accepted: to both new friends.
    FriendAccepted,
    /// A friendship or request ended (unfriend, cancel, decline, block). A declined asker
    /// is not told.
    FriendRemoved,
    /// The user blocked (`number` 1) or unblocked (0) someone: to their own devices.
    BlockUpdated,
    /// A report the user made was resolved (`report_id`).
    ReportResolved,
}
str_enum!(EventKind {
    MessageCreated = "message.created",
    MessageUpdated = "message.updated",
    ConversationCreated = "conversation.created",
    ConversationUpdated = "conversation.updated",
    Read = "read",
    SessionRevoked = "session.revoked",
    MessageHidden = "message.hidden",
    Delivered = "delivered",
    UserUpdated = "user.updated",
    FriendRequest = "friend.request",
    FriendAccepted = "friend.accepted",
    FriendRemoved = "friend.removed",
    BlockUpdated = "block.updated",
    ReportResolved = "report.resolved",
});

/// The content of an event before it gets a cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    /// What happened.
    pub kind: EventKind,
    /// The conversation concerned.
    pub conversation_id: Option<ConversationId>,
    /// The message concerned.
    pub message_id: Option<MessageId>,
    /// The account the event is about (the reader of a `read` event, a removed member).
    pub subject_user_id: Option<UserId>,
    /// The session concerned (`session.revoked`).
    pub session_id: Option<SessionId>,
    /// A number whose meaning depends on the kind (`read`: the seq read up to).
    pub number: Option<i64>,
    /// The report concerned (`report.resolved`).
    pub report_id: Option<crate::ReportId>,
}

impl EventRecord {
    /// An event of `kind` with no references yet.
    pub fn new(kind: EventKind) -> Self {
        EventRecord {
            kind,
            conversation_id: None,
            message_id: None,
            subject_user_id: None,
            session_id: None,
            number: None,
            report_id: None,
        }
    }
}

/// An event in one user's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// The user whose stream this is.
    pub user_id: UserId,
    /// Position in that stream: 1, 2, 3, … with no gaps.
    pub cursor: i64,
    /// The event.
    pub record: EventRecord,
    /// When it was written.
    pub created_at: Timestamp,
}
