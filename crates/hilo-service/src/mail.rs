//! Mail intake: what the SMTP listener accepted, put into threads.
//!
//! Every account has the address `username@<mail domain>` (and `username+tag@…`, which
//! reaches the same person). A mail from someone who is not an account is a message from
//! a *contact* (known by address) in the direct conversation between the addressee and
//! that contact: opened as a message request the first time, judged by the spam filter,
//! and the same conversation for every later mail from that address, whatever its
//! subject or references. Two senders replying to one mail thus land in two threads.
//! The exception is a group the contact was added to: mail to the group's address
//! (`g-<conversation id>@…`), or an answer to the group's mail whose tag or references
//! name it, is the contact's message in the group, mailed on to its other contacts.
//!
//! Mail that claims to come from this server's own domain is refused: the accounts of
//! this domain write through hilo itself, never through the SMTP door.
//!
//! Every mail's sender is checked (SPF, DKIM, DMARC; `hilo_mail::auth`) and the results
//! are kept on the message. A mail whose DMARC check fails cannot be believed about its
//! From: it is refused, or (by default) kept but filed as spam when it opens a request.

use std::sync::Arc;

use hilo_core::{
    ContactId, ConversationId, EmailAuth, EmailField, EmailMeta, EmailRecipient, EventKind,
    MessageId, User,
};
use hilo_mail::{AuthResults, Authenticator, Envelope, MailAddress, ParsedMail, Reply};
use hilo_store::{AppendOutcome, NewReceived, ReceivedEmail, ReceivedVia};
use sha2::{Digest, Sha256};

use crate::{Error, Hilo};

/// Longest text a mail shows in a thread (the whole text is kept beside it).
const MAX_SHOWN: usize = 10_000;
/// Mails one sender address may send here per hour.
pub const MAILS_PER_SENDER_HOUR: u32 = 200;
/// Mails one client address may send here per hour.
pub const MAILS_PER_CLIENT_HOUR: u32 = 2_000;
/// Messages one email contact may post into groups per hour (each is mailed on to the
/// group's other contacts).
pub const GROUP_POSTS_PER_HOUR: u32 = 60;

/// The service's side of the SMTP listener (`hilo_mail::Mailbox`).
#[derive(Clone)]
pub struct MailIntake {
    hilo: Hilo,
    checks: Arc<Authenticator>,
    dmarc_reject: bool,
}

impl Hilo {
    /// What the SMTP listener hands accepted mail to: senders are checked by `checks`,
    /// and a DMARC failure is refused if `dmarc_reject`, filed as spam otherwise.
    pub fn mail_intake(&self, checks: Arc<Authenticator>, dmarc_reject: bool) -> MailIntake {
        MailIntake {
            hilo: self.clone(),
            checks,
            dmarc_reject,
        }
    }

    /// The account an address of this server's domain reaches: `username@domain`, or
    /// `username+anything@domain`. `None` for another domain or no such account (a
    /// suspended or deleted one included).
    async fn addressee(&self, address: &str) -> crate::Result<Option<User>> {
        let Some(username) = self.local_username(address) else {
            return Ok(None);
        };
        if username.is_empty() || username.len() > 64 {
            return Ok(None);
        }
        Ok(self
            .inner
            .store
            .user_by_username(&username)
            .await?
            .filter(|user| !user.suspended))
    }

    /// The message a bounce address names: `bounces+<message id>@<mail domain>`, the
    /// envelope sender of every mail hilo sends (so what comes back says what bounced).
    fn bounced_message(&self, address: &str) -> Option<MessageId> {
        let (local, domain) = address.rsplit_once('@')?;
        let id = local.strip_prefix("bounces+")?;
        let plausible = domain.eq_ignore_ascii_case(&self.inner.config.mail_domain)
            && (1..=64).contains(&id.len())
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        plausible.then(|| MessageId::new(id.to_ascii_lowercase()))
    }

    /// A bounce (a delivery status notification) for a mail hilo sent: the message is
    /// marked failed with the reason; nothing else is stored, nobody is notified by mail.
    async fn bounced(&self, message: &MessageId, mail: &ParsedMail) -> crate::Result<()> {
        let now = self.inner.clock.now();
        let deliveries = self
            .inner
            .store
            .finish_mail(
                message,
                hilo_store::MailOutcome {
                    state: hilo_core::DeliveryState::Failed,
                    detail: Some(bounce_reason(mail)),
                    next_attempt_at: now,
                    sent: None,
                    unsure: false,
                    lease: None,
                    now,
                },
            )
            .await?;
        self.publish_message_update(message, &deliveries).await;
        Ok(())
    }

    /// The username an address of this server's domain names (`username[+tag]@domain`,
    /// lower-cased); `None` for another domain.
    pub(crate) fn local_username(&self, address: &str) -> Option<String> {
        let (local, domain) = address.rsplit_once('@')?;
        domain
            .eq_ignore_ascii_case(&self.inner.config.mail_domain)
            .then(|| {
                local
                    .split('+')
                    .next()
                    .unwrap_or_default()
                    .to_ascii_lowercase()
            })
    }

    fn is_local_domain(&self, address: &str) -> bool {
        self.local_username(address).is_some()
    }

    /// Stores `mail` for `user`, who receives it: as a message of the account that
    /// verified the sender's address when the sender's domain vouches for the mail
    /// (DMARC `pass`), otherwise as a contact's. Mail from an address or account `user`
    /// blocks is dropped (only the block's counter moves). True if something was stored.
    async fn receive_for(
        &self,
        user: &User,
        rcpt: &str,
        incoming: &Incoming<'_>,
    ) -> crate::Result<Received> {
        let Incoming {
            sender,
            mail,
            checked,
            ..
        } = *incoming;
        let store = &self.inner.store;
        let address = sender.address.to_lowercase();
        // A blocked address stays blocked whoever verified it.
        if store.drop_if_blocked(&user.id, &address).await? {
            return Ok(Received::Dropped);
        }
        if let Some(owner) = self.mail_account(&address, checked, rcpt, mail).await? {
            // A reply naming one of the owner's conversations (that the addressee is in
            // too) goes there: a digest's reply, a reply in a group.
            if let Some(conversation) = self
                .named_conversation(&owner, Some(user), rcpt, mail)
                .await?
            {
                return self
                    .post_mail(&owner, &conversation, &address, incoming)
                    .await;
            }
            if owner.id != user.id {
                return self
                    .receive_from_account(&owner, user, &address, incoming)
                    .await;
            }
        }
        // A contact answering a group's mail (its tag or references name the group, and
        // both are in it) answers the group, when it may speak there (see
        // `may_post_to_group`) and names the address it was delivered to (no replay of a
        // mail written to someone else). Otherwise it is a mail to this addressee.
        if names(mail, rcpt)
            && let Some(group) = self.contact_group(&address, user, rcpt, mail).await?
            && self.may_post_to_group(&address, mail, checked).await?
        {
            return self
                .store_contact_mail(&user.id, Some(group), incoming)
                .await;
        }
        self.store_contact_mail(&user.id, None, incoming).await
    }

    /// Stores a contact's mail: in the direct conversation between the contact and
    /// `recipient` (opened as a request the first time, judged by the spam filter), or in
    /// `group` when the contact is one of its members (mailed on to the group's other
    /// contacts). `recipient` is the uploader of record of its files.
    async fn store_contact_mail(
        &self,
        recipient: &hilo_core::UserId,
        group: Option<ConversationId>,
        incoming: &Incoming<'_>,
    ) -> crate::Result<Received> {
        let Incoming {
            sender,
            mail,
            message_id,
            checked,
        } = *incoming;
        let address = sender.address.to_lowercase();
        let attachments = self.received_files(recipient, mail).await?;
        let text = shown_text(mail);
        // A group's members put the contact there: no request, no spam judgement.
        let spam =
            group.is_none() && (checked.dmarc_failed() || self.mail_judged_spam(&text).await?);
        let ids = &self.inner.ids;
        let new = NewReceived {
            id: MessageId::new(ids.new_id()),
            new_conversation_id: ConversationId::new(ids.new_id()),
            new_contact_id: ContactId::new(ids.new_id()),
            recipient: recipient.clone(),
            group,
            address: address.clone(),
            // A contact is shared by everyone it writes to: a mail whose From cannot be
            // believed does not get to name it.
            display_name: sender
                .name
                .clone()
                .filter(|_| !checked.dmarc_failed())
                .unwrap_or_else(|| sender.address.to_lowercase()),
            text,
            spam,
            via: ReceivedVia::Email(ReceivedEmail {
                meta: email_meta(mail, &address, message_id, checked),
                full_text: mail.full_text.clone(),
                html: mail.html.clone(),
            }),
            attachments,
            now: self.inner.clock.now(),
        };
        let hilo = self.clone();
        self.detached(async move {
            let (outcome, opened) = match hilo.inner.store.append_received(new).await {
                Ok(stored) => stored,
                // No longer a member of the group (removed a moment ago).
                Err(hilo_store::StoreError::NotFound) => return Ok(Received::Refused),
                Err(error) => return Err(error.into()),
            };
            let AppendOutcome::Created(message, deliveries, moved) = &outcome else {
                return Ok(Received::Repeated);
            };
            let kind = if opened {
                EventKind::ConversationCreated
            } else {
                EventKind::ConversationUpdated
            };
            hilo.announce_message(message, deliveries, moved, kind)
                .await;
            Ok(Received::Stored)
        })
        .await
    }

    /// A mail `owner` sent `user` from an address of theirs: a message of `owner`'s in
    /// their direct conversation, as if written there, with the checks a send gets (a
    /// block drops it; who may message `user` still applies).
    async fn receive_from_account(
        &self,
        owner: &User,
        user: &User,
        address: &str,
        incoming: &Incoming<'_>,
    ) -> crate::Result<Received> {
        // A block drops the mail before anything is opened for it.
        let Some(conversation) = self.direct_unless_blocked(&owner.id, &user.id).await? else {
            return Ok(Received::Dropped);
        };
        self.post_mail(owner, &conversation, address, incoming)
            .await
    }

    /// A mail `owner` wrote from an address of theirs, posted in `conversation` (one they
    /// are in) as their message, with the checks a send gets (a block or who may message
    /// drops it).
    async fn post_mail(
        &self,
        owner: &User,
        conversation: &ConversationId,
        address: &str,
        incoming: &Incoming<'_>,
    ) -> crate::Result<Received> {
        let Incoming {
            mail,
            message_id,
            checked,
            ..
        } = *incoming;
        // An auto-responder (an out-of-office reply to a digest, say) is not the person
        // speaking: RFC 3834's mail never becomes their message.
        if mail.automatic {
            return Ok(Received::Dropped);
        }
        let now = self.inner.clock.now();
        let first_contact = match self.reach(&owner.id, conversation).await {
            Ok(folder) => folder == Some(hilo_core::Folder::Requests),
            // Blocked (counted by `reach`), not someone the other takes messages from,
            // blocking them, or the server's notices: as a chat message would be refused,
            // nothing is stored, and the sending server is not asked to try again.
            Err(Error::Forbidden { .. }) => return Ok(Received::Dropped),
            Err(error) => return Err(error),
        };
        let text = shown_text(mail);
        let spam = first_contact && self.judged_spam(&owner.id, &text).await?;
        let attachments = self.received_files(&owner.id, mail).await?;
        // The Message-ID makes the send idempotent: the same mail again is the same message.
        let digest = Sha256::digest(message_id.as_bytes());
        let outcome = self
            .append(hilo_store::NewMessage {
                channel: hilo_core::Channel::Email,
                spam,
                attachments,
                email: Some(ReceivedEmail {
                    meta: email_meta(mail, address, message_id, checked),
                    full_text: mail.full_text.clone(),
                    html: mail.html.clone(),
                }),
                ..hilo_store::NewMessage::text(
                    MessageId::new(self.inner.ids.new_id()),
                    conversation.clone(),
                    owner.id.clone(),
                    text,
                    format!("mail:{}", data_encoding::HEXLOWER.encode(&digest[..16])),
                    now,
                )
            })
            .await;
        match outcome {
            Ok((_, true)) => Ok(Received::Stored),
            Ok((_, false)) => Ok(Received::Repeated),
            // Refused as a send would be (the conversation is no longer theirs, say).
            Err(Error::Forbidden { .. } | Error::NotFound(_) | Error::BadRequest { .. }) => {
                Ok(Received::Dropped)
            }
            Err(error) => Err(error),
        }
    }
}

impl Hilo {
    /// The account whose verified address `address` is, when the mail's domain vouches
    /// for it (DMARC `pass`), it names the address it was delivered to (`rcpt`) in its To
    /// or Cc, and the account is live. The header check stops a replay: a signed mail
    /// someone received cannot be handed to another address here and pass as its
    /// author's (the signature covers To and Cc, not the envelope).
    async fn mail_account(
        &self,
        address: &str,
        checked: &AuthResults,
        rcpt: &str,
        mail: &ParsedMail,
    ) -> crate::Result<Option<User>> {
        if checked.dmarc != "pass" {
            return Ok(None);
        }
        if !names(mail, rcpt) {
            return Ok(None);
        }
        let store = &self.inner.store;
        let Some(owner) = store.email_owner(address).await? else {
            return Ok(None);
        };
        Ok(store.user(&owner).await?.filter(|o| !o.suspended))
    }

    /// The conversation a mail from `owner` names, if `owner` (and `addressee`, when the
    /// mail went to an account) is in it: the group of a group address
    /// (`g-<conversation id>@domain`), the tag of `username+<conversation id>@domain`, or
    /// the conversation of a mail hilo sent that its `In-Reply-To` or `References` name
    /// (a message's `<message id@domain>`, a digest's `<digest.<conversation
    /// id>.<n>@domain>`). A client that rewrites one still leaves the others.
    async fn named_conversation(
        &self,
        owner: &User,
        addressee: Option<&User>,
        rcpt: &str,
        mail: &ParsedMail,
    ) -> crate::Result<Option<ConversationId>> {
        let store = &self.inner.store;
        for conversation in self.named_candidates(rcpt, mail).await? {
            if store
                .member_place(&conversation, &owner.id)
                .await?
                .is_none()
            {
                continue;
            }
            if let Some(addressee) = addressee
                && addressee.id != owner.id
                && store
                    .member_place(&conversation, &addressee.id)
                    .await?
                    .is_none()
            {
                continue;
            }
            return Ok(Some(conversation));
        }
        Ok(None)
    }

    /// The group a contact's mail to `addressee` names (as [`Self::named_conversation`]
    /// finds it), when the contact at `address` and the addressee are both in it.
    async fn contact_group(
        &self,
        address: &str,
        addressee: &User,
        rcpt: &str,
        mail: &ParsedMail,
    ) -> crate::Result<Option<ConversationId>> {
        for id in self.named_candidates(rcpt, mail).await? {
            if let Some(conversation) = self.inner.store.conversation(&id).await?
                && conversation.kind == hilo_core::ConversationKind::Group
                && conversation.has_address(address)
                && conversation.has_user(&addressee.id)
            {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    /// The conversations a mail names, most specific first: the group of its group
    /// address, the tag of its address, then what its `In-Reply-To` and `References` name.
    async fn named_candidates(
        &self,
        rcpt: &str,
        mail: &ParsedMail,
    ) -> crate::Result<Vec<ConversationId>> {
        let domain = &self.inner.config.mail_domain;
        let mut candidates: Vec<ConversationId> = Vec::new();
        if let Some((id, _)) = self.group_address(rcpt) {
            candidates.push(id);
        }
        if let Some((local, _)) = rcpt.rsplit_once('@')
            && let Some((_, tag)) = local.split_once('+')
            && plausible_id(tag)
        {
            candidates.push(ConversationId::new(tag));
        }
        let named = mail.in_reply_to.iter().chain(mail.references.iter().rev());
        for id in named.take(REFERENCES_READ) {
            let Some((local, host)) = id.rsplit_once('@') else {
                continue;
            };
            if !host.eq_ignore_ascii_case(domain) {
                continue;
            }
            if let Some(conversation) = local
                .strip_prefix("digest.")
                .and_then(|rest| rest.split('.').next())
                .filter(|c| plausible_id(c))
            {
                candidates.push(ConversationId::new(conversation));
            } else if plausible_id(local)
                && let Some(message) = self
                    .inner
                    .store
                    .message(&MessageId::new(local), None)
                    .await?
            {
                candidates.push(message.conversation_id);
            }
        }
        candidates.dedup();
        Ok(candidates)
    }

    /// The group a group address (`g-<conversation id>@<mail domain>`) names, and whether
    /// it is the address that takes an email contact out (`g-<conversation
    /// id>+leave@<mail domain>`, the group mail's `List-Unsubscribe`).
    fn group_address(&self, address: &str) -> Option<(ConversationId, bool)> {
        let (local, domain) = address.rsplit_once('@')?;
        let id = local.strip_prefix("g-")?;
        let (id, leave) = match id.split_once('+') {
            Some((id, tag)) if tag.eq_ignore_ascii_case("leave") => (id, true),
            Some(_) => return None,
            None => (id, false),
        };
        (domain.eq_ignore_ascii_case(&self.inner.config.mail_domain) && plausible_id(id))
            .then(|| (ConversationId::new(id.to_ascii_lowercase()), leave))
    }

    /// A mail to a group's address: a message of the member who sent it, from a verified
    /// address of theirs whose domain vouches for it, or from an email contact of the
    /// group (one whose domain does not disown the mail, which names the group's address
    /// in To or Cc, so a mail the contact sent elsewhere cannot be replayed into it). To
    /// the leave address, a contact's mail takes it out of the group. Anyone else is
    /// refused.
    async fn receive_for_group(
        &self,
        rcpt: &str,
        incoming: &Incoming<'_>,
    ) -> crate::Result<Received> {
        let Incoming {
            sender,
            mail,
            checked,
            ..
        } = *incoming;
        let address = sender.address.to_lowercase();
        // That group and no other, whatever the mail's references say.
        let Some((group, leave)) = self.group_address(rcpt) else {
            return Ok(Received::Refused);
        };
        let owner = match self.mail_account(&address, checked, rcpt, mail).await? {
            Some(owner)
                if self
                    .inner
                    .store
                    .member_place(&group, &owner.id)
                    .await?
                    .is_some() =>
            {
                owner
            }
            // Not an account's, or the account of an address that is (also) one of the
            // group's contacts without the account being a member: the contact's.
            _ => {
                return self
                    .receive_from_contact(&group, leave, rcpt, incoming)
                    .await;
            }
        };
        if leave {
            // Accounts leave in the app; there is nothing to do for this mail.
            return Ok(Received::Dropped);
        }
        self.post_mail(&owner, &group, &address, incoming).await
    }

    /// A mail to a group's address (or its leave address) from someone who is not an
    /// account: see [`Self::receive_for_group`].
    async fn receive_from_contact(
        &self,
        group: &ConversationId,
        leave: bool,
        rcpt: &str,
        incoming: &Incoming<'_>,
    ) -> crate::Result<Received> {
        let Incoming {
            sender,
            mail,
            checked,
            ..
        } = *incoming;
        let address = sender.address.to_lowercase();
        let Some(conversation) = self.inner.store.conversation(group).await? else {
            return Ok(Received::Refused);
        };
        if checked.dmarc_failed() || !conversation.has_address(&address) {
            return Ok(Received::Refused);
        }
        // Leaving asks only that the sender's domain does not disown the mail: someone
        // whose domain publishes no DMARC policy can still stop the group's mail.
        if leave {
            // Whatever the mail says (a mail client's unsubscribe mail has no set form).
            let change = self
                .inner
                .store
                .remove_contact(group, None, &address, self.inner.clock.now())
                .await?;
            self.publish_conversation_events(
                &change.deliveries,
                EventKind::ConversationUpdated,
                group,
                None,
            )
            .await;
            return Ok(Received::Dropped);
        }
        if !names(mail, rcpt) {
            return Ok(Received::Refused);
        }
        // An out-of-office answer to the group's mail, or another list's mail, is
        // nobody's message in it.
        if mail.automatic {
            return Ok(Received::Dropped);
        }
        if !self.may_post_to_group(&address, mail, checked).await? {
            return Ok(Received::Refused);
        }
        // Its files are kept as the group's first admin's uploads (a contact has no
        // uploads of its own); they are readable by the group's members once sent.
        let Some(uploader) = conversation
            .members
            .iter()
            .filter(|m| m.role == hilo_core::Role::Admin)
            .chain(&conversation.members)
            .find_map(|m| m.party.user_id().cloned())
        else {
            return Ok(Received::Refused);
        };
        self.store_contact_mail(&uploader, Some(group.clone()), incoming)
            .await
    }

    /// Whether a contact's mail may become its message in a group, which this server then
    /// signs and mails on to the group's other contacts: its domain vouches for it (DMARC
    /// `pass`: a From that cannot be proven would let anyone speak for the contact), it
    /// is no automatic mail (an out-of-office, or a list's mail, which keeps two groups
    /// holding each other's addresses from passing one mail round for ever), and the
    /// contact is within its hourly allowance of group posts.
    async fn may_post_to_group(
        &self,
        address: &str,
        mail: &ParsedMail,
        checked: &AuthResults,
    ) -> crate::Result<bool> {
        if checked.dmarc != "pass" || mail.automatic {
            return Ok(false);
        }
        self.within(
            format!(
                "group-posts:{}",
                crate::accounts::secret_hash(&address.to_lowercase())
            ),
            GROUP_POSTS_PER_HOUR,
            3_600_000,
            "group posts",
        )
        .await?;
        Ok(true)
    }

    /// Stores a mail's files as attachments of `uploader`'s, as an upload would be
    /// (pictures cleaned and thumbnailed, types sniffed). A file this server would refuse
    /// as an upload (too large, empty, a picture it cannot clean) is left out; the mail's
    /// whole text still says it was there.
    async fn received_files(
        &self,
        uploader: &hilo_core::UserId,
        mail: &ParsedMail,
    ) -> crate::Result<Vec<hilo_core::AttachmentId>> {
        let max = self.inner.config.attachment_max_bytes;
        let mut stored = Vec::new();
        for file in &mail.attachments {
            if file.bytes.is_empty() || file.bytes.len() as u64 > max {
                continue;
            }
            let body = futures::stream::once(async {
                Ok::<_, std::convert::Infallible>(bytes::Bytes::from(file.bytes.clone()))
            });
            match self
                .store_file(uploader, Some(&file.name), Box::pin(body))
                .await
            {
                Ok(attachment) => stored.push(attachment.id),
                Err(Error::Store(error)) => return Err(Error::Store(error)),
                Err(error) => {
                    tracing::debug!(%error, "a mail's file was left out");
                }
            }
        }
        Ok(stored)
    }
}

/// A received mail as the intake passes it around: the sender its From names, the mail
/// as read, its Message-ID (or the digest that stands for one) and its sender checks.
#[derive(Clone, Copy)]
struct Incoming<'a> {
    sender: &'a MailAddress,
    mail: &'a ParsedMail,
    message_id: &'a str,
    checked: &'a AuthResults,
}

/// What became of a mail for one recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Received {
    /// A new message.
    Stored,
    /// The same mail was stored before.
    Repeated,
    /// Taken and dropped: the recipient blocks its sender.
    Dropped,
    /// Not for this recipient (a group's address from someone not in the group).
    Refused,
}

/// `In-Reply-To` and `References` ids looked at, newest first.
const REFERENCES_READ: usize = 30;

/// Whether the mail's To or Cc names `address`.
fn names(mail: &ParsedMail, address: &str) -> bool {
    mail.to
        .iter()
        .chain(&mail.cc)
        .any(|a| a.address.eq_ignore_ascii_case(address))
}

/// Could be an id hilo made (a conversation's, a message's).
fn plausible_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// What a message keeps of the mail it came as.
fn email_meta(mail: &ParsedMail, from: &str, message_id: &str, checked: &AuthResults) -> EmailMeta {
    let mut recipients: Vec<EmailRecipient> = Vec::new();
    for (field, list) in [(EmailField::To, &mail.to), (EmailField::Cc, &mail.cc)] {
        recipients.extend(list.iter().map(|a| EmailRecipient {
            field,
            address: a.address.clone(),
            name: a.name.clone(),
        }));
    }
    EmailMeta {
        message_id: message_id.to_owned(),
        subject: mail.subject.clone(),
        from: from.to_owned(),
        recipients,
        auth: Some(EmailAuth {
            spf: checked.spf.to_owned(),
            dkim: checked.dkim.to_owned(),
            dmarc: checked.dmarc.to_owned(),
        }),
    }
}

/// What a thread shows of a mail: its text without quoted history, or its subject when
/// that is all it has, cut to the longest message.
fn shown_text(mail: &ParsedMail) -> String {
    let text = mail.text.trim();
    let text = if text.is_empty() {
        mail.subject.as_deref().unwrap_or("(no text)")
    } else {
        text
    };
    let mut shown: String = text.chars().take(MAX_SHOWN).collect();
    if shown.len() < text.len() {
        shown.pop();
        shown.push('…');
    }
    shown
}

/// A delivery status notification (RFC 3464) that says the mail failed.
fn reports_failure(mail: &ParsedMail) -> bool {
    report_text(mail).lines().any(|line| {
        line.split_once(':').is_some_and(|(key, value)| {
            key.trim().eq_ignore_ascii_case("action") && value.trim().eq_ignore_ascii_case("failed")
        })
    })
}

/// The text of a report's parts and of the mail.
fn report_text(mail: &ParsedMail) -> String {
    mail.attachments
        .iter()
        .filter(|a| {
            a.content_type == "message/delivery-status" || a.content_type.starts_with("text/")
        })
        .map(|a| String::from_utf8_lossy(&a.bytes).into_owned())
        .chain(std::iter::once(mail.full_text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Why a bounce says the mail failed: its `Diagnostic-Code` (or `Status`), else the start
/// of its text.
fn bounce_reason(mail: &ParsedMail) -> String {
    let report = report_text(mail);
    let field = |name: &str| {
        report.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    };
    let reason = field("Diagnostic-Code")
        .or_else(|| field("Status").map(|status| format!("status {status}")))
        .unwrap_or_else(|| mail.text.lines().next().unwrap_or("bounced").to_owned());
    let reason: String = reason.chars().take(300).collect();
    // Which recipient it was (a group's mail goes to several): `rfc822; someone@host`.
    let recipient = field("Final-Recipient")
        .map(|value| {
            value
                .rsplit_once(';')
                .map_or(value.as_str(), |(_, address)| address)
                .trim()
                .to_owned()
        })
        .filter(|address| {
            address.contains('@')
                && address.len() <= 254
                && !address.chars().any(|c| c.is_control() || c.is_whitespace())
        });
    match recipient {
        Some(address) => format!("bounced: {address}: {reason}"),
        None => format!("bounced: {reason}"),
    }
}

fn temporary() -> Reply {
    Reply::new(451, "4.3.0", "temporary failure; try again later")
}

/// The answer to a mail that could not be stored now: over a limit (450), or a failure
/// here (451, logged as `what`).
fn not_now(error: Error, what: &str) -> Reply {
    match error {
        Error::RateLimited { .. } => too_much(),
        error => {
            tracing::warn!(%error, "{what}");
            temporary()
        }
    }
}

fn too_much() -> Reply {
    Reply::new(450, "4.7.1", "too much mail; try again later")
}

impl hilo_mail::Mailbox for MailIntake {
    async fn check_sender(&self, envelope: &Envelope) -> Result<(), Reply> {
        let hilo = &self.hilo;
        let client = format!("mail-ip:{}", envelope.client.ip().to_canonical());
        let refused = |error: Error| match error {
            Error::RateLimited { .. } => too_much(),
            _ => temporary(),
        };
        hilo.within(client, MAILS_PER_CLIENT_HOUR, 3_600_000, "mails")
            .await
            .map_err(refused)?;
        if let Some(from) = &envelope.mail_from {
            let key = format!(
                "mail-from:{}",
                crate::accounts::secret_hash(&from.to_lowercase())
            );
            hilo.within(key, MAILS_PER_SENDER_HOUR, 3_600_000, "mails")
                .await
                .map_err(refused)?;
        }
        Ok(())
    }

    async fn check_recipient(&self, _envelope: &Envelope, address: &str) -> Result<(), Reply> {
        if self.hilo.bounced_message(address).is_some() {
            return Ok(());
        }
        if !self.hilo.is_local_domain(address) {
            return Err(Reply::new(550, "5.7.1", "relaying is not permitted here"));
        }
        if let Some((group, _)) = self.hilo.group_address(address) {
            // Who may write to it is known once the mail is read (its From and checks).
            return match self.hilo.inner.store.conversation(&group).await {
                Ok(Some(c)) if c.kind == hilo_core::ConversationKind::Group => Ok(()),
                Ok(_) => Err(Reply::new(550, "5.1.1", "no such group here")),
                Err(_) => Err(temporary()),
            };
        }
        match self.hilo.addressee(address).await {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(Reply::new(550, "5.1.1", "no such user here")),
            Err(_) => Err(temporary()),
        }
    }

    async fn deliver(&self, envelope: Envelope, message: Vec<u8>) -> Result<(), Reply> {
        let hilo = &self.hilo;
        let mail = hilo_mail::parse(&message)
            .map_err(|_| Reply::new(554, "5.6.0", "not a readable message"))?;
        // What comes back to a bounce address is about a mail hilo sent, nothing more. Only
        // a failure report from the null sender fails it; anything else that arrives
        // there (an out-of-office reply, a delay notice) is taken and dropped.
        let bounced: Vec<MessageId> = envelope
            .recipients
            .iter()
            .filter_map(|address| hilo.bounced_message(address))
            .collect();
        if envelope.mail_from.is_none() && reports_failure(&mail) {
            for message in &bounced {
                if let Err(error) = hilo.bounced(message, &mail).await {
                    tracing::warn!(%error, "could not record a bounce");
                    return Err(temporary());
                }
            }
        }
        if bounced.len() == envelope.recipients.len() {
            return Ok(());
        }
        let sender = mail
            .from
            .clone()
            .or_else(|| {
                envelope.mail_from.as_ref().map(|address| MailAddress {
                    address: address.clone(),
                    name: None,
                })
            })
            .ok_or_else(|| Reply::new(550, "5.1.7", "the message has no sender address"))?;
        if hilo.is_local_domain(&sender.address) {
            return Err(Reply::new(
                550,
                "5.7.1",
                "mail from this server's own domain is sent through hilo, not to it",
            ));
        }
        let checked = self
            .checks
            .check(
                &message,
                envelope.client.ip(),
                &envelope.helo,
                envelope.mail_from.as_deref(),
            )
            .await;
        if checked.dmarc_failed() && self.dmarc_reject {
            return Err(Reply::new(
                550,
                "5.7.1",
                "the sender's domain does not vouch for this mail (DMARC)",
            ));
        }
        // A mail without a Message-ID is known by its bytes: a retry of it is the same mail.
        let message_id = mail.message_id.clone().unwrap_or_else(|| {
            let digest = Sha256::digest(&message);
            format!(
                "{}@hilo.invalid",
                data_encoding::HEXLOWER.encode(&digest[..16])
            )
        });
        let incoming = Incoming {
            sender: &sender,
            mail: &mail,
            message_id: &message_id,
            checked: &checked,
        };
        let mut stored = 0;
        for address in &envelope.recipients {
            if hilo.bounced_message(address).is_some() {
                continue;
            }
            if hilo.group_address(address).is_some() {
                match hilo.receive_for_group(address, &incoming).await {
                    Ok(Received::Refused) => {}
                    Ok(_) => stored += 1,
                    Err(error) => return Err(not_now(error, "could not store a mail to a group")),
                }
                continue;
            }
            let user = match hilo.addressee(address).await {
                Ok(Some(user)) => user,
                Ok(None) => continue,
                Err(error) => {
                    tracing::warn!(%error, "could not find a mail's addressee");
                    return Err(temporary());
                }
            };
            match hilo.receive_for(&user, address, &incoming).await {
                // Dropped for a block counts as taken: the sender learns nothing of it.
                Ok(Received::Stored | Received::Repeated | Received::Dropped) => stored += 1,
                Ok(Received::Refused) => {}
                // What was stored stays; the retry finds it by its Message-ID.
                Err(error) => return Err(not_now(error, "could not store a received mail")),
            }
        }
        if stored == 0 {
            return Err(Reply::new(
                550,
                "5.7.1",
                "only the group's members write to it, from an address their domain vouches for (DMARC)",
            ));
        }
        Ok(())
    }
}
