//! hilo's use cases. Every operation a client, an operator or (later) a mail or SMS gateway
//! can perform is a method on [`Hilo`], so HTTP, WebSocket, CLI and ingress share one rule
//! set: who may do what, which input is valid, what gets stored, who is told.
//!
//! The pattern of every write: validate, check permission, call **one** store method (which
//! commits atomically and durably and returns the per-user events it appended), then
//! publish those events to the bus. Publishing after commit means a client never hears of
//! something that is not on disk; a lost publish costs latency only, because clients catch
//! up from the store by cursor.
//!
//! Not here: HTTP status codes, WebSocket frames, SQL. Errors are [`Error`] variants named
//! for what went wrong; `hilo-http` maps them to statuses in one place.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod accounts;
mod attachments;
mod conversations;
mod digest;
mod emails;
mod error;
mod events;
mod export;
mod limits;
mod mail;
mod messages;
mod moderation;
mod outbound;
mod password;
mod ports;
mod presence;
mod search;
mod security;
mod sms;
mod social;
mod spam;
pub mod totp;

use std::sync::Arc;

use hilo_bus::Bus;
use hilo_core::{SessionId, User, UserId};
use hilo_store::Store;

pub use accounts::{LoginAttempt, Registration, UserProfile};
pub use attachments::{Download, ORPHAN_TTL, THUMBNAIL_MAX, Wanted, sniff};
pub use conversations::ADDRESSES_PER_HOUR;
pub use digest::DigestTiming;
pub use emails::{BLOCKED_ADDRESSES_MAX, EMAILS_PER_ACCOUNT};
pub use error::Error;
pub use events::{EventStream, OFFLINE_GRACE, StreamItem};
pub use export::Export;
pub use limits::Limits;
pub use mail::{MAILS_PER_CLIENT_HOUR, MAILS_PER_SENDER_HOUR, MailIntake};
pub use moderation::ReportView;
pub use outbound::Outbound;
pub use password::PasswordHasher;
pub use ports::{Clock, IdGen, SystemClock, UuidV7};
pub use presence::TYPING_TTL;
pub use search::{
    SEARCH_DEPTH_MAX, SEARCH_PAGE_DEFAULT, SEARCH_PAGE_MAX, SearchHit, SearchRequest, SearchResults,
};
pub use security::{Client, Enrolment, RECOVERY_CODES, device_from_user_agent};
pub use sms::{SmsGateway, SmsProvider, SmsWebhook};
pub use social::FriendStatus;
pub use spam::LESSON_MESSAGES;

/// Result alias for service calls.
pub type Result<T> = std::result::Result<T, Error>;

/// Who may create accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationPolicy {
    /// Anyone.
    Open,
    /// Holders of an admin-made invite code (the very first account needs none).
    Invite,
    /// Nobody through the API; operators use `hilo admin create-user`.
    Closed,
}

/// Settings the service needs.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Registration policy.
    pub registration: RegistrationPolicy,
    /// Domain of every user's own address, `username@domain`.
    pub mail_domain: String,
    /// Largest attachment, in bytes.
    pub attachment_max_bytes: u64,
    /// Rate limits.
    pub limits: Limits,
}

/// An authenticated caller: the account and the session its token belongs to.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The account.
    pub user: User,
    /// The session.
    pub session_id: SessionId,
    /// Where this request comes from.
    pub client: Client,
}

/// The service: cheap to clone, shared by every handler and connection.
#[derive(Clone)]
pub struct Hilo {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    blobs: Arc<dyn object_store::ObjectStore>,
    bus: Arc<dyn Bus>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGen>,
    hasher: PasswordHasher,
    presence: presence::Presence,
    typing: presence::Typing,
    deliveries: presence::Deliveries,
    /// This node's name in the shared presence table (a new one at every start).
    node: String,
    config: ServiceConfig,
    /// The server's own account that sends security notices (`Hilo::prepare`).
    notices: std::sync::OnceLock<UserId>,
    /// Where mail goes out (`Hilo::send_mail_in_background`).
    outbound: std::sync::OnceLock<Arc<outbound::Outbound>>,
    /// The SMS providers, once `Hilo::send_sms_in_background` was given them.
    sms: std::sync::OnceLock<Arc<sms::SmsGateway>>,
}

impl Hilo {
    /// Wires the service to its ports.
    pub fn new(
        store: Arc<dyn Store>,
        blobs: Arc<dyn object_store::ObjectStore>,
        bus: Arc<dyn Bus>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGen>,
        hasher: PasswordHasher,
        config: ServiceConfig,
    ) -> Hilo {
        let (presence, transitions) = presence::Presence::new();
        let node = ids.new_id();
        let hilo = Hilo {
            inner: Arc::new(Inner {
                store,
                blobs,
                bus,
                clock,
                ids,
                hasher,
                presence,
                typing: presence::Typing::default(),
                deliveries: presence::Deliveries::default(),
                node,
                config,
                notices: std::sync::OnceLock::new(),
                outbound: std::sync::OnceLock::new(),
                sms: std::sync::OnceLock::new(),
            }),
        };
        hilo.announce_presence(transitions);
        hilo
    }

    /// Starts what a serving node runs in the background for as long as the service
    /// lives: recording deliveries, renewing presence, sweeping attachments every
    /// `attachment_sweep`. Operator commands that only open the store never call it.
    pub fn run_background(&self, attachment_sweep: std::time::Duration) {
        self.record_deliveries();
        self.renew_presence();
        self.sweep_attachments_every(attachment_sweep);
        self.sweep_counters_hourly();
    }

    /// Forgets rate-limit counters nobody touched for a day, every hour.
    fn sweep_counters_hourly(&self) {
        self.every(
            std::time::Duration::from_secs(3600),
            "could not sweep rate-limit counters",
            |hilo| async move { hilo.sweep_counters().await },
        );
    }

    /// Runs `job` every `period` (the first at once; a late one does not bunch up the
    /// next) for as long as the service lives, logging a failure as `what` and trying
    /// again at the next tick.
    pub(crate) fn every<F, Fut, T>(&self, period: std::time::Duration, what: &'static str, job: F)
    where
        F: Fn(Hilo) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<T>> + Send,
    {
        let inner = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(inner) = inner.upgrade() else { return };
                if let Err(error) = job(Hilo { inner }).await {
                    tracing::warn!(%error, "{what}");
                }
            }
        });
    }

    /// The service's configuration.
    pub fn config(&self) -> &ServiceConfig {
        &self.inner.config
    }

    /// Whether the store answers.
    pub async fn healthy(&self) -> bool {
        self.inner.store.ping().await.is_ok()
    }

    /// Writes a consistent copy of the database to `path` while the server runs.
    pub async fn backup(&self, path: &str) -> Result<()> {
        Ok(self.inner.store.backup(path).await?)
    }

    /// Number of event streams open on this node.
    pub fn open_streams(&self) -> usize {
        self.inner.presence.open_streams()
    }
}
