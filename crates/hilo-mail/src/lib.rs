//! hilo's mail edge: the inbound SMTP listener (`smtp`), what a received message becomes
//! (`parse`), its sender's checks (`auth`), DKIM keys (`dkim`), and outbound mail
//! (`send`: composing and relaying). No storage and no HTTP here: the listener hands
//! accepted mail to a [`smtp::Mailbox`], which `hilo-service` implements.

pub mod auth;
pub mod dkim;
pub mod html;
pub mod parse;
pub mod send;
pub mod smtp;

pub use auth::{AuthResults, Authenticator, DnsMode, DnsRecord, RecordType};
pub use dkim::DkimKey;
pub use parse::{MailAddress, MailAttachment, ParsedMail, parse};
pub use smtp::{Envelope, Mailbox, Reply, SmtpConfig};
