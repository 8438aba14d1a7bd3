//! Outbound mail: a message composed with `lettre`'s builder (which encodes every header,
//! so a name or subject cannot inject one), DKIM-signed when a key is configured, and
//! handed to the configured relay over SMTP.

use std::time::Duration;

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::{AsyncTransport, Tokio1Executor};

use crate::DkimKey;
use crate::parse::one_line;

/// A file sent with a mail.
#[derive(Debug, Clone)]
pub struct OutgoingFile {
    /// Its name.
    pub name: String,
    /// Its type.
    pub content_type: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// A mail to compose.
#[derive(Debug, Clone)]
pub struct OutgoingMail {
    /// The sender's name.
    pub from_name: String,
    /// The sender's address (`username@<mail domain>`).
    pub from_address: String,
    /// Where replies go, if not From: an address and its name (the sender's when `None`).
    pub reply_to: Option<(String, Option<String>)>,
    /// The recipients, with their names.
    pub to: Vec<(String, Option<String>)>,
    /// The subject.
    pub subject: String,
    /// Its `Message-ID`, without angle brackets.
    pub message_id: String,
    /// The mail it answers, without angle brackets.
    pub in_reply_to: Option<String>,
    /// The thread's ids, oldest first, without angle brackets.
    pub references: Vec<String>,
    /// The text.
    pub text: String,
    /// Attached files.
    pub files: Vec<OutgoingFile>,
    /// `no` (a person wrote it) or `auto-generated`.
    pub auto_submitted: &'static str,
    /// For a group's mail: the list headers (RFC 2919, RFC 2369).
    pub list: Option<MailList>,
}

/// What marks a mail as a list's (a group's): `List-Id`, `Precedence: list` and
/// `List-Unsubscribe`. Mail that carries them is never answered automatically, and a
/// server that relays lists (hilo among them) does not relay it again, so two groups that
/// hold each other's addresses cannot pass one mail back and forth.
#[derive(Debug, Clone)]
pub struct MailList {
    /// The list's id (a domain-like name, RFC 2919), `g-<conversation id>.<mail domain>`.
    pub id: String,
    /// The address that takes the recipient out (written as a `mailto:` URL).
    pub unsubscribe: String,
}

/// Why a mail could not be composed or sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct SendError {
    /// Trying again will not help (a 5xx answer, an address that cannot be written).
    pub permanent: bool,
    /// What went wrong, for the sender to read.
    pub detail: String,
}

impl SendError {
    fn permanent(detail: impl Into<String>) -> Self {
        SendError {
            permanent: true,
            detail: detail.into(),
        }
    }
}

fn mailbox(name: Option<&str>, address: &str) -> Result<Mailbox, SendError> {
    let address = address
        .parse()
        .map_err(|_| SendError::permanent(format!("{address} is not a mail address")))?;
    Ok(Mailbox::new(
        name.map(one_line).filter(|n| !n.is_empty()),
        address,
    ))
}

/// The mail's bytes (CRLF line ends), signed by `dkim` when given.
pub fn compose(mail: &OutgoingMail, dkim: Option<&DkimKey>) -> Result<Vec<u8>, SendError> {
    let mut builder = lettre::Message::builder()
        .from(mailbox(Some(&mail.from_name), &mail.from_address)?)
        .subject(one_line(&mail.subject))
        .message_id(Some(format!("<{}>", mail.message_id)))
        .header(AutoSubmitted(mail.auto_submitted));
    if let Some((address, name)) = &mail.reply_to {
        let name = name.as_deref().unwrap_or(&mail.from_name);
        builder = builder.reply_to(mailbox(Some(name), address)?);
    }
    if let Some(list) = &mail.list {
        // Names hilo made (its own domain, a conversation id): checked, nothing to encode.
        let address: lettre::Address = list.unsubscribe.parse().map_err(|_| {
            SendError::permanent(format!("{} is not a mail address", list.unsubscribe))
        })?;
        let id_ok = !list.id.is_empty()
            && list.id.len() <= 255
            && list
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if !id_ok {
            return Err(SendError::permanent(format!(
                "{} is not a list id",
                list.id
            )));
        }
        builder = builder
            .header(ListId(format!("<{}>", list.id)))
            .header(Precedence("list".to_owned()))
            .header(ListUnsubscribe(format!("<mailto:{address}>")));
    }
    for (address, name) in &mail.to {
        builder = builder.to(mailbox(name.as_deref(), address)?);
    }
    if let Some(parent) = &mail.in_reply_to {
        builder = builder.in_reply_to(format!("<{parent}>"));
    }
    if !mail.references.is_empty() {
        let references: Vec<String> = mail.references.iter().map(|id| format!("<{id}>")).collect();
        builder = builder.references(references.join(" "));
    }
    let text = SinglePart::builder()
        .header(ContentType::TEXT_PLAIN)
        .body(mail.text.clone());
    let message = if mail.files.is_empty() {
        builder.singlepart(text)
    } else {
        let mut parts = MultiPart::mixed().singlepart(text);
        for file in &mail.files {
            let content_type = ContentType::parse(&file.content_type).unwrap_or_else(|_| {
                ContentType::parse("application/octet-stream").expect("a valid type")
            });
            parts = parts.singlepart(
                Attachment::new(file.name.clone()).body(file.bytes.clone(), content_type),
            );
        }
        builder.multipart(parts)
    }
    .map_err(|e| SendError::permanent(format!("cannot compose the mail: {e}")))?;
    let mut bytes = message.formatted();
    if let Some(key) = dkim {
        let signature = key
            .sign(&bytes)
            .map_err(|e| SendError::permanent(e.to_string()))?;
        let mut signed = signature.into_bytes();
        signed.append(&mut bytes);
        bytes = signed;
    }
    Ok(bytes)
}

/// `Auto-Submitted` (RFC 3834): `no` for what a person wrote, `auto-generated` for what
/// the server writes by itself (a digest), which other systems must not answer.
#[derive(Debug, Clone)]
pub struct AutoSubmitted(pub &'static str);

impl lettre::message::header::Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted(if s.trim() == "no" {
            "no"
        } else {
            "auto-generated"
        }))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.to_owned())
    }
}

/// Headers whose value hilo writes whole (checked before, nothing to encode).
macro_rules! plain_header {
    ($(#[$doc:meta])* $name:ident, $header:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        struct $name(String);

        impl lettre::message::header::Header for $name {
            fn name() -> HeaderName {
                HeaderName::new_from_ascii_str($header)
            }

            fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
                Ok($name(s.trim().to_owned()))
            }

            fn display(&self) -> HeaderValue {
                HeaderValue::new(Self::name(), self.0.clone())
            }
        }
    };
}

plain_header!(
    /// `List-Id` (RFC 2919).
    ListId,
    "List-Id"
);
plain_header!(
    /// `Precedence: list`.
    Precedence,
    "Precedence"
);
plain_header!(
    /// `List-Unsubscribe` (RFC 2369).
    ListUnsubscribe,
    "List-Unsubscribe"
);

/// The relay outbound mail goes through.
pub struct Relay {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl Relay {
    /// A relay from a URL: `smtp://[user:pass@]host:port` (plain; `?tls=opportunistic`
    /// or `?tls=required` for STARTTLS), or `smtps://…` (TLS from the start).
    pub fn new(url: &str) -> Result<Relay, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| format!("smtp_relay: {e}"))?
            .timeout(Some(Duration::from_secs(60)))
            .build();
        Ok(Relay { transport })
    }

    /// Sends `bytes` from `envelope_from` (the bounce address) to `to`.
    pub async fn send(
        &self,
        envelope_from: &str,
        to: &[String],
        bytes: &[u8],
    ) -> Result<(), SendError> {
        let from = envelope_from
            .parse()
            .map_err(|_| SendError::permanent(format!("{envelope_from} is not a mail address")))?;
        let to = to
            .iter()
            .map(|address| {
                address
                    .parse()
                    .map_err(|_| SendError::permanent(format!("{address} is not a mail address")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let envelope = lettre::address::Envelope::new(Some(from), to)
            .map_err(|e| SendError::permanent(e.to_string()))?;
        match self.transport.send_raw(&envelope, bytes).await {
            Ok(_) => Ok(()),
            Err(error) => Err(SendError {
                permanent: error.is_permanent(),
                detail: error.to_string(),
            }),
        }
    }
}
