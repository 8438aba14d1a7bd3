//! Messages. Every message carries the [`Channel`] it arrived through, so one thread can mix
//! chat, email and SMS; the sender is a [`Party`] (or nobody, for system messages).

use crate::account::str_enum;
use crate::{ConversationId, MessageId, Party, Timestamp, UserId};

/// The channel a message came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// Sent from a hilo client.
    Chat,
    /// Arrived or left by email.
    Email,
    /// Arrived or left by SMS.
    Sms,
    /// Sent from a website chat widget.
    Widget,
    /// Written by the server (membership changes and the like).
    System,
}
str_enum!(Channel {
    Chat = "chat",
    Email = "email",
    Sms = "sms",
    Widget = "widget",
    System = "system",
});

/// One address of a mail's To or Cc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailRecipient {
    /// `to` or `cc`.
    pub field: EmailField,
    /// The address.
    pub address: String,
    /// The name given with it.
    pub name: Option<String>,
}

/// Which header an address was in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailField {
    /// `To`.
    To,
    /// `Cc`.
    Cc,
}
str_enum!(EmailField { To = "to", Cc = "cc" });

/// A message's mail: the headers hilo keeps (Bcc never among them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailMeta {
    /// `Message-ID`, without angle brackets.
    pub message_id: String,
    /// The subject.
    pub subject: Option<String>,
    /// The `From` address.
    pub from: String,
    /// Every To and Cc address, in order.
    pub recipients: Vec<EmailRecipient>,
    /// Sender authentication, once checked: SPF, DKIM and DMARC results.
    pub auth: Option<EmailAuth>,
}

/// The results of checking a received mail's sender (RFC 8601 words: `pass`, `fail`,
/// `softfail`, `neutral`, `none`, `temperror`, `permerror`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailAuth {
    /// SPF, for the envelope sender.
    pub spf: String,
    /// DKIM, the best signature's.
    pub dkim: String,
    /// DMARC, for the `From` domain.
    pub dmarc: String,
}

/// A message's text message: the provider's id, the two numbers and what it cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsMeta {
    /// The configured provider account (`[[sms.providers]] id`).
    pub provider: String,
    /// The provider's id of the text (Twilio's `SM…`): a text delivered twice is stored once.
    pub sid: String,
    /// Received (not sent).
    pub inbound: bool,
    /// The sending number (E.164).
    pub from: String,
    /// The receiving number (E.164).
    pub to: String,
    /// How many parts it took.
    pub segments: u32,
    /// `gsm7` or `ucs2`.
    pub encoding: String,
}

/// How mailing a message to its conversation's contacts went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailDelivery {
    /// Where it stands.
    pub state: DeliveryState,
    /// Why the last try failed (the relay's answer, or the bounce), if it did.
    pub detail: Option<String>,
}

/// Where mailing a message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Waiting to be sent (or to be tried again).
    Queued,
    /// The relay took it.
    Sent,
    /// The recipient's server reported it delivered.
    Delivered,
    /// Given up on: refused, bounced, or out of tries.
    Failed,
}
str_enum!(DeliveryState {
    Queued = "queued",
    Sent = "sent",
    Delivered = "delivered",
    Failed = "failed",
});

/// Who a message is deleted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteScope {
    /// Everyone: the sender's "unsend"; a tombstone remains.
    Everyone,
    /// The caller only; the others keep it.
    Me,
}
str_enum!(DeleteScope {
    Everyone = "everyone",
    Me = "me",
});

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Identifier.
    pub id: MessageId,
    /// The conversation it belongs to.
    pub conversation_id: ConversationId,
    /// Position in the conversation: 1, 2, 3, … with no gaps.
    pub seq: i64,
    /// Who sent it; `None` for system messages.
    pub sender: Option<Party>,
    /// How it arrived.
    pub channel: Channel,
    /// Body text; `None` once deleted.
    pub text: Option<String>,
    /// The sender's idempotency key.
    pub client_txn_id: Option<String>,
    /// Last edit time.
    pub edited_at: Option<Timestamp>,
    /// Deleted for everyone (a tombstone).
    pub deleted: bool,
    /// When the server stored it.
    pub created_at: Timestamp,
    /// The message this one quotes.
    pub reply_to: Option<ReplyRef>,
    /// Member accounts mentioned with `@username`.
    pub mentions: Vec<UserId>,
    /// Reactions, in order of each emoji's first use.
    pub reactions: Vec<Reaction>,
    /// A location the sender shared.
    pub location: Option<Location>,
    /// Forwarded from another conversation.
    pub forwarded: bool,
    /// Attached files, in the order sent.
    pub attachments: Vec<crate::Attachment>,
    /// What came or went with it by email.
    pub email: Option<EmailMeta>,
    /// What came or went with it by SMS.
    pub sms: Option<SmsMeta>,
    /// For a message mailed or texted to contacts: how sending it went.
    pub delivery: Option<MailDelivery>,
    /// For the account it was read for: they block its sender, so their clients show it
    /// folded away (groups shared with someone blocked keep working). Set by the service
    /// for that reader; stores always leave it false.
    pub collapsed: bool,
}

impl Message {
    /// A new chat message from `sender` with nothing but text.
    pub fn chat(
        id: MessageId,
        conversation_id: ConversationId,
        seq: i64,
        sender: Party,
        text: Option<String>,
        created_at: Timestamp,
    ) -> Message {
        Message {
            id,
            conversation_id,
            seq,
            sender: Some(sender),
            channel: Channel::Chat,
            text,
            client_txn_id: None,
            edited_at: None,
            deleted: false,
            created_at,
            reply_to: None,
            mentions: Vec::new(),
            reactions: Vec::new(),
            location: None,
            forwarded: false,
            attachments: Vec::new(),
            email: None,
            sms: None,
            delivery: None,
            collapsed: false,
        }
    }

    /// The account that sent it, if an account did.
    pub fn sender_user(&self) -> Option<&UserId> {
        match &self.sender {
            Some(Party::User { id, .. }) => Some(id),
            _ => None,
        }
    }
}

/// What a reply shows of the message it quotes, read when the reply is rendered, so an
/// edit or a delete of the original shows in every reply to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyRef {
    /// The quoted message.
    pub id: MessageId,
    /// Its `seq`.
    pub seq: i64,
    /// Its sender (a user or contact id), if any.
    pub sender_id: Option<String>,
    /// The start of its text; `None` when it has none or was deleted.
    pub excerpt: Option<String>,
    /// The quoted message was deleted for everyone: show its tombstone.
    pub deleted: bool,
}

/// Longest reply excerpt, in characters (an ellipsis marks a cut).
pub const EXCERPT_MAX: usize = 100;

/// The excerpt a reply shows of `text`: its first [`EXCERPT_MAX`] characters, with
/// line breaks as spaces and an ellipsis when cut.
pub fn excerpt(text: &str) -> String {
    let flat: String = text
        .trim()
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    if flat.chars().count() <= EXCERPT_MAX {
        return flat;
    }
    let mut cut: String = flat.chars().take(EXCERPT_MAX - 1).collect();
    cut.push('…');
    cut
}

/// One emoji on a message and who put it there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaction {
    /// The emoji (normalised to its fully-qualified form).
    pub emoji: String,
    /// Who reacted with it, in the order they did.
    pub user_ids: Vec<UserId>,
}

/// Groups `(emoji, user)` pairs, given in the order they were made, into reactions ordered
/// by each emoji's first use.
pub fn group_reactions(pairs: impl IntoIterator<Item = (String, UserId)>) -> Vec<Reaction> {
    let mut reactions: Vec<Reaction> = Vec::new();
    for (emoji, user) in pairs {
        match reactions.iter_mut().find(|r| r.emoji == emoji) {
            Some(reaction) => reaction.user_ids.push(user),
            None => reactions.push(Reaction {
                emoji,
                user_ids: vec![user],
            }),
        }
    }
    reactions
}

/// A shared location (WGS 84 degrees).
#[derive(Debug, Clone, PartialEq)]
pub struct Location {
    /// Latitude, −90 to 90.
    pub lat: f64,
    /// Longitude, −180 to 180.
    pub lon: f64,
    /// What the sender called the place.
    pub label: Option<String>,
}

// Coordinates are validated finite numbers, so equality is total.
impl Eq for Location {}

/// A link found in a message's text. Offsets count UTF-16 code units, as JavaScript
/// strings (and so every web client) index text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkEntity {
    /// Where the link starts.
    pub offset: usize,
    /// How long it is.
    pub length: usize,
    /// The address to open: `https://` added to a bare `www.` link; `mailto:` for e-mail.
    pub url: String,
}

/// The links in `text`: web addresses (with `http`/`https` or none, like `example.org/x`)
/// and e-mail addresses. No other scheme becomes a link (`javascript:` never does).
pub fn links(text: &str) -> Vec<LinkEntity> {
    let mut finder = linkify::LinkFinder::new();
    finder.url_must_have_scheme(false);
    let mut entities = Vec::new();
    for link in finder.links(text) {
        let found = link.as_str();
        let url = match link.kind() {
            linkify::LinkKind::Email => format!("mailto:{found}"),
            linkify::LinkKind::Url => {
                let lower = found.to_ascii_lowercase();
                if lower.starts_with("http://") || lower.starts_with("https://") {
                    found.to_owned()
                } else if lower.contains("://") || lower.contains(':') && !has_port(&lower) {
                    continue;
                } else {
                    format!("https://{found}")
                }
            }
            _ => continue,
        };
        entities.push(LinkEntity {
            offset: utf16_len(&text[..link.start()]),
            length: utf16_len(found),
            url,
        });
    }
    entities
}

/// Whether a scheme-less link's first colon introduces a port (`example.org:8080/x`).
fn has_port(link: &str) -> bool {
    link.split_once(':').is_some_and(|(host, rest)| {
        host.contains('.') && rest.chars().next().is_some_and(|c| c.is_ascii_digit())
    })
}

fn utf16_len(text: &str) -> usize {
    text.chars().map(char::len_utf16).sum()
}

/// The lower-case usernames written as `@username` in `text`, each once, in order. An `@`
/// inside a word (an e-mail address) mentions nobody.
pub fn mentioned_usernames(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut previous: Option<char> = None;
    for (i, c) in text.char_indices() {
        let at_word_start = previous.is_none_or(|p| !(p.is_alphanumeric() || p == '_' || p == '.'));
        previous = Some(c);
        if c != '@' || !at_word_start {
            continue;
        }
        let rest = &text[i + 1..];
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(rest.len());
        // A sentence may end right after the name: "thanks @ana."
        let name = rest[..len].trim_end_matches('.').to_ascii_lowercase();
        if (3..=crate::validate::USERNAME_MAX).contains(&name.len()) && !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_web_and_mail_addresses_with_utf16_offsets() {
        let text = "mira 😀 https://example.org/a?b=1, www.hilo.chat y ana@example.com";
        let found = links(text);
        let urls: Vec<&str> = found.iter().map(|l| l.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "https://example.org/a?b=1",
                "https://www.hilo.chat",
                "mailto:ana@example.com"
            ]
        );
        // "mira " is 5 units and the emoji is a surrogate pair (2) plus the space.
        assert_eq!(found[0].offset, 8);
        assert_eq!(found[0].length, "https://example.org/a?b=1".len());
        assert!(links("javascript://alert(1) and ftp://example.org/x").is_empty());
        assert!(links("no links here, just a.b").is_empty());
        assert_eq!(
            links("see example.org:8080/x")[0].url,
            "https://example.org:8080/x"
        );
    }

    #[test]
    fn mentions_are_at_names_outside_words() {
        assert_eq!(
            mentioned_usernames("hi @Ana and @bob.smith, thanks @ana. mail ana@example.com @x"),
            ["ana", "bob.smith"]
        );
        assert!(mentioned_usernames("@@@ @ab").is_empty());
    }

    #[test]
    fn excerpts_are_short_single_lines() {
        assert_eq!(excerpt(" hola\nmundo "), "hola mundo");
        let long = "a".repeat(300);
        let cut = excerpt(&long);
        assert_eq!(cut.chars().count(), EXCERPT_MAX);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn reactions_group_by_first_use() {
        let u = |s: &str| UserId::new(s);
        let grouped = group_reactions([
            ("👍".to_owned(), u("a")),
            ("❤️".to_owned(), u("b")),
            ("👍".to_owned(), u("c")),
        ]);
        assert_eq!(grouped.len(), 2);
        assert_eq!(grouped[0].emoji, "👍");
        assert_eq!(grouped[0].user_ids, [u("a"), u("c")]);
        assert_eq!(grouped[1].user_ids, [u("b")]);
    }
}
