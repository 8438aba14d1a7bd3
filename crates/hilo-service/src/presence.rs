//! Which users have an open event stream on this node: the basis of `online`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use hilo_core::UserId;

/// Counts open streams per user. A stream holds a [`PresenceGuard`] whose `Drop` takes it
/// out again, so a connection that dies in any way is never left counted.
#[derive(Default, Clone)]
pub(crate) struct Presence {
    streams: Arc<Mutex<HashMap<UserId, usize>>>,
}

impl Presence {
    pub(crate) fn enter(&self, user: &UserId) -> PresenceGuard {
        let mut streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        *streams.entry(user.clone()).or_insert(0) += 1;
        PresenceGuard {
            presence: self.clone(),
            user: user.clone(),
        }
    }

    pub(crate) fn is_online(&self, user: &UserId) -> bool {
        let streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        streams.get(user).copied().unwrap_or(0) > 0
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
            }
        }
    }
}
