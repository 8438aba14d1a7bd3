//! Messages: the message object with its replies, mentions, reactions, location and link
//! entities, and the requests that send and change messages.

use hilo_core::{EmailField, EmailMeta, LinkEntity, Location, Message, Reaction, ReplyRef};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{PartyDto, rfc3339};

/// A message.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MessageDto {
    /// Message id.
    pub id: String,
    /// Its conversation.
    pub conversation_id: String,
    /// Position in the conversation: 1, 2, 3, … with no gaps.
    #[schema(minimum = 1)]
    pub seq: i64,
    /// Who sent it; null for system messages.
    pub sender: Option<PartyDto>,
    /// `chat`, `email`, `sms`, `widget` or `system`.
    #[schema(value_type = crate::vocab::Channel)]
    pub channel: String,
    /// Text; null once deleted, and for a message that carries only a location.
    pub text: Option<String>,
    /// The sender's idempotency key (shown to everyone; it carries no secret).
    pub client_txn_id: Option<String>,
    /// Attached files.
    pub attachments: Vec<AttachmentDto>,
    /// The quoted message.
    pub reply_to: Option<ReplyDto>,
    /// Mentioned account ids.
    pub mentions: Vec<String>,
    /// Reactions, in order of each emoji's first use.
    pub reactions: Vec<ReactionDto>,
    /// A shared location.
    pub location: Option<LocationDto>,
    /// Links found in the text (the server never fetches them).
    pub entities: Vec<EntityDto>,
    /// Forwarded from another conversation.
    pub forwarded: bool,
    /// Last edit time.
    #[schema(format = DateTime)]
    pub edited_at: Option<String>,
    /// Deleted for everyone: a tombstone with no text, attachments, location or reactions.
    pub deleted: bool,
    /// When the server stored it.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// The caller blocks its sender: show it folded away (in a group they still share).
    #[serde(default)]
    pub collapsed: bool,
    /// For a message that came by email: the mail's subject, id, sender, recipients and
    /// the checks of its sender. Null otherwise.
    #[serde(default)]
    pub email: Option<EmailDto>,
    /// For a message that came or went by SMS: the numbers and what it cost. Null
    /// otherwise.
    #[serde(default)]
    pub sms: Option<SmsDto>,
    /// For a message sent to email or phone contacts: how mailing or texting it went.
    /// Null otherwise.
    #[serde(default)]
    pub delivery: Option<DeliveryDto>,
}

/// The text a message came or went as.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SmsDto {
    /// The sending number (E.164).
    pub from: String,
    /// The receiving number (E.164).
    pub to: String,
    /// How many parts it took (each billed as one text).
    pub segments: u32,
    /// `gsm7` (160 characters a part, 153 when split) or `ucs2` (70, 67: any character
    /// outside the GSM alphabet, such as `á` or an emoji, makes the whole text UCS-2).
    pub encoding: String,
}

/// How mailing a message went.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeliveryDto {
    /// `queued`, `sent`, `delivered` or `failed`.
    #[schema(value_type = crate::vocab::DeliveryState)]
    pub state: String,
    /// Why the last try failed, if it did (the relay's answer, or the bounce).
    pub detail: Option<String>,
}

/// The mail a message came with.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EmailDto {
    /// The subject.
    pub subject: Option<String>,
    /// Its `Message-ID`, without angle brackets.
    pub message_id: String,
    /// The `From` address.
    pub from: String,
    /// The `To` addresses.
    pub to: Vec<EmailAddressDto>,
    /// The `Cc` addresses (a Bcc is never shown).
    pub cc: Vec<EmailAddressDto>,
    /// SPF, DKIM and DMARC results for a received mail; null until checked.
    pub auth: Option<EmailAuthDto>,
}

/// `GET /api/v1/messages/{id}/original`: a message as it came ("view original").
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OriginalDto {
    /// For a mail, its whole text (quoted history and signature included); otherwise the
    /// message's text. Null for a message deleted for everyone.
    pub text: Option<String>,
    /// A mail's HTML made safe to show (no script, style, form or event handler; no
    /// picture from elsewhere); null when it had none.
    pub html: Option<String>,
    /// The mail's headers as kept; null for a message that was no mail.
    pub email: Option<EmailDto>,
}

/// An address of a mail, with the name given with it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EmailAddressDto {
    /// The address.
    pub address: String,
    /// The name, if one was given.
    pub name: Option<String>,
}

/// Sender authentication results (RFC 8601 words: `pass`, `fail`, `softfail`, `neutral`,
/// `none`, `temperror`, `permerror`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EmailAuthDto {
    /// SPF for the envelope sender.
    pub spf: String,
    /// DKIM.
    pub dkim: String,
    /// DMARC for the `From` domain.
    pub dmarc: String,
}

impl From<&EmailMeta> for EmailDto {
    fn from(email: &EmailMeta) -> Self {
        let field = |which: EmailField| {
            email
                .recipients
                .iter()
                .filter(|r| r.field == which)
                .map(|r| EmailAddressDto {
                    address: r.address.clone(),
                    name: r.name.clone(),
                })
                .collect()
        };
        EmailDto {
            subject: email.subject.clone(),
            message_id: email.message_id.clone(),
            from: email.from.clone(),
            to: field(EmailField::To),
            cc: field(EmailField::Cc),
            auth: email.auth.as_ref().map(|auth| EmailAuthDto {
                spf: auth.spf.clone(),
                dkim: auth.dkim.clone(),
                dmarc: auth.dmarc.clone(),
            }),
        }
    }
}

/// An uploaded file.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AttachmentDto {
    /// Attachment id (what `attachment_ids` takes).
    pub id: String,
    /// The file name given at upload.
    pub name: String,
    /// The type sniffed from the bytes.
    pub content_type: String,
    /// Size in bytes.
    #[schema(minimum = 1)]
    pub size: i64,
    /// Where to download it (with the bearer token; `Range` requests work).
    pub url: String,
    /// A JPEG of at most 320×320 pixels, for pictures.
    pub thumbnail_url: Option<String>,
    /// Pixel width, for pictures.
    pub width: Option<i64>,
    /// Pixel height, for pictures.
    pub height: Option<i64>,
}

impl From<&hilo_core::Attachment> for AttachmentDto {
    fn from(a: &hilo_core::Attachment) -> Self {
        AttachmentDto {
            id: a.id.to_string(),
            name: a.name.clone(),
            content_type: a.content_type.clone(),
            size: a.size,
            url: format!("/api/v1/attachments/{}", a.id),
            thumbnail_url: a
                .has_thumbnail
                .then(|| format!("/api/v1/attachments/{}/thumbnail", a.id)),
            width: a.width,
            height: a.height,
        }
    }
}

/// `POST /api/v1/attachments`: a multipart/form-data body whose one part `file` holds the
/// bytes (its file name is kept; its declared type is ignored).
#[derive(Debug, Clone, ToSchema)]
pub struct UploadForm {
    /// The file.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
}

/// What a reply shows of the message it quotes, as that message is now.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReplyDto {
    /// The quoted message.
    pub id: String,
    /// Its `seq`.
    #[schema(minimum = 1)]
    pub seq: i64,
    /// Its sender's id.
    pub sender_id: Option<String>,
    /// The start of its text (at most 100 characters); null once it was deleted.
    pub excerpt: Option<String>,
    /// The quoted message was deleted for everyone: show a tombstone.
    pub deleted: bool,
}

/// One emoji on a message.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReactionDto {
    /// The emoji.
    pub emoji: String,
    /// How many people reacted with it.
    #[schema(minimum = 1)]
    pub count: i64,
    /// Who, in the order they reacted.
    pub user_ids: Vec<String>,
}

/// A shared location (WGS 84 degrees).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LocationDto {
    /// Latitude.
    #[schema(minimum = -90, maximum = 90)]
    pub lat: f64,
    /// Longitude.
    #[schema(minimum = -180, maximum = 180)]
    pub lon: f64,
    /// What the sender called the place.
    #[schema(min_length = 1, max_length = 200)]
    pub label: Option<String>,
}

/// A link in a message's text. `offset` and `length` count UTF-16 code units, as
/// JavaScript strings index text.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EntityDto {
    /// Always `link`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Where it starts in the text.
    #[schema(minimum = 0)]
    pub offset: usize,
    /// How long it is.
    #[schema(minimum = 1)]
    pub length: usize,
    /// What it opens (`https://…` or `mailto:…`).
    pub url: String,
}

impl From<&ReplyRef> for ReplyDto {
    fn from(reply: &ReplyRef) -> Self {
        ReplyDto {
            id: reply.id.to_string(),
            seq: reply.seq,
            sender_id: reply.sender_id.clone(),
            excerpt: reply.excerpt.clone(),
            deleted: reply.deleted,
        }
    }
}

impl From<&Reaction> for ReactionDto {
    fn from(reaction: &Reaction) -> Self {
        ReactionDto {
            emoji: reaction.emoji.clone(),
            count: reaction.user_ids.len() as i64,
            user_ids: reaction.user_ids.iter().map(ToString::to_string).collect(),
        }
    }
}

impl From<&Location> for LocationDto {
    fn from(location: &Location) -> Self {
        LocationDto {
            lat: location.lat,
            lon: location.lon,
            label: location.label.clone(),
        }
    }
}

impl From<LinkEntity> for EntityDto {
    fn from(link: LinkEntity) -> Self {
        EntityDto {
            kind: "link".to_owned(),
            offset: link.offset,
            length: link.length,
            url: link.url,
        }
    }
}

impl From<&Message> for MessageDto {
    fn from(message: &Message) -> Self {
        MessageDto {
            id: message.id.to_string(),
            conversation_id: message.conversation_id.to_string(),
            seq: message.seq,
            sender: message.sender.as_ref().map(PartyDto::from),
            channel: message.channel.as_str().to_owned(),
            text: message.text.clone(),
            client_txn_id: message.client_txn_id.clone(),
            attachments: message
                .attachments
                .iter()
                .map(AttachmentDto::from)
                .collect(),
            reply_to: message.reply_to.as_ref().map(ReplyDto::from),
            mentions: message.mentions.iter().map(ToString::to_string).collect(),
            reactions: message.reactions.iter().map(ReactionDto::from).collect(),
            location: message.location.as_ref().map(LocationDto::from),
            entities: message
                .text
                .as_deref()
                .map(hilo_core::message::links)
                .unwrap_or_default()
                .into_iter()
                .map(EntityDto::from)
                .collect(),
            forwarded: message.forwarded,
            edited_at: message.edited_at.map(rfc3339),
            deleted: message.deleted,
            created_at: rfc3339(message.created_at),
            collapsed: message.collapsed,
            email: message.email.as_ref().map(EmailDto::from),
            sms: message.sms.as_ref().map(|sms| SmsDto {
                from: sms.from.clone(),
                to: sms.to.clone(),
                segments: sms.segments,
                encoding: sms.encoding.clone(),
            }),
            delivery: message.delivery.as_ref().map(|d| DeliveryDto {
                state: d.state.as_str().to_owned(),
                detail: d.detail.clone(),
            }),
        }
    }
}

/// `POST /api/v1/conversations/{id}/messages`: text, a location, or both.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SendMessageRequest {
    /// 1–64 characters, unique per sender and conversation; repeating it returns the
    /// original message instead of sending a second copy.
    #[schema(min_length = 1, max_length = 64)]
    pub client_txn_id: String,
    /// 1–10,000 characters; `@username` mentions that member. Required unless a location
    /// is sent.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 10000)]
    pub text: Option<String>,
    /// The id of a message of the same conversation to quote.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 64)]
    pub reply_to: Option<String>,
    /// A location, shared only when the sender sends one.
    #[serde(default, deserialize_with = "crate::optional_object")]
    pub location: Option<LocationRequest>,
    /// Up to 10 ids of the sender's uploads (`POST /api/v1/attachments`) to carry.
    #[serde(default)]
    #[schema(max_items = 10)]
    pub attachment_ids: Option<Vec<String>>,
}

/// A location to share.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LocationRequest {
    /// Latitude, −90 to 90.
    #[schema(minimum = -90, maximum = 90)]
    pub lat: f64,
    /// Longitude, −180 to 180.
    #[schema(minimum = -180, maximum = 180)]
    pub lon: f64,
    /// 1–200 characters, one line.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 200)]
    pub label: Option<String>,
}

/// `PATCH /api/v1/messages/{id}` (the sender only).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EditMessageRequest {
    /// The new text, 1–10,000 characters.
    #[schema(min_length = 1, max_length = 10000)]
    pub text: String,
}

/// `POST /api/v1/messages/{id}/forward`: copies a message into another conversation the
/// caller is in, marked as forwarded.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ForwardMessageRequest {
    /// The conversation to forward to.
    #[schema(min_length = 1, max_length = 64)]
    pub conversation_id: String,
    /// The idempotency key of the new message (as for a send).
    #[schema(min_length = 1, max_length = 64)]
    pub client_txn_id: String,
}

/// A text a message had before an edit.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MessageVersionDto {
    /// The text.
    pub text: String,
    /// When an edit replaced it.
    #[schema(format = DateTime)]
    pub replaced_at: String,
}

/// `GET /api/v1/messages/{id}/versions`: the earlier texts, oldest first (the sender only).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MessageVersionsResponse {
    /// Oldest first; the current text is the message's own.
    pub versions: Vec<MessageVersionDto>,
}

/// `GET /api/v1/conversations/{id}/messages`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MessagesResponse {
    /// Ascending `seq`.
    pub messages: Vec<MessageDto>,
    /// More messages exist beyond this page in the direction read.
    pub has_more: bool,
}

/// One hit of `GET /api/v1/search/messages`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SearchResultDto {
    /// The message, as the caller reads it.
    pub message: MessageDto,
    /// The text around the first match (with `…` where it was cut), HTML-escaped, each
    /// matching word wrapped in `<mark>` and `</mark>`.
    pub highlight: String,
}

/// `GET /api/v1/search/messages`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SearchResponse {
    /// Most relevant first, then most recent.
    pub results: Vec<SearchResultDto>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}
