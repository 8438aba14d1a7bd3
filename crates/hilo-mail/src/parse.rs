//! A received message, read by `mail-parser` into what hilo keeps of it.
//!
//! mail-parser follows Postel's law and reads nearly anything; the limits are ours: how
//! many addresses, attachments and ids are kept, and how long the text shown in a thread
//! may be (the full text is kept beside it).

use mail_parser::{Address, HeaderValue, MessageParser, MimeHeaders};

/// Most addresses kept from To and Cc together.
pub const MAX_ADDRESSES: usize = 100;
/// Most ids kept from `References` (the newest ones).
pub const MAX_REFERENCES: usize = 50;
/// Most attachments kept.
pub const MAX_ATTACHMENTS: usize = 20;
/// Longest subject kept, in characters.
pub const MAX_SUBJECT: usize = 500;
/// Longest message id kept, in bytes.
pub const MAX_ID: usize = 500;

/// A mailbox: an address and the name that came with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailAddress {
    /// The address, its domain in lower case.
    pub address: String,
    /// The display name, if one was given.
    pub name: Option<String>,
}

/// An attachment of a received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailAttachment {
    /// Its file name (or a made-up one).
    pub name: String,
    /// Its declared type, `type/subtype`.
    pub content_type: String,
    /// Its decoded bytes.
    pub bytes: Vec<u8>,
}

/// What hilo keeps of a received message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParsedMail {
    /// `Message-ID`, without angle brackets.
    pub message_id: Option<String>,
    /// `In-Reply-To` ids.
    pub in_reply_to: Vec<String>,
    /// `References` ids, oldest first.
    pub references: Vec<String>,
    /// The subject.
    pub subject: Option<String>,
    /// The first `From` mailbox.
    pub from: Option<MailAddress>,
    /// `To` mailboxes.
    pub to: Vec<MailAddress>,
    /// `Cc` mailboxes.
    pub cc: Vec<MailAddress>,
    /// `Delivered-To` addresses.
    pub delivered_to: Vec<String>,
    /// The whole plain text (the text part, or the HTML made into text).
    pub full_text: String,
    /// What the thread shows: the text without quoted history or signature.
    pub text: String,
    /// The HTML body, as received (sanitise before showing it).
    pub html: Option<String>,
    /// Attachments, in order.
    pub attachments: Vec<MailAttachment>,
    /// Sent by a program, not a person (`Auto-Submitted`, `Precedence: bulk|list|junk`,
    /// `List-Id`): never answered automatically (RFC 3834).
    pub automatic: bool,
}

/// Why a message could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    /// Nothing that looks like a message.
    #[error("not a message")]
    NotAMessage,
    /// The parser gave up on it (mail-parser has assertions that some broken MIME trips
    /// in builds that keep them; the fuzz target `mail_message` found one).
    #[error("a message the parser cannot read")]
    Unreadable,
}

/// Reads a received message. A message the MIME parser panics on is refused like any
/// unreadable one: untrusted bytes never take the session down with them.
pub fn parse(raw: &[u8]) -> Result<ParsedMail, ParseError> {
    std::panic::catch_unwind(|| parse_message(raw)).unwrap_or(Err(ParseError::Unreadable))
}

fn parse_message(raw: &[u8]) -> Result<ParsedMail, ParseError> {
    let message = MessageParser::default()
        .parse(raw)
        .ok_or(ParseError::NotAMessage)?;
    if message.headers().is_empty() {
        return Err(ParseError::NotAMessage);
    }
    let mut to = addresses(message.to());
    let mut cc = addresses(message.cc());
    to.truncate(MAX_ADDRESSES);
    cc.truncate(MAX_ADDRESSES.saturating_sub(to.len()));
    let full_text = message
        .body_text(0)
        .map(|text| normalize_newlines(&text))
        .unwrap_or_default();
    let html = message.body_html(0).and_then(|html| {
        // `body_html` makes HTML out of a text-only message; keep only real HTML.
        message
            .html_part(0)
            .filter(|part| part.is_text_html())
            .map(|_| normalize_newlines(&html))
    });
    let mut attachments = Vec::new();
    for part in message.attachments().take(MAX_ATTACHMENTS) {
        let content_type = part
            .content_type()
            .map(|ct| match ct.subtype() {
                Some(sub) => format!("{}/{}", ct.ctype(), sub),
                None => ct.ctype().to_owned(),
            })
            .unwrap_or_else(|| "application/octet-stream".to_owned())
            .to_ascii_lowercase();
        let bytes = match part.message() {
            // An attached message: its raw bytes.
            Some(inner) => inner.raw_message().to_vec(),
            None => part.contents().to_vec(),
        };
        let name = part
            .attachment_name()
            .map(one_line)
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| default_name(&content_type, attachments.len() + 1));
        attachments.push(MailAttachment {
            name,
            content_type,
            bytes,
        });
    }
    let automatic = is_automatic(&message);
    let delivered_to = message
        .header_values("Delivered-To")
        .filter_map(|value| value.as_text())
        .map(|text| text.trim().to_ascii_lowercase())
        .filter(|text| {
            !text.is_empty() && text.len() <= MAX_ID && !text.chars().any(char::is_control)
        })
        .take(MAX_ADDRESSES)
        .collect();
    let mut references = ids(message.references());
    if references.len() > MAX_REFERENCES {
        references.drain(..references.len() - MAX_REFERENCES);
    }
    Ok(ParsedMail {
        message_id: message.message_id().and_then(clean_id),
        in_reply_to: ids(message.in_reply_to()),
        references,
        subject: message
            .subject()
            .map(|s| one_line(s).chars().take(MAX_SUBJECT).collect::<String>())
            .filter(|s| !s.is_empty()),
        from: message
            .from()
            .and_then(|from| addresses(Some(from)).into_iter().next()),
        to,
        cc,
        delivered_to,
        text: trim_reply(&full_text),
        full_text,
        html,
        attachments,
        automatic,
    })
}

fn addresses(address: Option<&Address<'_>>) -> Vec<MailAddress> {
    let Some(address) = address else {
        return Vec::new();
    };
    address
        .iter()
        .filter_map(|addr| {
            let address = addr.address()?.trim();
            let (local, domain) = address.rsplit_once('@')?;
            if local.is_empty()
                || domain.is_empty()
                || address.len() > 254
                || address.chars().any(|c| c.is_control() || c.is_whitespace())
            {
                return None;
            }
            Some(MailAddress {
                address: format!("{local}@{}", domain.to_lowercase()),
                name: addr
                    .name()
                    .map(|n| one_line(n).chars().take(100).collect::<String>())
                    .filter(|n| !n.is_empty()),
            })
        })
        .collect()
}

fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(id) => clean_id(id).into_iter().collect(),
        HeaderValue::TextList(list) => list.iter().filter_map(|id| clean_id(id)).collect(),
        _ => Vec::new(),
    }
}

fn clean_id(id: &str) -> Option<String> {
    let id = id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    (!id.is_empty() && id.len() <= MAX_ID && !id.chars().any(char::is_control))
        .then(|| id.to_owned())
}

fn is_automatic(message: &mail_parser::Message<'_>) -> bool {
    let text = |name: &str| {
        message
            .header(name)
            .and_then(|value| value.as_text())
            .map(|text| text.trim().to_ascii_lowercase())
    };
    let auto_submitted = text("Auto-Submitted").is_some_and(|value| value != "no");
    let precedence =
        text("Precedence").is_some_and(|value| matches!(value.as_str(), "bulk" | "list" | "junk"));
    let list = !matches!(message.list_id(), HeaderValue::Empty);
    auto_submitted || precedence || list
}

fn default_name(content_type: &str, n: usize) -> String {
    let extension = match content_type {
        "message/rfc822" => "eml",
        "text/plain" => "txt",
        "text/html" => "html",
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "application/pdf" => "pdf",
        _ => "bin",
    };
    format!("attachment-{n}.{extension}")
}

/// Text as hilo keeps it: `\n` line ends, and no NUL or other control character but tab
/// and newline (PostgreSQL cannot store NUL, and none of them shows).
fn normalize_newlines(text: &str) -> String {
    text.replace("\r\n", "\n")
        .replace('\r', "\n")
        .chars()
        .filter(|&c| c == '\n' || c == '\t' || !c.is_control())
        .collect()
}

/// A one-line value (a subject, a name): control characters become spaces. (Outbound,
/// lettre refuses, by panicking, a name that holds a line break.)
pub(crate) fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

/// The new part of a reply: the text before the quoted history ("On … wrote:" and the `>`
/// lines under it, or an Outlook-style "Original Message" block) and before a signature
/// (`-- `). Text that is nothing but a quote is kept whole.
pub fn trim_reply(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut end = lines.len();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        if *line == "-- " || *line == "--" {
            end = i;
            break;
        }
        if is_original_message_marker(trimmed) {
            end = i;
            break;
        }
        if trimmed.starts_with('>') {
            // Quoted history: the block, and its attribution line just above.
            end = i;
            let mut above = i;
            while above > 0 && lines[above - 1].trim().is_empty() {
                above -= 1;
            }
            // Attribution lines are often wrapped in two.
            let wrapped = above > 1
                && starts_attribution(lines[above - 2])
                && is_attribution(&format!("{} {}", lines[above - 2], lines[above - 1]));
            if wrapped {
                end = above - 2;
            } else if above > 0 && is_attribution(lines[above - 1]) {
                end = above - 1;
            }
            // A reply written below the quote (bottom-posting) keeps everything.
            let after_quote = lines[i..]
                .iter()
                .skip_while(|l| l.trim().starts_with('>') || l.trim().is_empty())
                .any(|l| !l.trim().is_empty() && !l.trim().starts_with('>'));
            if after_quote {
                end = lines.len();
            }
            break;
        }
    }
    let kept = lines[..end].join("\n");
    let kept = kept.trim();
    if kept.is_empty() {
        text.trim().to_owned()
    } else {
        kept.to_owned()
    }
}

fn starts_attribution(line: &str) -> bool {
    let lower = line.trim().to_lowercase();
    lower.starts_with("on ") || lower.starts_with("el ")
}

fn is_attribution(line: &str) -> bool {
    let line = line.trim();
    let lower = line.to_lowercase();
    line.ends_with(':')
        && ((lower.starts_with("on ") && lower.contains("wrote"))
            || (lower.starts_with("el ") && lower.contains("escribió"))
            || lower.contains("wrote:")
            || lower.contains("escribió:"))
}

fn is_original_message_marker(line: &str) -> bool {
    let lower = line.to_lowercase();
    let lower = lower.trim_matches(|c: char| c == '-' || c.is_whitespace());
    matches!(
        lower,
        "original message" | "mensaje original" | "forwarded message" | "mensaje reenviado"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_loses_its_quote_and_signature_but_keeps_them_in_the_full_text() {
        let raw = b"From: Ana <ana@Example.ORG>\r\nTo: bob@localhost\r\nSubject: Re: lunch\r\nMessage-ID: <a1@example.org>\r\nIn-Reply-To: <b1@localhost>\r\nReferences: <b0@localhost> <b1@localhost>\r\n\r\nYes, at one.\r\n\r\nOn Mon, 7 Dec 2026 at 10:00, Bob <bob@localhost> wrote:\r\n> Lunch tomorrow?\r\n> \r\n";
        let mail = parse(raw).expect("parse");
        assert_eq!(mail.text, "Yes, at one.");
        assert!(mail.full_text.contains("> Lunch tomorrow?"));
        assert_eq!(mail.message_id.as_deref(), Some("a1@example.org"));
        assert_eq!(mail.in_reply_to, vec!["b1@localhost"]);
        assert_eq!(mail.references, vec!["b0@localhost", "b1@localhost"]);
        assert_eq!(
            mail.from,
            Some(MailAddress {
                address: "ana@example.org".into(),
                name: Some("Ana".into())
            })
        );
        assert!(!mail.automatic);
    }

    #[test]
    fn spanish_attributions_signatures_and_outlook_blocks_are_trimmed() {
        assert_eq!(
            trim_reply(
                "Vale.\n\nEl lun, 7 dic 2026 a las 10:00, Bob\n<bob@x> escribió:\n> ¿Comemos?"
            ),
            "Vale."
        );
        assert_eq!(trim_reply("Hi\n-- \nAna\nCEO"), "Hi");
        assert_eq!(
            trim_reply("Sure\n\n-----Original Message-----\nFrom: Bob\nhello"),
            "Sure"
        );
        // Bottom-posting keeps the whole text; a bare quote is not emptied.
        assert_eq!(trim_reply("> q\nanswer"), "> q\nanswer");
        assert_eq!(trim_reply("> only a quote"), "> only a quote");
    }

    #[test]
    fn automatic_mail_is_recognised() {
        for header in [
            "Auto-Submitted: auto-replied",
            "Precedence: bulk",
            "List-Id: <news.example.org>",
        ] {
            let raw = format!("From: a@b.c\r\n{header}\r\nSubject: x\r\n\r\nbody\r\n");
            assert!(parse(raw.as_bytes()).expect("parse").automatic, "{header}");
        }
        let raw = b"From: a@b.c\r\nAuto-Submitted: no\r\n\r\nbody\r\n";
        assert!(!parse(raw).expect("parse").automatic);
    }
}
