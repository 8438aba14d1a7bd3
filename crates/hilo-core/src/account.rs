//! Accounts, their privacy settings and their login sessions.

use crate::{SessionId, Timestamp, UserId};

/// An account on this server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Stable identifier.
    pub id: UserId,
    /// Lower-case, unique username; also the local part of the user's mail address.
    pub username: String,
    /// The name shown to others.
    pub display_name: String,
    /// Whether the user administers this server.
    pub is_admin: bool,
    /// Suspended accounts cannot log in.
    pub suspended: bool,
    /// Privacy settings.
    pub settings: Settings,
    /// When the account was created.
    pub created_at: Timestamp,
}

/// Privacy settings. Stored now; enforced by the social-inbox and presence features.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Who may start a conversation with this user.
    pub who_can_message: WhoCanMessage,
    /// Who may see this user's online state and last-seen time.
    pub last_seen_visibility: LastSeenVisibility,
    /// Whether this user sends read receipts to others.
    pub read_receipts: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            who_can_message: WhoCanMessage::Everyone,
            last_seen_visibility: LastSeenVisibility::Everyone,
            read_receipts: true,
        }
    }
}

/// Who may message a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhoCanMessage {
    /// Anyone; strangers land in message requests.
    Everyone,
    /// Friends and friends of friends.
    FriendsOfFriends,
    /// Friends only.
    Friends,
}

/// Who may see a user's presence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LastSeenVisibility {
    /// Everyone.
    Everyone,
    /// Friends only.
    Friends,
    /// Nobody.
    Nobody,
}

macro_rules! str_enum {
    ($ty:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        impl $ty {
            /// Every name [`Self::parse`] accepts, in declaration order (the OpenAPI
            /// document's enumerations are checked against it).
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// The stable lower-case name used on the wire and in storage.
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $text),+ }
            }

            /// Parses the stable name; `None` for anything else.
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($ty::$variant),)+ _ => None }
            }
        }
    };
}
pub(crate) use str_enum;

str_enum!(WhoCanMessage {
    Everyone = "everyone",
    FriendsOfFriends = "friends_of_friends",
    Friends = "friends",
});
str_enum!(LastSeenVisibility {
    Everyone = "everyone",
    Friends = "friends",
    Nobody = "nobody",
});

/// One device's login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Identifier, safe to show (the token itself is never stored).
    pub id: SessionId,
    /// Owner.
    pub user_id: UserId,
    /// A name the client gave, such as "Firefox on Linux".
    pub device_name: Option<String>,
    /// When the session was created (login time).
    pub created_at: Timestamp,
    /// Last authenticated request, updated at most once a minute.
    pub last_seen_at: Timestamp,
    /// Peer address the session was created from.
    pub ip: Option<String>,
}
