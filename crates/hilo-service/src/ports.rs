//! Ports for time and identifiers, so tests can control both and the core stays pure.

use hilo_core::Timestamp;

/// The current time.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> Timestamp;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        Timestamp(i64::try_from(millis).unwrap_or(i64::MAX))
    }
}

/// New unique identifiers.
pub trait IdGen: Send + Sync {
    /// A fresh identifier string.
    fn new_id(&self) -> String;
}

/// UUIDv7: unique, and sortable by creation time, which keeps B-tree inserts local.
#[derive(Debug, Default, Clone, Copy)]
pub struct UuidV7;

impl IdGen for UuidV7 {
    fn new_id(&self) -> String {
        uuid::Uuid::now_v7().to_string()
    }
}
