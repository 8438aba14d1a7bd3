//! Email digests: someone away from hilo (no device connected) gets what waits unread
//! mailed to their verified addresses that want it, and answers by replying.
//!
//! A conversation's unread messages from others are mailed once the first of them has
//! waited `after` while its reader had no device connected; one mail per conversation
//! (never one per message), at most one round per account every `every`, and each
//! message at most once (`members.digested_seq`). Muted and silenced conversations,
//! requests and spam are left out. The mail comes from `noreply@<mail domain>` with
//! `Auto-Submitted: auto-generated` (nobody's auto-responder answers it), its `Reply-To`
//! is `username+<conversation id>@<mail domain>` and its `Message-ID`
//! `digest.<conversation id>.<seq>@<mail domain>`, so the reply, from the verified
//! address, lands in that conversation as the account's message (`mail.rs`).

use std::sync::Arc;
use std::time::Duration;

use hilo_core::{ConversationKind, Message, Party, Timestamp, User};
use hilo_mail::send::{OutgoingMail, compose};
use hilo_store::DigestDue;

use crate::outbound::Outbound;
use crate::{Error, Hilo, Result};

/// Conversations one round mails for one account at most.
const CONVERSATIONS_PER_ROUND: usize = 10;
/// Messages one digest shows at most (it says how many more wait).
const MESSAGES_PER_DIGEST: i64 = 20;
/// Rows of due digests read per pass.
const DUE_PER_PASS: i64 = 500;
/// Longest excerpt of one message in a digest, in characters.
const EXCERPT: usize = 500;

/// When digests go out.
#[derive(Debug, Clone, Copy)]
pub struct DigestTiming {
    /// How long an unread message waits, its reader away, before it is mailed.
    pub after: Duration,
    /// Least time between two rounds of digests to one account.
    pub every: Duration,
}

impl Default for DigestTiming {
    fn default() -> Self {
        DigestTiming {
            after: Duration::from_secs(15 * 60),
            every: Duration::from_secs(60 * 60),
        }
    }
}

impl Hilo {
    /// Mails due digests for as long as the service lives (nothing without a relay).
    pub fn send_digests_in_background(&self, outbound: Arc<Outbound>, timing: DigestTiming) {
        if outbound.relay.is_none() {
            return;
        }
        let poll = (timing.after / 2).clamp(Duration::from_secs(1), Duration::from_secs(30));
        self.every(poll, "could not send digests", move |hilo| {
            let outbound = outbound.clone();
            async move { hilo.send_due_digests(&outbound, timing).await }
        });
    }

    /// One pass: mails what is due now; how many digests went out.
    pub async fn send_due_digests(
        &self,
        outbound: &Outbound,
        timing: DigestTiming,
    ) -> Result<usize> {
        let Some(relay) = &outbound.relay else {
            return Ok(0);
        };
        let store = &self.inner.store;
        let now = self.inner.clock.now();
        let waited_since = Timestamp(now.millis() - timing.after.as_millis() as i64);
        let mut sent = 0;
        let mut after = (
            hilo_core::UserId::new(""),
            hilo_core::ConversationId::new(""),
        );
        loop {
            let due = store
                .digests_due(now, waited_since, (&after.0, &after.1), DUE_PER_PASS)
                .await?;
            sent += self.send_digests(outbound, relay, &due, timing).await?;
            match due.last() {
                Some(last) if due.len() as i64 == DUE_PER_PASS => {
                    after = (last.user.clone(), last.conversation.clone());
                }
                _ => return Ok(sent),
            }
        }
    }

    /// Mails one page of what is due, by account (someone connected is not in it: the
    /// query leaves them out).
    async fn send_digests(
        &self,
        outbound: &Outbound,
        relay: &hilo_mail::send::Relay,
        due: &[DigestDue],
        timing: DigestTiming,
    ) -> Result<usize> {
        let store = &self.inner.store;
        let mut sent = 0;
        for items in due.chunk_by(|a, b| a.user == b.user) {
            let user = &items[0].user;
            let Some(account) = store.user(user).await?.filter(|u| !u.suspended) else {
                continue;
            };
            let addresses = store.digest_addresses(user).await?;
            if addresses.is_empty() {
                continue;
            }
            // One round per account per `every`.
            let round = self
                .within(
                    format!("digest:{user}"),
                    1,
                    timing.every.as_millis() as i64,
                    "digests",
                )
                .await;
            if round.is_err() {
                continue;
            }
            for item in items.iter().take(CONVERSATIONS_PER_ROUND) {
                match self
                    .send_digest(outbound, relay, &account, item, &addresses)
                    .await
                {
                    Ok(true) => sent += 1,
                    Ok(false) => {}
                    Err(error) => {
                        tracing::warn!(%error, conversation = %item.conversation, "could not mail a digest");
                    }
                }
            }
        }
        Ok(sent)
    }

    /// Mails `account` what waits in one conversation; false when nothing was left to
    /// mail (all of it deleted, or their own).
    async fn send_digest(
        &self,
        outbound: &Outbound,
        relay: &hilo_mail::send::Relay,
        account: &User,
        due: &DigestDue,
        addresses: &[String],
    ) -> Result<bool> {
        let store = &self.inner.store;
        let page = store
            .messages(
                &due.conversation,
                &account.id,
                None,
                Some(due.from_seq),
                MESSAGES_PER_DIGEST,
            )
            .await?;
        // Nothing from someone the reader blocks (the app folds it away too).
        let blocked: Vec<hilo_core::UserId> = store
            .blocked_users(&account.id)
            .await?
            .into_iter()
            .map(|u| u.id)
            .collect();
        let shown: Vec<&Message> = page
            .messages
            .iter()
            .filter(|m| {
                let sender = m.sender.as_ref().and_then(Party::user_id);
                !m.deleted
                    && sender != Some(&account.id)
                    && !sender.is_some_and(|s| blocked.contains(s))
            })
            .collect();
        let through = page.messages.last().map_or(due.last_seq, |m| m.seq);
        if shown.is_empty() {
            store
                .mark_digested(&account.id, &due.conversation, through)
                .await?;
            return Ok(false);
        }
        let Some(view) = self.view(&due.conversation, &account.id).await? else {
            return Ok(false);
        };
        let conversation = &view.conversation;
        // The server's notices cannot be answered: their digest has no Reply-To.
        let answerable = !conversation.members.iter().any(|m| {
            m.party
                .user_id()
                .is_some_and(|id| self.is_notices_account(id))
        });
        let name = match (&conversation.kind, &conversation.name) {
            (ConversationKind::Group, Some(name)) => name.clone(),
            _ => conversation
                .members
                .iter()
                .find(|m| m.party.user_id() != Some(&account.id))
                .map(|m| party_name(&m.party).to_owned())
                .unwrap_or_else(|| "someone".to_owned()),
        };
        let mut text = String::new();
        for message in &shown {
            let who = message.sender.as_ref().map_or("hilo", party_name);
            let at = hilo_proto::rfc3339(message.created_at);
            text.push_str(&format!("{who} ({} {} UTC):\n", &at[..10], &at[11..16]));
            let body = message.text.as_deref().unwrap_or_default();
            let mut excerpt: String = body.chars().take(EXCERPT).collect();
            if excerpt.len() < body.len() {
                excerpt.push('…');
            }
            for file in &message.attachments {
                excerpt.push_str(&format!("\n[{}]", file.name));
            }
            text.push_str(&excerpt);
            text.push_str("\n\n");
        }
        let more = due.last_seq - through;
        if more > 0 {
            text.push_str(&format!("…and {more} more in hilo.\n\n"));
        }
        if answerable {
            text.push_str("Reply to this mail to answer in the conversation.\n");
        }
        let domain = &self.inner.config.mail_domain;
        let count = shown.len();
        let mail = OutgoingMail {
            from_name: format!("{name} (hilo)"),
            from_address: format!("noreply@{domain}"),
            reply_to: answerable.then(|| {
                (
                    format!("{}+{}@{domain}", account.username, conversation.id),
                    None,
                )
            }),
            to: Vec::new(),
            subject: if count == 1 {
                format!("New message from {name}")
            } else {
                format!("{count} new messages in {name}")
            },
            message_id: format!("digest.{}.{through}@{domain}", conversation.id),
            in_reply_to: None,
            references: Vec::new(),
            text,
            files: Vec::new(),
            auto_submitted: "auto-generated",
            list: None,
        };
        // Each address apart: one that refuses does not hold up the others, and one that
        // refuses for good gets no more digests.
        let mut delivered = false;
        let mut failure = None;
        for address in addresses {
            let mail = OutgoingMail {
                to: vec![(address.clone(), None)],
                ..mail.clone()
            };
            let bytes = compose(&mail, outbound.dkim.as_ref())
                .map_err(|e| Error::Store(hilo_store::StoreError::Other(e.into())))?;
            // A bounce to it is taken and dropped (`mail.rs`).
            let sent = relay
                .send(
                    &format!("bounces+digest@{domain}"),
                    std::slice::from_ref(address),
                    &bytes,
                )
                .await;
            match sent {
                Ok(()) => delivered = true,
                Err(error) if error.permanent => {
                    tracing::info!(%error, "an address refused its digest for good: no more digests to it");
                    store.set_digest(&account.id, address, false).await?;
                }
                Err(error) => failure = Some(error),
            }
        }
        if let Some(error) = failure.filter(|_| !delivered) {
            // Tried again at a later round.
            return Err(Error::Unavailable {
                code: "mail_failed",
                message: error.to_string(),
            });
        }
        store
            .mark_digested(&account.id, &due.conversation, through)
            .await?;
        Ok(delivered)
    }
}

fn party_name(party: &Party) -> &str {
    match party {
        Party::User { display_name, .. } | Party::Contact { display_name, .. } => display_name,
    }
}
