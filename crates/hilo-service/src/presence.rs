//! Who is online, and who is typing: the ephemeral state of people, held in memory.
//!
//! Presence: a user is online while any of their event streams on this node is open. A
//! stream holds a [`PresenceGuard`] whose `Drop` takes it out again, so a connection that
//! dies in any way is never left counted; the first stream in and the last one out are
//! reported as transitions, which the service turns into `presence` events.
//!
//! Typing: a "typing" indicator lasts [`TYPING_TTL`] unless refreshed; [`Typing`] keeps a
//! generation per (conversation, typist) so only the latest start's timer may end it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hilo_core::{ConversationId, SessionId, UserId};
use tokio::sync::mpsc;

/// How long a typing indicator lasts without a refresh.
pub const TYPING_TTL: Duration = Duration::from_secs(5);

/// A user's first stream opened (`online`) or last stream closed (the session it was).
#[derive(Debug)]
pub(crate) struct Transition {
    pub(crate) user: UserId,
    pub(crate) session: SessionId,
    pub(crate) online: bool,
}

/// Counts open streams per user.
#[derive(Clone)]
pub(crate) struct Presence {
    streams: Arc<Mutex<HashMap<UserId, usize>>>,
    transitions: mpsc::UnboundedSender<Transition>,
}

impl Presence {
    /// A counter and the receiving end of its transitions.
    pub(crate) fn new() -> (Presence, mpsc::UnboundedReceiver<Transition>) {
        let (transitions, receiver) = mpsc::unbounded_channel();
        (
            Presence {
                streams: Arc::default(),
                transitions,
            },
            receiver,
        )
    }

    /// Counts a new stream; the bool says whether it is the user's first on this node
    /// (the caller records that before the stream starts, so it is in order with
    /// everything the stream's client does next).
    pub(crate) fn enter(&self, user: &UserId, session: &SessionId) -> (PresenceGuard, bool) {
        let mut streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        let count = streams.entry(user.clone()).or_insert(0);
        *count += 1;
        let guard = PresenceGuard {
            presence: self.clone(),
            user: user.clone(),
            session: session.clone(),
        };
        (guard, *count == 1)
    }

    pub(crate) fn is_online(&self, user: &UserId) -> bool {
        let streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        streams.get(user).copied().unwrap_or(0) > 0
    }

    /// The users with a stream open here.
    pub(crate) fn online_users(&self) -> Vec<UserId> {
        let streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        streams.keys().cloned().collect()
    }

    pub(crate) fn open_streams(&self) -> usize {
        let streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        streams.values().sum()
    }
}

/// Held by an open stream.
pub(crate) struct PresenceGuard {
    presence: Presence,
    user: UserId,
    session: SessionId,
}

impl Drop for PresenceGuard {
    fn drop(&mut self) {
        let mut streams = self
            .presence
            .streams
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = streams.get_mut(&self.user) {
            *count -= 1;
            if *count == 0 {
                streams.remove(&self.user);
                let _ = self.presence.transitions.send(Transition {
                    user: self.user.clone(),
                    session: self.session.clone(),
                    online: false,
                });
            }
        }
    }
}

/// The newest message handed to some stream of each user, per conversation, waiting to be
/// recorded as delivered: many messages to one person within a flush cost one write.
#[derive(Default, Clone)]
pub(crate) struct Deliveries {
    pending: Arc<Mutex<HashMap<(ConversationId, UserId), i64>>>,
}

impl Deliveries {
    pub(crate) fn note(&self, conversation: ConversationId, user: UserId, seq: i64) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let newest = pending.entry((conversation, user)).or_insert(seq);
        *newest = (*newest).max(seq);
    }

    pub(crate) fn take(&self) -> Vec<((ConversationId, UserId), i64)> {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending.drain().collect()
    }
}

/// Who is typing where, by the generation of their latest start.
#[derive(Default, Clone)]
pub(crate) struct Typing {
    started: Arc<Mutex<HashMap<(ConversationId, UserId), u64>>>,
    next: Arc<std::sync::atomic::AtomicU64>,
}

impl Typing {
    /// Records a start (or refresh); returns its generation.
    pub(crate) fn start(&self, conversation: &ConversationId, user: &UserId) -> u64 {
        let generation = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut started = self.started.lock().unwrap_or_else(PoisonError::into_inner);
        started.insert((conversation.clone(), user.clone()), generation);
        generation
    }

    /// Ends the indicator if `generation` is still the latest start (any start when
    /// `None`); whether it was on.
    pub(crate) fn stop(
        &self,
        conversation: &ConversationId,
        user: &UserId,
        generation: Option<u64>,
    ) -> bool {
        let mut started = self.started.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (conversation.clone(), user.clone());
        match (started.get(&key), generation) {
            (Some(latest), Some(generation)) if *latest != generation => false,
            (Some(_), _) => {
                started.remove(&key);
                true
            }
            (None, _) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_stream_in_and_the_last_out_are_transitions() {
        let (presence, mut transitions) = Presence::new();
        let (ana, session) = (UserId::new("ana"), SessionId::new("s"));
        let (first, is_first) = presence.enter(&ana, &session);
        let (second, again) = presence.enter(&ana, &session);
        assert!(is_first && !again);
        assert!(presence.is_online(&ana));
        drop(first);
        assert!(presence.is_online(&ana));
        assert!(transitions.try_recv().is_err(), "one stream is still open");
        drop(second);
        assert!(!presence.is_online(&ana));
        let last = transitions.try_recv().expect("the last one out");
        assert!(!last.online);
    }

    #[test]
    fn only_the_latest_start_may_end_typing() {
        let typing = Typing::default();
        let (c, u) = (ConversationId::new("c"), UserId::new("u"));
        let first = typing.start(&c, &u);
        let refresh = typing.start(&c, &u);
        assert!(!typing.stop(&c, &u, Some(first)), "a stale timer");
        assert!(typing.stop(&c, &u, Some(refresh)));
        assert!(!typing.stop(&c, &u, None), "already off");
    }
}
