//! Outbound mail: what an account writes in a conversation with email contacts is mailed
//! to them, from `Display Name <username@<mail domain>>`.
//!
//! The send stores the message and its queue row in one transaction (the store's
//! `ENQUEUE_MAIL`), so no acknowledged message lacks its mail. Every node runs a sender
//! that claims due rows (a lease keeps two nodes off one row), composes each mail
//! (`hilo_mail::send`: a stable `Message-ID` made from the message's id, `In-Reply-To` and
//! `References` chained to the thread's mail, the subject carried on with `Re:`, the
//! attachments), signs it when a DKIM key is configured, and hands it to the relay. A
//! refusal for good (a 5xx) fails the message at once; anything else is tried again with
//! back-off for a day. Every outcome is `message.updated` to the conversation's members,
//! whose clients show the message's `delivery`. Without a relay, mail stays queued.

use std::sync::Arc;
use std::time::Duration;

use hilo_core::{
    ConversationKind, DeliveryState, EmailField, EmailMeta, EmailRecipient, Message, MessageId,
    Party, Timestamp,
};
use hilo_mail::DkimKey;
use hilo_mail::send::{MailList, OutgoingFile, OutgoingMail, Relay, SendError, compose};
use hilo_proto::{Event, MessageDto};
use hilo_store::{Delivery, MailJob, MailOutcome};
use object_store::ObjectStoreExt as _;

use crate::{Error, Hilo, Result};

/// How long a claimed mail is this node's before another may take it over.
const LEASE_MS: i64 = 5 * 60 * 1000;
/// Mails claimed at a time: one, so a slow relay never lets a lease run out on mail
/// still waiting its turn here (another node would send it again).
const BATCH: i64 = 1;
/// Most mails one round sends before it lets the next tick begin.
const ROUND: usize = 50;
/// How often the sender looks for due mail.
const POLL: Duration = Duration::from_secs(1);
/// How long mail is tried before it is given up on.
const GIVE_UP_MS: i64 = 24 * 3600 * 1000;
/// Most bytes of attachments one mail carries.
const MAX_ATTACHED: u64 = 20 << 20;
/// Thread mails whose ids go into `References`.
const REFERENCES: i64 = 20;

/// Where mail goes out: the relay, and the key that signs it.
pub struct Outbound {
    /// The relay; `None`: mail is queued, not sent.
    pub relay: Option<Relay>,
    /// Signs every mail, if set.
    pub dkim: Option<DkimKey>,
}

/// The wait before try `attempts + 1`: 1, 5, 15, 60 minutes, then every 4 hours.
fn backoff(attempts: i64) -> i64 {
    let minutes = match attempts {
        ..=1 => 1,
        2 => 5,
        3 => 15,
        4 => 60,
        _ => 240,
    };
    minutes * 60 * 1000
}

impl Hilo {
    /// Sends due mail every second for as long as the service lives (nothing without a
    /// relay).
    pub fn send_mail_in_background(&self, outbound: Arc<Outbound>) {
        // What else mails (verification codes) goes the same way.
        let _ = self.inner.outbound.set(outbound.clone());
        if outbound.relay.is_none() {
            tracing::info!("no SMTP relay configured: mail to contacts is queued, not sent");
            return;
        }
        self.every(POLL, "could not send queued mail", move |hilo| {
            let outbound = outbound.clone();
            async move { hilo.send_due_mail(&outbound).await }
        });
    }

    /// Claims and sends the mail that is due; how many were tried.
    pub async fn send_due_mail(&self, outbound: &Outbound) -> Result<usize> {
        let Some(relay) = &outbound.relay else {
            return Ok(0);
        };
        let mut tried = 0;
        while tried < ROUND {
            let jobs = self
                .inner
                .store
                .claim_mail(self.inner.clock.now(), LEASE_MS, BATCH)
                .await?;
            if jobs.is_empty() {
                break;
            }
            for job in jobs {
                tried += 1;
                let (outcome, sent) = match self.compose_mail(&job, outbound.dkim.as_ref()).await {
                    Ok((bytes, envelope_from, to, meta)) => {
                        match relay.send(&envelope_from, &to, &bytes).await {
                            // Kept only once it went out: it is what later mail threads on.
                            Ok(()) => (Ok(()), Some(meta)),
                            Err(error) => (Err(error), None),
                        }
                    }
                    Err(error) => (Err(error), None),
                };
                if let Err(error) = self.finish_mail(&job, outcome, sent).await {
                    // The lease runs out and the mail is tried again then.
                    tracing::warn!(%error, message = %job.message_id, "could not record a mail's outcome");
                }
            }
        }
        Ok(tried)
    }

    /// The mail for `job`: its bytes, envelope sender (the bounce address), recipients and
    /// headers as kept.
    async fn compose_mail(
        &self,
        job: &MailJob,
        dkim: Option<&DkimKey>,
    ) -> std::result::Result<(Vec<u8>, String, Vec<String>, EmailMeta), SendError> {
        let failed = |detail: &str| SendError {
            permanent: true,
            detail: detail.to_owned(),
        };
        let store = &self.inner.store;
        let transient = |error: hilo_store::StoreError| SendError {
            permanent: false,
            detail: format!("could not read the message: {error}"),
        };
        let message = store
            .message(&job.message_id, None)
            .await
            .map_err(transient)?
            .ok_or_else(|| failed("the message is gone"))?;
        if message.deleted {
            return Err(failed("the message was deleted before it was sent"));
        }
        let conversation = store
            .conversation(&job.conversation_id)
            .await
            .map_err(transient)?
            .ok_or_else(|| failed("the conversation is gone"))?;
        let domain = &self.inner.config.mail_domain;
        let group = (conversation.kind == ConversationKind::Group).then(|| {
            (
                format!("g-{}@{domain}", conversation.id),
                conversation.name.clone().unwrap_or_default(),
            )
        });
        // An account writes from its own address; an email contact's words in a group are
        // passed on from the group's (their domain would not vouch for this server).
        let (from_name, from_address, author) = match (&message.sender, &group) {
            (
                Some(Party::User {
                    username,
                    display_name,
                    ..
                }),
                _,
            ) => (display_name.clone(), format!("{username}@{domain}"), None),
            (
                Some(Party::Contact {
                    address,
                    display_name,
                    ..
                }),
                Some((group_address, group_name)),
            ) => (
                format!("{display_name} ({group_name})"),
                group_address.clone(),
                Some(address.as_str()),
            ),
            _ => return Err(failed("only what a person writes is mailed")),
        };
        let to: Vec<(String, Option<String>)> = conversation
            .members
            .iter()
            .filter_map(|member| match &member.party {
                Party::Contact {
                    address,
                    display_name,
                    ..
                } if address.contains('@') && Some(address.as_str()) != author => {
                    Some((address.clone(), Some(display_name.clone())))
                }
                _ => None,
            })
            .collect();
        if to.is_empty() {
            return Err(failed("the conversation has no email contact"));
        }
        let thread = store
            .thread_mail(&job.conversation_id, REFERENCES + 1)
            .await
            .map_err(transient)?;
        let rfc_id = format!("{}@{domain}", message.id);
        // This message's own mail (a retry, or the mail a contact's words came as) is not
        // its own parent.
        let received = message.email.as_ref().map(|e| e.message_id.as_str());
        let earlier: Vec<_> = thread
            .iter()
            .filter(|m| m.rfc_id != rfc_id && Some(m.rfc_id.as_str()) != received)
            .collect();
        let subject = earlier
            .iter()
            .find_map(|m| m.subject.as_deref())
            .map(|s| {
                if s.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("re:")) {
                    s.to_owned()
                } else {
                    format!("Re: {s}")
                }
            })
            .unwrap_or_else(|| match &group {
                Some((_, name)) => name.clone(),
                None => format!("Message from {from_name}"),
            });
        let mut references: Vec<String> = earlier
            .iter()
            .take(REFERENCES as usize)
            .map(|m| m.rfc_id.clone())
            .collect();
        references.reverse();
        let files = self.mail_files(&message).await.map_err(|e| SendError {
            permanent: false,
            detail: format!("could not read an attachment: {e}"),
        })?;
        // A group's mail goes to its address, as a list's does: its contacts are only on
        // the envelope (none learns the others' addresses, and answering all answers
        // the group), replies come back to it, it says how to leave, and its list
        // headers keep auto-responders and other lists (another hilo's group holding this
        // group's address) from sending it round again.
        let header_to = match &group {
            Some((address, name)) => vec![(address.clone(), Some(name.clone()))],
            None => to.clone(),
        };
        let mail = OutgoingMail {
            from_name,
            from_address: from_address.clone(),
            reply_to: group
                .as_ref()
                .map(|(address, name)| (address.clone(), Some(name.clone()))),
            list: group.as_ref().map(|_| MailList {
                id: format!("g-{}.{domain}", conversation.id),
                unsubscribe: format!("g-{}+leave@{domain}", conversation.id),
            }),
            to: header_to.clone(),
            subject: subject.clone(),
            message_id: rfc_id.clone(),
            in_reply_to: earlier.first().map(|m| m.rfc_id.clone()),
            references,
            text: message.text.clone().unwrap_or_default(),
            files,
            auto_submitted: "no",
        };
        let bytes = compose(&mail, dkim)?;
        let sent = EmailMeta {
            message_id: rfc_id,
            subject: Some(subject),
            from: from_address,
            recipients: header_to
                .iter()
                .map(|(address, name)| EmailRecipient {
                    field: EmailField::To,
                    address: address.clone(),
                    name: name.clone(),
                })
                .collect(),
            auth: None,
        };
        let envelope_from = format!("bounces+{}@{domain}", message.id);
        Ok((
            bytes,
            envelope_from,
            to.into_iter().map(|(a, _)| a).collect(),
            sent,
        ))
    }

    /// A message's attachments as mail parts, up to [`MAX_ATTACHED`] bytes in all.
    async fn mail_files(&self, message: &Message) -> Result<Vec<OutgoingFile>> {
        let mut files = Vec::new();
        let mut total = 0;
        for attachment in &message.attachments {
            total += attachment.size.max(0) as u64;
            if total > MAX_ATTACHED {
                break;
            }
            let bytes = self
                .inner
                .blobs
                .get(&crate::attachments::key(&attachment.id))
                .await
                .map_err(|e| Error::Store(hilo_store::StoreError::Other(e.into())))?
                .bytes()
                .await
                .map_err(|e| Error::Store(hilo_store::StoreError::Other(e.into())))?;
            files.push(OutgoingFile {
                name: attachment.name.clone(),
                content_type: attachment.content_type.clone(),
                bytes: bytes.to_vec(),
            });
        }
        Ok(files)
    }

    /// `message.updated` with the message as it now is (its delivery changed).
    pub(crate) async fn publish_message_update(&self, id: &MessageId, deliveries: &[Delivery]) {
        if deliveries.is_empty() {
            return;
        }
        match self.inner.store.message(id, None).await {
            Ok(Some(message)) => {
                let event = Event::MessageUpdated {
                    conversation_id: message.conversation_id.to_string(),
                    message: MessageDto::from(&message),
                };
                self.publish(deliveries, &event).await;
            }
            // The stored events reach every stream on its next catch-up anyway.
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "could not announce a delivery change"),
        }
    }

    /// Records a try and tells the conversation's members.
    async fn finish_mail(
        &self,
        job: &MailJob,
        outcome: std::result::Result<(), SendError>,
        composed: Option<EmailMeta>,
    ) -> Result<()> {
        let now = self.inner.clock.now();
        let (state, detail, next) = match outcome {
            Ok(()) => (DeliveryState::Sent, None, now),
            Err(error) if error.permanent => (DeliveryState::Failed, Some(error.detail), now),
            Err(error) if now.millis() - job.queued_at.millis() > GIVE_UP_MS => (
                DeliveryState::Failed,
                Some(format!(
                    "gave up after {} tries: {}",
                    job.attempts, error.detail
                )),
                now,
            ),
            Err(error) => (
                DeliveryState::Queued,
                Some(error.detail),
                Timestamp(now.millis() + backoff(job.attempts)),
            ),
        };
        if state == DeliveryState::Failed {
            tracing::info!(message = %job.message_id, detail = ?detail, "mail to a contact failed");
        }
        self.record_try(job, state, detail, next, composed, false)
            .await
    }

    /// Records a try at sending a queued mail or text (under the job's lease) and tells
    /// the conversation's members of the message's new delivery.
    pub(crate) async fn record_try(
        &self,
        job: &MailJob,
        state: DeliveryState,
        detail: Option<String>,
        next_attempt_at: Timestamp,
        sent: Option<EmailMeta>,
        unsure: bool,
    ) -> Result<()> {
        let deliveries = self
            .inner
            .store
            .finish_mail(
                &job.message_id,
                MailOutcome {
                    state,
                    detail,
                    next_attempt_at,
                    sent,
                    unsure,
                    lease: Some(job.lease),
                    now: self.inner.clock.now(),
                },
            )
            .await?;
        self.publish_message_update(&job.message_id, &deliveries)
            .await;
        Ok(())
    }
}
