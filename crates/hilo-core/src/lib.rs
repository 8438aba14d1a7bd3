//! hilo's domain model: identifiers, validated input values, and the shapes of users,
//! conversations, messages and per-user events.
//!
//! The key design decision is that a conversation's participants are [`Party`] values, not
//! users: a party is an account, an external contact (an email address or a phone number)
//! or, later, a business page. Nothing in this crate or above it may assume that every
//! participant or every sender is an account.
//!
//! This crate does no I/O and knows nothing of HTTP, SQL or JSON: time and identifiers
//! come in from the caller, so every rule here is deterministic and testable on its own.
//! Wire shapes live in `hilo-proto`; persistence in `hilo-store`.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod account;
pub mod attachment;
pub mod conversation;
pub mod event;
pub mod id;
pub mod message;
pub mod report;
pub mod search;
pub mod social;
pub mod spam;
pub mod validate;

pub use account::{LastSeenVisibility, Session, Settings, User, WhoCanMessage};
pub use attachment::Attachment;
pub use conversation::{
    Conversation, ConversationKind, ConversationView, Folder, Member, MemberView, Notify, Party,
    Role,
};
pub use event::{EventKind, EventRecord, StoredEvent};
pub use id::{AttachmentId, ContactId, ConversationId, MessageId, ReportId, SessionId, UserId};
pub use message::{
    Channel, DeleteScope, DeliveryState, EmailAuth, EmailField, EmailMeta, EmailRecipient,
    LinkEntity, Location, MailDelivery, Message, Reaction, ReplyRef, SmsMeta,
};
pub use report::{Report, ReportAction, ReportStatus};
pub use social::{FriendRequestResult, Relation, Relationship};
pub use validate::ValidationError;

/// A point in time as milliseconds since the Unix epoch, UTC.
///
/// Stored as a 64-bit integer on every backend so that ordering and arithmetic behave the
/// same in SQLite and PostgreSQL; rendered as RFC 3339 only at the wire boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Milliseconds since the Unix epoch.
    pub fn millis(self) -> i64 {
        self.0
    }

    /// This timestamp moved forward by `millis` milliseconds.
    pub fn plus_millis(self, millis: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(millis))
    }
}
