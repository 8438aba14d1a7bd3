//! Messages. Every message carries the [`Channel`] it arrived through, so one thread can mix
//! chat, email and SMS; the sender is a [`Party`] (or nobody, for system messages).

use crate::account::str_enum;
use crate::{ConversationId, MessageId, Party, Timestamp};

/// The channel a message came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// Sent from a hilo client.
    Chat,
    /// Arrived or left by email.
    Email,
    /// Arrived or left by SMS.
    Sms,
    /// Sent from a website chat widget.
    Widget,
    /// Written by the server (membership changes and the like).
    System,
}
str_enum!(Channel {
    Chat = "chat",
    Email = "email",
    Sms = "sms",
    Widget = "widget",
    System = "system",
});

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Identifier.
    pub id: MessageId,
    /// The conversation it belongs to.
    pub conversation_id: ConversationId,
    /// Position in the conversation: 1, 2, 3, … with no gaps.
    pub seq: i64,
    /// Who sent it; `None` for system messages.
    pub sender: Option<Party>,
    /// How it arrived.
    pub channel: Channel,
    /// Body text; `None` once deleted.
    pub text: Option<String>,
    /// The sender's idempotency key.
    pub client_txn_id: Option<String>,
    /// Last edit time.
    pub edited_at: Option<Timestamp>,
    /// Deleted for everyone (a tombstone).
    pub deleted: bool,
    /// When the server stored it.
    pub created_at: Timestamp,
}
