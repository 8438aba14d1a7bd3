//! Friendships, friend requests and blocks between accounts, and the rules that follow
//! from them: who may message whom, who sees whose presence.

use crate::account::str_enum;
use crate::{LastSeenVisibility, WhoCanMessage};

/// What one account (the viewer) is to another, as far as the social rules care.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Relation {
    /// They are friends.
    pub friends: bool,
    /// The viewer asked the other to be friends and is waiting.
    pub request_sent: bool,
    /// The other asked the viewer to be friends.
    pub request_received: bool,
    /// The other asked the viewer, who declined (the other still sees it waiting).
    pub declined: bool,
    /// The viewer blocks the other.
    pub blocking: bool,
    /// The other blocks the viewer.
    pub blocked_by: bool,
    /// They have at least one friend in common.
    pub mutual_friend: bool,
}

/// The viewer's relationship to another account, as user profiles show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relationship {
    /// The viewer themselves.
    Myself,
    /// A friend.
    Friend,
    /// The viewer sent a friend request that waits.
    RequestSent,
    /// The other sent the viewer a friend request.
    RequestReceived,
    /// The viewer blocks them.
    Blocked,
    /// None of the above (being blocked by them shows as this too: a block is not
    /// announced to the person blocked).
    None,
}
str_enum!(Relationship {
    Myself = "self",
    Friend = "friend",
    RequestSent = "request_sent",
    RequestReceived = "request_received",
    Blocked = "blocked",
    None = "none",
});

impl Relation {
    /// The relationship a profile shows the viewer.
    pub fn relationship(&self) -> Relationship {
        if self.blocking {
            Relationship::Blocked
        } else if self.friends {
            Relationship::Friend
        } else if self.request_sent {
            Relationship::RequestSent
        } else if self.request_received {
            Relationship::RequestReceived
        } else {
            Relationship::None
        }
    }

    /// Whether the viewer may start messaging (or add to a group) someone whose setting is
    /// `setting`, where `self` is the viewer's relation to them. A block either way
    /// refuses.
    pub fn may_message(&self, setting: WhoCanMessage) -> bool {
        if self.blocking || self.blocked_by {
            return false;
        }
        match setting {
            WhoCanMessage::Everyone => true,
            WhoCanMessage::FriendsOfFriends => self.friends || self.mutual_friend,
            WhoCanMessage::Friends => self.friends,
        }
    }

    /// Whether the viewer may see the presence and last-seen time of someone whose setting
    /// is `setting`.
    pub fn sees_presence(&self, setting: LastSeenVisibility) -> bool {
        if self.blocked_by {
            return false;
        }
        match setting {
            LastSeenVisibility::Everyone => true,
            LastSeenVisibility::Friends => self.friends,
            LastSeenVisibility::Nobody => false,
        }
    }
}

/// What a friend request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FriendRequestResult {
    /// A new request waits for the other person.
    Sent,
    /// The other person had asked first: they are friends now.
    Accepted,
    /// The same request already waits; nothing changed.
    AlreadySent,
    /// They were friends already; nothing changed.
    AlreadyFriends,
    /// A block between them refuses it; nothing changed.
    Blocked,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn who_may_message_follows_the_setting_and_any_block_refuses() {
        let stranger = Relation::default();
        let friend = Relation {
            friends: true,
            ..Relation::default()
        };
        let friend_of_friend = Relation {
            mutual_friend: true,
            ..Relation::default()
        };
        for (relation, everyone, fof, friends) in [
            (stranger, true, false, false),
            (friend_of_friend, true, true, false),
            (friend, true, true, true),
        ] {
            assert_eq!(relation.may_message(WhoCanMessage::Everyone), everyone);
            assert_eq!(relation.may_message(WhoCanMessage::FriendsOfFriends), fof);
            assert_eq!(relation.may_message(WhoCanMessage::Friends), friends);
        }
        for blocked in [
            Relation {
                blocking: true,
                friends: true,
                ..Relation::default()
            },
            Relation {
                blocked_by: true,
                friends: true,
                ..Relation::default()
            },
        ] {
            assert!(!blocked.may_message(WhoCanMessage::Everyone));
        }
    }

    #[test]
    fn presence_follows_visibility_and_a_block_hides_it() {
        let friend = Relation {
            friends: true,
            ..Relation::default()
        };
        assert!(friend.sees_presence(LastSeenVisibility::Friends));
        assert!(!Relation::default().sees_presence(LastSeenVisibility::Friends));
        assert!(Relation::default().sees_presence(LastSeenVisibility::Everyone));
        assert!(!friend.sees_presence(LastSeenVisibility::Nobody));
        let blocked = Relation {
            blocked_by: true,
            friends: true,
            ..Relation::default()
        };
        assert!(!blocked.sees_presence(LastSeenVisibility::Everyone));
    }

    #[test]
    fn a_block_shows_over_anything_else_and_being_blocked_shows_nothing() {
        let both = Relation {
            blocking: true,
            friends: true,
            ..Relation::default()
        };
        assert_eq!(both.relationship(), Relationship::Blocked);
        let blocked_by = Relation {
            blocked_by: true,
            ..Relation::default()
        };
        assert_eq!(blocked_by.relationship(), Relationship::None);
        assert_eq!(
            Relation {
                request_received: true,
                ..Relation::default()
            }
            .relationship()
            .as_str(),
            "request_received"
        );
    }
}
