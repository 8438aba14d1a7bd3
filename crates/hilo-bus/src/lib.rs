//! Real-time fan-out of per-user events from the node that committed them to every node
//! holding a connection of that user.
//!
//! Key design decision: the bus is a *latency* path, never the source of truth. Every event
//! that matters is already committed to the recipient's stream in the store, with a cursor;
//! the bus only carries a pre-rendered copy so connected devices get it within
//! milliseconds. A subscriber that sees a gap in cursors, or falls behind and overflows its
//! bounded queue, reads the store instead, so a lost or late bus message costs latency,
//! never data. This is what lets the NATS implementation (next) be plain core pub/sub.
//!
//! Only this crate knows NATS ([`nats::NatsBus`]); the service sees the [`Bus`] trait.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod nats;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use hilo_core::{SessionId, UserId};
use tokio::sync::broadcast;

/// One event for one user, as it travels to that user's connections.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// Recipient.
    pub user_id: UserId,
    /// Position in the recipient's stream; `None` for ephemeral events (typing, presence),
    /// which are never stored and may be dropped.
    pub cursor: Option<i64>,
    /// Set on `session.revoked`: connections of this session must close after delivering it.
    pub revoked_session: Option<SessionId>,
    /// The event as a JSON object *without* its cursor; the same `Arc` is shared by every
    /// recipient of a group message, so fan-out serialises once.
    pub body: Arc<str>,
}

/// How many envelopes a subscriber may fall behind before it is told it lagged. This is the
/// bounded per-connection queue: past it the envelopes are dropped and the stream reads what
/// it missed from the store, so a slow reader costs a queue's worth of memory at most.
pub const SUBSCRIBER_QUEUE: usize = 256;

/// A live subscription to one user's events.
pub struct Subscription {
    receiver: broadcast::Receiver<Arc<Envelope>>,
    _guard: SubscriptionGuard,
}

/// What [`Subscription::recv`] yields.
#[derive(Debug)]
pub enum Received {
    /// The next envelope.
    Envelope(Arc<Envelope>),
    /// The subscriber fell more than [`SUBSCRIBER_QUEUE`] envelopes behind; some were lost.
    Lagged,
    /// The bus is shutting down.
    Closed,
}

impl Subscription {
    /// Waits for the next envelope.
    pub async fn recv(&mut self) -> Received {
        match self.receiver.recv().await {
            Ok(envelope) => Received::Envelope(envelope),
            Err(broadcast::error::RecvError::Lagged(_)) => Received::Lagged,
            Err(broadcast::error::RecvError::Closed) => Received::Closed,
        }
    }

    /// The next envelope if one is already waiting; `None` when there is none yet.
    pub fn try_recv(&mut self) -> Option<Received> {
        match self.receiver.try_recv() {
            Ok(envelope) => Some(Received::Envelope(envelope)),
            Err(broadcast::error::TryRecvError::Empty) => None,
            Err(broadcast::error::TryRecvError::Lagged(_)) => Some(Received::Lagged),
            Err(broadcast::error::TryRecvError::Closed) => Some(Received::Closed),
        }
    }
}

/// Fan-out between the committing node and the nodes holding connections.
#[async_trait]
pub trait Bus: Send + Sync {
    /// Delivers envelopes to current subscribers of their users, on every node.
    async fn publish(&self, envelopes: Vec<Envelope>);
    /// Subscribes to one user's envelopes. Subscribe *before* reading the store for
    /// catch-up, so nothing committed in between is missed.
    fn subscribe(&self, user: &UserId) -> Subscription;
}

type Channels = Arc<Mutex<HashMap<UserId, broadcast::Sender<Arc<Envelope>>>>>;

/// Removes a user's channel when its last subscriber goes, so idle users cost nothing.
struct SubscriptionGuard {
    channels: Channels,
    user: UserId,
}

impl Drop for SubscriptionGuard {
    fn drop(&mut self) {
        let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        // Fields drop in declaration order, so this subscription's receiver is already gone
        // and a count of zero means it was the last one. Subscribing happens under the same
        // lock, so no new receiver can appear between the check and the removal.
        if channels
            .get(&self.user)
            .is_some_and(|sender| sender.receiver_count() == 0)
        {
            channels.remove(&self.user);
        }
    }
}

/// Single-node fan-out over in-memory channels: one bounded broadcast channel per user with
/// a live connection. Locks are held only to look a channel up, never across an await.
#[derive(Clone, Default)]
pub struct LocalBus {
    channels: Channels,
}

impl LocalBus {
    /// An empty bus.
    pub fn new() -> Self {
        Self::default()
    }
}

impl LocalBus {
    /// Closes every subscription: each stream sees [`Received::Closed`], and its client
    /// reconnects and replays from the store. Used when the node may have missed envelopes
    /// (its link to other nodes dropped).
    pub fn close_all(&self) {
        let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        channels.clear();
    }
}

#[async_trait]
impl Bus for LocalBus {
    async fn publish(&self, envelopes: Vec<Envelope>) {
        let channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        for envelope in envelopes {
            if let Some(sender) = channels.get(&envelope.user_id) {
                // An error only means nobody listens right now; the store has the event.
                let _ = sender.send(Arc::new(envelope));
            }
        }
    }

    fn subscribe(&self, user: &UserId) -> Subscription {
        let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        let receiver = channels
            .entry(user.clone())
            .or_insert_with(|| broadcast::channel(SUBSCRIBER_QUEUE).0)
            .subscribe();
        Subscription {
            receiver,
            _guard: SubscriptionGuard {
                channels: self.channels.clone(),
                user: user.clone(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(user: &str, cursor: i64) -> Envelope {
        Envelope {
            user_id: UserId::new(user),
            cursor: Some(cursor),
            revoked_session: None,
            body: Arc::from("{}"),
        }
    }

    #[tokio::test]
    async fn delivers_in_order_and_only_to_the_user() {
        let bus = LocalBus::new();
        let mut ana = bus.subscribe(&UserId::new("ana"));
        bus.publish(vec![
            envelope("bob", 1),
            envelope("ana", 1),
            envelope("ana", 2),
        ])
        .await;
        for want in [1, 2] {
            match ana.recv().await {
                Received::Envelope(e) => assert_eq!(e.cursor, Some(want)),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn a_slow_subscriber_lags_instead_of_growing() {
        let bus = LocalBus::new();
        let mut slow = bus.subscribe(&UserId::new("ana"));
        let flood = (1..=SUBSCRIBER_QUEUE as i64 + 10)
            .map(|c| envelope("ana", c))
            .collect();
        bus.publish(flood).await;
        assert!(matches!(slow.recv().await, Received::Lagged));
    }

    #[tokio::test]
    async fn close_all_ends_every_subscription() {
        let bus = LocalBus::new();
        let mut ana = bus.subscribe(&UserId::new("ana"));
        bus.close_all();
        assert!(matches!(ana.recv().await, Received::Closed));
        let mut again = bus.subscribe(&UserId::new("ana"));
        bus.publish(vec![envelope("ana", 1)]).await;
        assert!(
            matches!(again.recv().await, Received::Envelope(_)),
            "new subscriptions work"
        );
    }

    #[tokio::test]
    async fn channels_go_away_with_their_last_subscriber() {
        let bus = LocalBus::new();
        let first = bus.subscribe(&UserId::new("ana"));
        let second = bus.subscribe(&UserId::new("ana"));
        drop(first);
        assert_eq!(bus.channels.lock().map(|c| c.len()).unwrap_or(0), 1);
        drop(second);
        assert_eq!(bus.channels.lock().map(|c| c.len()).unwrap_or(1), 0);
    }
}
