//! Conversations and their members.
//!
//! A member is a [`Party`]: an account or an external contact. Per-member state (folder,
//! read marker, mute) is the member's own view and is kept apart from the shared
//! conversation in [`MemberView`].

use crate::account::str_enum;
use crate::{ContactId, ConversationId, Message, Timestamp, UserId};

/// Direct (exactly one per pair of parties) or group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConversationKind {
    /// A one-to-one thread. There is exactly one per pair of parties, whatever the channel.
    Direct,
    /// A named group.
    Group,
}
str_enum!(ConversationKind { Direct = "direct", Group = "group" });

/// A participant: anyone who can be a member of a conversation or the sender of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Party {
    /// An account on this server.
    User {
        /// The account.
        id: UserId,
        /// Its username.
        username: String,
        /// Its display name.
        display_name: String,
    },
    /// Someone known only by an address: an email address or an E.164 phone number.
    Contact {
        /// The contact.
        id: ContactId,
        /// The address.
        address: String,
        /// A name taken from mail headers or given by a user.
        display_name: String,
    },
}

impl Party {
    /// The account behind this party, if it is one.
    pub fn user_id(&self) -> Option<&UserId> {
        match self {
            Party::User { id, .. } => Some(id),
            Party::Contact { .. } => None,
        }
    }

    /// The party's id (an account's or a contact's).
    pub fn id(&self) -> &str {
        match self {
            Party::User { id, .. } => id.as_str(),
            Party::Contact { id, .. } => id.as_str(),
        }
    }
}

/// A member's role in a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// May remove others.
    Admin,
    /// Ordinary member.
    Member,
}
str_enum!(Role { Admin = "admin", Member = "member" });

/// A current member of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Who.
    pub party: Party,
    /// Their role.
    pub role: Role,
    /// When they joined (or rejoined).
    pub joined_at: Timestamp,
}

/// The shared state of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    /// Identifier.
    pub id: ConversationId,
    /// Direct or group.
    pub kind: ConversationKind,
    /// Group name; `None` for direct conversations.
    pub name: Option<String>,
    /// Current members, oldest first.
    pub members: Vec<Member>,
    /// The `seq` of the newest message, 0 when empty.
    pub last_seq: i64,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last activity: a message, a rename, a membership change.
    pub updated_at: Timestamp,
}

impl Conversation {
    /// Whether the given account is a current member.
    pub fn has_user(&self, user: &UserId) -> bool {
        self.members.iter().any(|m| m.party.user_id() == Some(user))
    }

    /// Whether the email contact at `address` (lower-case) is a current member.
    pub fn has_address(&self, address: &str) -> bool {
        self.members.iter().any(|m| {
            matches!(&m.party, Party::Contact { address: a, .. } if a.eq_ignore_ascii_case(address))
        })
    }

    /// The account ids of the current members.
    pub fn user_ids(&self) -> Vec<UserId> {
        self.members
            .iter()
            .filter_map(|m| m.party.user_id().cloned())
            .collect()
    }

    /// A member's role, if the account is a member.
    pub fn role_of(&self, user: &UserId) -> Option<Role> {
        self.members
            .iter()
            .find(|m| m.party.user_id() == Some(user))
            .map(|m| m.role)
    }
}

/// Which list a conversation appears in, for one member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Folder {
    /// The main list.
    Inbox,
    /// Message requests from people the member has not accepted.
    Requests,
    /// Hidden by the member until new activity.
    Archived,
    /// Judged spam.
    Spam,
}
str_enum!(Folder {
    Inbox = "inbox",
    Requests = "requests",
    Archived = "archived",
    Spam = "spam",
});

/// Which messages notify a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notify {
    /// Every message.
    All,
    /// Only messages that mention the member.
    Mentions,
    /// None.
    None,
}
str_enum!(Notify { All = "all", Mentions = "mentions", None = "none" });

/// One member's own view of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberView {
    /// Folder the conversation sits in for this member.
    pub folder: Folder,
    /// Highest `seq` this member has read.
    pub last_read_seq: i64,
    /// Notifications are muted until this time.
    pub muted_until: Option<Timestamp>,
    /// Notification level.
    pub notify: Notify,
    /// The member deleted the conversation for themselves (or declined it) when its newest
    /// message was this one: nothing up to it shows for them.
    pub cleared_seq: Option<i64>,
    /// Pinned: first in the member's lists.
    pub pinned: bool,
    /// Deleted (or declined) by the member and nothing came since: out of their lists,
    /// and not found for them until a new message, or their opening it again, brings it
    /// back (with only what came after `cleared_seq`).
    pub hidden: bool,
}

/// A conversation as one member sees it: shared state plus their own view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationView {
    /// Shared state.
    pub conversation: Conversation,
    /// The member's own state.
    pub me: MemberView,
    /// Messages from others after the member's read marker.
    pub unread_count: i64,
    /// The newest message, if any.
    pub last_message: Option<Message>,
}

impl ConversationView {
    /// Whether the member deleted (or declined) the conversation and nothing came since:
    /// it is out of their lists.
    pub fn hidden(&self) -> bool {
        self.me.hidden
    }
}
