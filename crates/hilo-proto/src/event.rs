//! Events and WebSocket frames.
//!
//! Every event is a JSON object with a `type` and, for stored events, the `cursor` of its
//! position in the recipient's stream. Fan-out serialises an [`Event`] once and splices the
//! per-recipient cursor in with [`with_cursor`], so a message to a group of 500 is rendered
//! once, not 500 times.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{ConversationDto, MessageDto};

/// An event, without its cursor.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type")]
pub enum Event {
    /// A new message.
    #[serde(rename = "message.created")]
    MessageCreated {
        /// Its conversation.
        conversation_id: String,
        /// The message.
        message: MessageDto,
    },
    /// A message changed (edit, delete, reaction).
    #[serde(rename = "message.updated")]
    MessageUpdated {
        /// Its conversation.
        conversation_id: String,
        /// The message as it is now.
        message: MessageDto,
    },
    /// The recipient deleted a message for themselves (on some device): hide it.
    #[serde(rename = "message.hidden")]
    MessageHidden {
        /// Its conversation.
        conversation_id: String,
        /// The message.
        message_id: String,
    },
    /// The recipient joined a conversation (created it, or was added).
    #[serde(rename = "conversation.created")]
    ConversationCreated {
        /// The conversation.
        conversation_id: String,
        /// As the recipient sees it; null if they are no longer a member.
        conversation: Option<ConversationDto>,
    },
    /// A conversation changed: name, members, or the recipient's own settings.
    #[serde(rename = "conversation.updated")]
    ConversationUpdated {
        /// The conversation.
        conversation_id: String,
        /// As the recipient sees it; null once they are no longer a member.
        conversation: Option<ConversationDto>,
        /// Set when a member left or was removed: that member's id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        removed_user_id: Option<String>,
    },
    /// A member read up to `seq`.
    #[serde(rename = "read")]
    Read {
        /// The conversation.
        conversation_id: String,
        /// The reader.
        user_id: String,
        /// Read up to here.
        seq: i64,
    },
    /// Messages of the recipient's reached some device of member `user_id`, up to `seq`.
    #[serde(rename = "delivered")]
    Delivered {
        /// The conversation.
        conversation_id: String,
        /// The member whose device received them.
        user_id: String,
        /// Delivered up to here.
        seq: i64,
    },
    /// An account changed its display name (sent to everyone who shares a conversation
    /// with it), or the recipient changed their own profile or settings (on another
    /// device, perhaps).
    #[serde(rename = "user.updated")]
    UserUpdated {
        /// The account as members see it (as in member lists and senders).
        user: crate::PartyDto,
        /// The recipient's own account, when it is theirs.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        me: Option<crate::MeDto>,
    },
    /// A friend request to the recipient (`incoming`) or made by them on another device
    /// (`outgoing`).
    #[serde(rename = "friend.request")]
    FriendRequest {
        /// The other person.
        user: crate::PartyDto,
        /// `incoming` or `outgoing`.
        direction: String,
    },
    /// The recipient and `user` became friends.
    #[serde(rename = "friend.accepted")]
    FriendAccepted {
        /// The new friend.
        user: crate::PartyDto,
    },
    /// A friendship or a friend request between the recipient and `user` ended.
    #[serde(rename = "friend.removed")]
    FriendRemoved {
        /// The other person.
        user: crate::PartyDto,
    },
    /// The recipient blocked or unblocked `user` (on another device, perhaps).
    #[serde(rename = "block.updated")]
    BlockUpdated {
        /// The person.
        user: crate::PartyDto,
        /// Whether they are blocked now.
        blocked: bool,
    },
    /// A report the recipient made was resolved.
    #[serde(rename = "report.resolved")]
    ReportResolved {
        /// The report.
        report_id: String,
        /// `dismissed`, `message_deleted` or `user_suspended`.
        status: String,
    },
    /// A member started or stopped typing. Ephemeral: never replayed.
    #[serde(rename = "typing")]
    Typing {
        /// The conversation.
        conversation_id: String,
        /// The typist.
        user_id: String,
        /// Started (true) or stopped (false).
        typing: bool,
    },
    /// Someone who shares a conversation with the recipient came online (their first
    /// stream opened) or went offline (their last one closed). Ephemeral: never replayed;
    /// sent only where the person's `last_seen_visibility` allows the recipient.
    #[serde(rename = "presence")]
    Presence {
        /// Who.
        user_id: String,
        /// Online now.
        online: bool,
        /// When they were last seen (set when they go offline).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_seen_at: Option<String>,
    },
    /// One of the recipient's sessions was revoked; a stream of that session closes next.
    #[serde(rename = "session.revoked")]
    SessionRevoked {
        /// The revoked session.
        session_id: String,
    },
}

/// Inserts `"cursor"` into a serialised event object (leading whitespace allowed; the
/// `events` fuzz target holds it to any JSON object).
pub fn with_cursor(body: &str, cursor: Option<i64>) -> String {
    match (cursor, body.trim_start().strip_prefix('{')) {
        (Some(cursor), Some(rest)) => {
            let separator = if rest.trim_start().starts_with('}') {
                ""
            } else {
                ","
            };
            format!("{{\"cursor\":\"{cursor}\"{separator}{rest}")
        }
        _ => body.to_owned(),
    }
}

/// Frames the client sends over the WebSocket.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// First frame from browsers: authenticate, optionally resuming after a cursor.
    Auth {
        /// Bearer token.
        token: String,
        /// Replay every event after this cursor first.
        #[serde(default)]
        since: Option<String>,
    },
    /// Keep-alive; answered with `{"type":"pong"}`.
    Ping,
}

/// `{"type":"ready","cursor":C}`: the stream is open at `cursor`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReadyFrame {
    /// Always `ready`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Events after this cursor follow.
    pub cursor: String,
}

/// `GET /api/v1/events?since=&timeout=` (long polling).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EventsResponse {
    /// Events in order, each with its `cursor`; possibly `{"type":"resync_required"}`.
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<serde_json::Value>,
    /// Pass as `since` in the next poll.
    pub cursor: String,
}

/// WebSocket close codes hilo uses, beyond the standard ones.
pub mod close_code {
    /// Nothing (not even a pong) arrived for too long: reconnect with your cursor.
    pub const IDLE: u16 = 4000;
    /// The session was revoked or its token is invalid.
    pub const UNAUTHORIZED: u16 = 4001;
    /// No `auth` frame arrived in time, or the first frame was not one.
    pub const AUTH_TIMEOUT: u16 = 4002;
    /// The client read too slowly and its queue overflowed: reconnect with your cursor.
    pub const SLOW_CONSUMER: u16 = 4008;
    /// The cursor is unknown here: fetch state again, then reconnect without `since`.
    pub const RESYNC_REQUIRED: u16 = 4009;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_spliced_into_event_objects() {
        let body = serde_json::to_string(&Event::SessionRevoked {
            session_id: "s".into(),
        })
        .unwrap_or_default();
        let framed: serde_json::Value =
            serde_json::from_str(&with_cursor(&body, Some(7))).unwrap_or_default();
        assert_eq!(framed["cursor"], "7");
        assert_eq!(framed["type"], "session.revoked");
        assert_eq!(framed["session_id"], "s");
        assert_eq!(with_cursor("{}", Some(1)), "{\"cursor\":\"1\"}");
        // Found by the `events` fuzz target: leading whitespace used to lose the cursor.
        assert_eq!(with_cursor(" \n{}", Some(2)), "{\"cursor\":\"2\"}");
        assert_eq!(with_cursor(&body, None), body);
    }
}
