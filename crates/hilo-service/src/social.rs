//! Friends and blocks: requests, accepting by asking back, declining, cancelling,
//! unfriending, lists; blocking and unblocking. The rules that follow from them (who may
//! message whom, who sees whose presence) live in `hilo_core::social`.

use hilo_core::{FriendRequestResult, Relation, Timestamp, User, UserId};
use hilo_store::Delivery;

use crate::accounts::UserProfile;
use crate::{Caller, Error, Hilo, Result};

/// What a friend request led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FriendStatus {
    /// Waiting for the other person.
    RequestSent,
    /// Friends (the other person had asked first, or they already were).
    Friends,
}

impl FriendStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            FriendStatus::RequestSent => "request_sent",
            FriendStatus::Friends => "friends",
        }
    }
}

impl Hilo {
    /// Marks the messages whose sender `reader` blocks as collapsed (see
    /// `Message::collapsed`): one read of the reader's blocks, none when nothing is given.
    pub(crate) async fn collapse_blocked<'a>(
        &self,
        reader: &UserId,
        messages: impl IntoIterator<Item = &'a mut hilo_core::Message>,
    ) -> Result<()> {
        let messages: Vec<&mut hilo_core::Message> = messages.into_iter().collect();
        if messages
            .iter()
            .all(|m| m.sender_user().is_none_or(|s| s == reader))
        {
            return Ok(());
        }
        let blocked = self.inner.store.blocked_users(reader).await?;
        for message in messages {
            message.collapsed = message
                .sender_user()
                .is_some_and(|sender| blocked.iter().any(|b| b.id == *sender));
        }
        Ok(())
    }
    /// Another active account by username, never the caller: `NotFound` for unknown or
    /// suspended accounts, 400 `invalid_username` for the caller themselves.
    async fn other_user(&self, caller: &Caller, username: &str, action: &str) -> Result<User> {
        let user = self.existing_user(username).await?;
        if user.suspended {
            return Err(Error::NotFound("user"));
        }
        if user.id == caller.user.id {
            return Err(Error::bad_request(
                "invalid_username",
                format!("you cannot {action} yourself"),
            ));
        }
        Ok(user)
    }

    /// Asks `username` to be friends, or accepts their request.
    pub async fn request_friend(&self, caller: &Caller, username: &str) -> Result<FriendStatus> {
        let other = self.other_user(caller, username, "befriend").await?;
        let now = self.inner.clock.now();
        let (result, deliveries) = self
            .inner
            .store
            .request_friend(&caller.user.id, &other.id, now)
            .await?;
        match result {
            FriendRequestResult::Sent => {
                self.publish_appended(deliveries).await;
                Ok(FriendStatus::RequestSent)
            }
            FriendRequestResult::AlreadySent => Ok(FriendStatus::RequestSent),
            FriendRequestResult::Accepted => {
                self.publish_appended(deliveries).await;
                Ok(FriendStatus::Friends)
            }
            FriendRequestResult::AlreadyFriends => Ok(FriendStatus::Friends),
            FriendRequestResult::Blocked => Err(Error::forbidden(
                "friend_request_refused",
                "you cannot send this person a friend request",
            )),
        }
    }

    /// Unfriends `username`, cancels the caller's request to them or declines theirs.
    pub async fn remove_friend(&self, caller: &Caller, username: &str) -> Result<()> {
        let other = self.other_user(caller, username, "unfriend").await?;
        let now = self.inner.clock.now();
        let deliveries = self
            .inner
            .store
            .remove_friend(&caller.user.id, &other.id, now)
            .await?;
        self.publish_appended(deliveries).await;
        Ok(())
    }

    /// The caller's friends with the time each friendship began.
    pub async fn friends(&self, caller: &Caller) -> Result<Vec<(UserProfile, Timestamp)>> {
        let mut friends = Vec::new();
        for since in self.inner.store.friends(&caller.user.id).await? {
            let relation = Relation {
                friends: true,
                ..Relation::default()
            };
            friends.push((
                self.profile_with(caller, since.user, relation).await?,
                since.at,
            ));
        }
        Ok(friends)
    }

    /// Friend requests to and from the caller, newest first.
    #[allow(clippy::type_complexity)]
    pub async fn friend_requests(
        &self,
        caller: &Caller,
    ) -> Result<(Vec<(UserProfile, Timestamp)>, Vec<(UserProfile, Timestamp)>)> {
        let (incoming, outgoing) = self.inner.store.friend_requests(&caller.user.id).await?;
        let mut lists = (Vec::new(), Vec::new());
        for since in incoming {
            let relation = Relation {
                request_received: true,
                ..Relation::default()
            };
            lists.0.push((
                self.profile_with(caller, since.user, relation).await?,
                since.at,
            ));
        }
        for since in outgoing {
            let relation = Relation {
                request_sent: true,
                ..Relation::default()
            };
            lists.1.push((
                self.profile_with(caller, since.user, relation).await?,
                since.at,
            ));
        }
        Ok(lists)
    }

    /// Blocks `username`: any friendship or request between them ends.
    pub async fn block(&self, caller: &Caller, username: &str) -> Result<()> {
        let other = self.other_user(caller, username, "block").await?;
        let now = self.inner.clock.now();
        let deliveries = self
            .inner
            .store
            .block(&caller.user.id, &other.id, now)
            .await?;
        self.publish_appended(deliveries).await;
        Ok(())
    }

    /// Lifts the caller's block of `username`; nothing they sent meanwhile comes back.
    pub async fn unblock(&self, caller: &Caller, username: &str) -> Result<()> {
        let other = self.other_user(caller, username, "unblock").await?;
        let now = self.inner.clock.now();
        let deliveries = self
            .inner
            .store
            .unblock(&caller.user.id, &other.id, now)
            .await?;
        self.publish_appended(deliveries).await;
        Ok(())
    }

    /// Publishes the events a friend or block change appended, each read back from its
    /// recipient's stream and rendered as a replay renders it (one change appends several
    /// kinds, each about the other person of the pair). These changes are rare; the read
    /// back keeps one rendering for live and replayed events.
    async fn publish_appended(&self, deliveries: Vec<Delivery>) {
        for delivery in deliveries {
            let stored = match self
                .inner
                .store
                .events_after(&delivery.user_id, delivery.cursor - 1, 1)
                .await
            {
                Ok(events) => events.into_iter().find(|e| e.cursor == delivery.cursor),
                Err(error) => {
                    // The stored event is still there: the client gets it on catch-up.
                    tracing::warn!(%error, "could not read back a social event");
                    None
                }
            };
            let Some(stored) = stored else { continue };
            match self.render(&stored).await {
                Ok(Some(event)) => self.publish(std::slice::from_ref(&delivery), &event).await,
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, "could not render a social event"),
            }
        }
    }

    /// Everyone the caller blocks.
    pub async fn blocks(&self, caller: &Caller) -> Result<Vec<UserProfile>> {
        let mut blocked = Vec::new();
        for user in self.inner.store.blocked_users(&caller.user.id).await? {
            let relation = Relation {
                blocking: true,
                ..Relation::default()
            };
            blocked.push(self.profile_with(caller, user, relation).await?);
        }
        Ok(blocked)
    }
}
