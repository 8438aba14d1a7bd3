//! hilo's SMS edge: what a text costs and how it is encoded ([`segments`]), the keywords
//! that opt a number out of (or back into) texts ([`keywords`]), and the wire format of
//! the first provider, Twilio ([`twilio`]): signed webhooks for inbound texts and delivery
//! status, and the Messages API for sending.
//!
//! Nothing here knows of conversations or storage: the service maps these shapes onto
//! threads. Another provider (an Android SMS gateway, Vonage) is one more module with the
//! same jobs ([`Provider`]): check a webhook, read it, send a text, fetch a file.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod keywords;
pub mod provider;
pub mod segments;
pub mod twilio;

pub use keywords::{Keyword, keyword};
pub use provider::Provider;
pub use segments::{Encoding, Segments, segments};
