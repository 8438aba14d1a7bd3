//! Conversations and messages.

use hilo_core::{ConversationView, Party};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{MessageDto, rfc3339};

impl From<&hilo_core::User> for PartyDto {
    fn from(user: &hilo_core::User) -> Self {
        PartyDto::from(&Party::User {
            id: user.id.clone(),
            username: user.username.clone(),
            display_name: user.display_name.clone(),
        })
    }
}

/// A member of a conversation or the sender of a message: an account (`kind: "user"`) or an
/// external contact known by an email address or phone number (`kind: "contact"`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PartyDto {
    /// Account or contact id.
    pub id: String,
    /// `user` or `contact`.
    #[schema(value_type = crate::vocab::PartyKind)]
    pub kind: String,
    /// Username, for accounts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Display name.
    pub display_name: String,
    /// Email address or E.164 number, for contacts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

impl From<&Party> for PartyDto {
    fn from(party: &Party) -> Self {
        match party {
            Party::User {
                id,
                username,
                display_name,
            } => PartyDto {
                id: id.to_string(),
                kind: "user".into(),
                username: Some(username.clone()),
                display_name: display_name.clone(),
                address: None,
            },
            Party::Contact {
                id,
                address,
                display_name,
            } => PartyDto {
                id: id.to_string(),
                kind: "contact".into(),
                username: None,
                display_name: display_name.clone(),
                address: Some(address.clone()),
            },
        }
    }
}

/// A conversation as the caller sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConversationDto {
    /// Conversation id.
    pub id: String,
    /// `direct` or `group`.
    #[schema(value_type = crate::vocab::ConversationKind)]
    pub kind: String,
    /// Group name; null for direct conversations.
    pub name: Option<String>,
    /// Current members.
    pub members: Vec<PartyDto>,
    /// The caller's folder: `inbox`, `requests`, `archived` or `spam`.
    #[schema(value_type = crate::vocab::Folder)]
    pub folder: String,
    /// Messages from others after the caller's read marker.
    #[schema(minimum = 0)]
    pub unread_count: i64,
    /// The caller's read marker.
    #[schema(minimum = 0)]
    pub last_read_seq: i64,
    /// The `seq` of the newest message.
    #[schema(minimum = 0)]
    pub last_seq: i64,
    /// The newest message.
    pub last_message: Option<MessageDto>,
    /// The caller muted notifications until then.
    #[schema(format = DateTime)]
    pub muted_until: Option<String>,
    /// The caller's notification level: `all`, `mentions` or `none`.
    #[schema(value_type = crate::vocab::Notify)]
    pub notify: String,
    /// Pinned by the caller: listed first.
    pub pinned: bool,
    /// Creation time.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Last activity.
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl From<&ConversationView> for ConversationDto {
    fn from(view: &ConversationView) -> Self {
        let conversation = &view.conversation;
        ConversationDto {
            id: conversation.id.to_string(),
            kind: conversation.kind.as_str().to_owned(),
            name: conversation.name.clone(),
            members: conversation
                .members
                .iter()
                .map(|m| PartyDto::from(&m.party))
                .collect(),
            folder: view.me.folder.as_str().to_owned(),
            unread_count: view.unread_count,
            last_read_seq: view.me.last_read_seq,
            last_seq: conversation.last_seq,
            last_message: view.last_message.as_ref().map(MessageDto::from),
            muted_until: view.me.muted_until.map(rfc3339),
            notify: view.me.notify.as_str().to_owned(),
            pinned: view.me.pinned,
            created_at: rfc3339(conversation.created_at),
            updated_at: rfc3339(conversation.updated_at),
        }
    }
}

/// `POST /api/v1/conversations`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateConversationRequest {
    /// `direct` or `group`.
    #[schema(value_type = crate::vocab::ConversationKind)]
    pub kind: String,
    /// Direct: the other person's username.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 32)]
    pub with: Option<String>,
    /// Direct, instead of `with`: the email address of someone who is not an account here
    /// (they get what is written by email), or an address of this server (its account).
    #[serde(default)]
    #[schema(min_length = 3, max_length = 254)]
    pub with_address: Option<String>,
    /// Group: its name.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    /// Group: usernames of the other members.
    #[serde(default)]
    #[schema(max_items = 999)]
    pub members: Option<Vec<String>>,
    /// Group: email addresses of other members. An address of this server is its
    /// account; any other becomes an email contact of the group, who gets what is written
    /// there by mail and whose replies come back into it.
    #[serde(default)]
    #[schema(max_items = 200)]
    pub addresses: Option<Vec<String>>,
}

/// `GET /api/v1/conversations`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConversationsResponse {
    /// Most recent activity first.
    pub conversations: Vec<ConversationDto>,
    /// Pass as `cursor` for the next page; null at the end.
    pub next_cursor: Option<String>,
}

/// `PATCH /api/v1/conversations/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RenameConversationRequest {
    /// New group name.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
}

/// `POST /api/v1/conversations/{id}/members`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AddMembersRequest {
    /// Usernames to add.
    #[serde(default)]
    #[schema(max_items = 200)]
    pub usernames: Vec<String>,
    /// Email addresses to add (as in `POST /conversations`); with `usernames`, 1 to 200
    /// entries in all.
    #[serde(default)]
    #[schema(max_items = 200)]
    pub addresses: Vec<String>,
}

/// `PATCH /api/v1/conversations/{id}/settings`. `muted_until: null` unmutes.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ConversationSettingsRequest {
    /// `inbox` or `archived`.
    #[serde(default)]
    #[schema(value_type = Option<crate::vocab::MovableFolder>)]
    pub folder: Option<String>,
    /// RFC 3339 time, or null to unmute. Absent: unchanged.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub muted_until: Option<Option<String>>,
    /// `all`, `mentions` or `none`.
    #[serde(default)]
    #[schema(value_type = Option<crate::vocab::Notify>)]
    pub notify: Option<String>,
    /// Pin (first in the caller's lists, at most 10 per folder) or unpin.
    #[serde(default)]
    pub pinned: Option<bool>,
}

/// Distinguishes an absent field (`None`) from an explicit null (`Some(None)`).
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

/// `POST /api/v1/conversations/{id}/read`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReadRequest {
    /// Everything up to this `seq` has been read.
    #[schema(minimum = 0)]
    pub seq: i64,
}

/// The read marker after `POST /api/v1/conversations/{id}/read`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReadResponse {
    /// The conversation.
    pub conversation_id: String,
    /// The read marker now (it never moves backwards).
    #[schema(minimum = 0)]
    pub last_read_seq: i64,
    /// Messages from others after it.
    #[schema(minimum = 0)]
    pub unread_count: i64,
}

/// One member's receipt.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReceiptDto {
    /// The member.
    pub user_id: String,
    /// Some device of theirs received the messages up to this `seq`.
    #[schema(minimum = 0)]
    pub delivered_seq: i64,
    /// They have read up to this `seq`; null unless both they and the caller share read
    /// receipts (receipts off works both ways).
    #[schema(minimum = 0)]
    pub last_read_seq: Option<i64>,
}

/// `GET /api/v1/conversations/{id}/receipts`: the other members' receipts, in join order.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReceiptsResponse {
    /// One per other current member account.
    pub receipts: Vec<ReceiptDto>,
}

/// `POST /api/v1/conversations/{id}/typing`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TypingRequest {
    /// Started (true) or stopped (false) typing.
    pub typing: bool,
}
