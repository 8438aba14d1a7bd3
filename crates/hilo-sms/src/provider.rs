//! What hilo needs of an SMS provider, whoever it is: check and read its webhooks, send a
//! text, fetch an MMS file. [`crate::twilio`] is the first adapter; another (an Android
//! SMS gateway, Vonage) is one more implementation of [`Provider`] over these shapes.

use async_trait::async_trait;

/// One provider account, as the service uses it.
#[async_trait]
pub trait Provider: Send + Sync + std::fmt::Debug {
    /// The header carrying a webhook's signature.
    fn signature_header(&self) -> &'static str;
    /// Whether `signature` signs a webhook posted to `url` with `params` (in order, as
    /// posted); checked before anything of the webhook is read.
    fn verify(&self, url: &str, params: &[(String, String)], signature: &str) -> bool;
    /// Reads a signed inbound-text webhook (of this account: another's is an error).
    fn inbound(&self, params: &[(String, String)]) -> Result<Inbound, WebhookError>;
    /// Reads a signed status callback (of this account); `None` for a status hilo does
    /// not follow (scheduled, canceled…), which is taken and ignored.
    fn status(&self, params: &[(String, String)]) -> Result<Option<StatusReport>, WebhookError>;
    /// The answer to an inbound webhook: `(content type, body)`, with a text back to its
    /// sender or nothing.
    fn reply(&self, text: Option<&str>) -> (&'static str, String);
    /// A delivery error code of a status callback, in words.
    fn error_text(&self, code: u32) -> &'static str;
    /// Sends a text.
    async fn send(&self, text: &Outgoing) -> Result<Queued, SendError>;
    /// The texts the provider holds from `text.from` to `text.to` with `text.body`,
    /// created at or after `since_ms` (Unix milliseconds), newest first: how a send whose
    /// answer was lost ([`SendError::unsure`]) is found instead of sent a second time.
    async fn sent_since(&self, text: &Outgoing, since_ms: i64) -> Result<Vec<Queued>, String>;
    /// Fetches a file of an MMS (only from the provider itself), at most `max` bytes.
    async fn media(&self, url: &str, max: u64) -> Result<Vec<u8>, String>;
}

/// A webhook that does not read as the one expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WebhookError(pub String);

/// A file of an MMS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// Where the provider keeps it (fetched with the account's credentials).
    pub url: String,
    /// Its type, as the provider says.
    pub content_type: String,
}

/// A text someone sent to one of the account's numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    /// The provider's id of the message (Twilio's `SM…`/`MM…`): the same text delivered
    /// twice has it twice.
    pub sid: String,
    /// The account it came to.
    pub account_sid: String,
    /// The sender's number (E.164).
    pub from: String,
    /// The number it was sent to (one of the account's).
    pub to: String,
    /// The text (may be empty for an MMS).
    pub body: String,
    /// Its files.
    pub media: Vec<Media>,
}

/// Where a sent text is, as the provider reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// Taken by a Messaging Service, no sender chosen yet.
    Accepted,
    /// Waiting to go out.
    Queued,
    /// Going out.
    Sending,
    /// Handed to the carrier.
    Sent,
    /// The carrier could not deliver it.
    Undelivered,
    /// Never handed to a carrier.
    Failed,
    /// On the handset.
    Delivered,
    /// Read (channels with read receipts).
    Read,
}

/// A status callback: what became of a text sent through the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    /// The message (`SM…`).
    pub sid: String,
    /// The account that sent it.
    pub account_sid: String,
    /// Its status.
    pub status: Status,
    /// Why it failed (Twilio's 30003: the handset is unreachable, 30007: filtered…).
    pub error_code: Option<u32>,
}

/// A text to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// One of the account's numbers.
    pub from: String,
    /// The recipient (E.164).
    pub to: String,
    /// The text (at most [`MAX_BODY`] characters).
    pub body: String,
    /// Where the provider reports its status.
    pub status_callback: Option<String>,
}

/// What the provider answered to a send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    /// Its id (Twilio's `SM…`): status callbacks name it.
    pub sid: String,
    /// Its status (`queued`, or `accepted` with a Messaging Service).
    pub status: Status,
    /// The segments the provider counted.
    pub segments: Option<u32>,
}

/// Why a send failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct SendError {
    /// Trying again will not help.
    pub permanent: bool,
    /// The provider's error code, when it gave one.
    pub code: Option<u32>,
    /// The provider says the recipient opted out (Twilio's 21610).
    pub opted_out: bool,
    /// The fault is this server's account or number (credentials, a number it does not
    /// hold, a region it may not send to), not the recipient's: it can be put right.
    pub ours: bool,
    /// The provider may have taken the text all the same: the request went out but its
    /// answer was lost (timed out, cut off, unreadable) or was a 5xx. Before it is sent
    /// again, [`Provider::sent_since`] looks for it.
    pub unsure: bool,
    /// What went wrong, for the sender to read.
    pub detail: String,
}

impl SendError {
    /// A try that may be made again; `unsure` when the provider may have the text anyway.
    pub fn transient(detail: String, unsure: bool) -> SendError {
        SendError {
            permanent: false,
            code: None,
            opted_out: false,
            ours: false,
            unsure,
            detail,
        }
    }

    /// The recipient opted out (sent STOP): nothing more goes to them.
    pub fn opted_out(&self) -> bool {
        self.opted_out
    }
}
