//! The SMS channel: texts with people known by phone number land in the same direct
//! conversation as everything else, and what an account writes there is texted to them.
//!
//! **Numbers and routes.** The server's numbers belong to provider accounts
//! (`[[sms.providers]]`); a number may have an owner, the account that a stranger's first
//! text to it reaches. Each pair (our number, their number) carries one conversation
//! (`sms_routes`): the conversation that first texted them from it, or the owner's that
//! their first text opened. A reply always finds the thread it answers, and two accounts
//! texting the same person use two of the server's numbers; when every number already
//! carries a conversation with that person, no new one can text them (409).
//!
//! **Inbound.** A webhook is checked against the provider's signature over the URL and
//! parameters before anything is read (401 otherwise); the same provider id twice is the
//! same message, whoever delivers it how often. A text from a number an account verified
//! is that account's message in its direct conversation with the number's account (as a
//! send, with a send's checks). Any other is the contact's, in the route's conversation or
//! the owner's (opened as a request and judged by the spam filter, as a mail is). Files of
//! an MMS are fetched from the provider (only from its API's origin) and attached. STOP,
//! START and HELP are kept like any text and also stop texts to that number, resume them,
//! or answer with what this number is.
//!
//! **Outbound.** The send stores the message and queues it (`outbound_mail`, channel
//! `sms`) in one transaction; every node's sender claims due texts, picks the number
//! (the route), checks opt-outs and the limits (texts a minute per number, a day per
//! account), and hands the text to the provider with a status callback. The provider's
//! answer and its callbacks move the message's `delivery` forward only: queued, sent, then
//! delivered or failed. A 429 or 5xx is tried again with back-off; any other refusal fails
//! the message with the provider's reason. A try whose answer was lost (a timeout, a cut
//! connection, a 5xx) may have reached the provider: every later try looks for the text
//! there first and records it instead of sending it again.

use std::sync::Arc;
use std::time::Duration;

use hilo_core::{
    Channel, ConversationId, ConversationKind, DeliveryState, MessageId, Party, SmsMeta, Timestamp,
    User, UserId, validate,
};
use hilo_sms::provider::{Inbound, Outgoing, Queued, Status};
use hilo_sms::{Keyword, Provider, keyword};
use hilo_store::{AppendOutcome, MailJob, NewMessage, NewReceived, ReceivedVia};

use crate::emails::PHONE;
use crate::{Caller, Error, Hilo, Result};

/// How long a claimed text is this node's.
const LEASE_MS: i64 = 2 * 60 * 1000;
/// How often the sender looks for due texts.
const POLL: Duration = Duration::from_secs(1);
/// Most texts one round sends.
const ROUND: usize = 50;
/// How long a text is tried before it is given up on: later than that it would be news
/// from the past.
const GIVE_UP_MS: i64 = 6 * 3600 * 1000;
/// Texts one number may send hilo per hour; more are dropped (the provider is answered).
const INBOUND_PER_NUMBER_HOUR: u32 = 120;
/// Most bytes of one MMS file.
const MEDIA_MAX: u64 = 5 << 20;
/// How far the provider's clock may be behind this server's, looking for a lost text.
const CLOCK_SLACK_MS: i64 = 2 * 60 * 1000;
/// Longest text sent, in characters (Twilio's limit; carriers split it in parts).
const TEXT_MAX: usize = 1_600;

/// One provider account and the numbers it holds.
pub struct SmsProvider {
    /// Its id (`[[sms.providers]] id`, the webhooks' path).
    pub id: String,
    /// Its API and webhooks.
    pub client: Arc<dyn Provider>,
    /// Its numbers, E.164.
    pub numbers: Vec<String>,
    /// Numbers with an owner: (number, username).
    pub owners: Vec<(String, String)>,
}

/// The SMS configuration the service runs with.
pub struct SmsGateway {
    /// The provider accounts.
    pub providers: Vec<SmsProvider>,
    /// The server's address as the providers reach it (`https://hilo.example.org`): what
    /// webhooks are signed over (else the URL each was posted to, by its Host header).
    pub public_url: Option<String>,
    /// Where status callbacks go: the public URL, or the listen address.
    pub callback_base: String,
    /// Texts one of the server's numbers may send a minute (0: no limit).
    pub texts_per_number_minute: u32,
    /// Texts one account may send a day (0: no limit).
    pub texts_per_account_day: u32,
}

impl SmsGateway {
    fn provider(&self, id: &str) -> Option<&SmsProvider> {
        self.providers.iter().find(|p| p.id == id)
    }

    fn holder(&self, number: &str) -> Option<&SmsProvider> {
        self.providers
            .iter()
            .find(|p| p.numbers.iter().any(|n| n == number))
    }

    fn owner(&self, number: &str) -> Option<&str> {
        self.providers
            .iter()
            .flat_map(|p| &p.owners)
            .find(|(n, _)| n == number)
            .map(|(_, username)| username.as_str())
    }

    /// The numbers `username` may text from, best first: their own, then the ones
    /// nobody owns, then the others'.
    fn candidates(&self, username: &str) -> Vec<String> {
        let all = self.providers.iter().flat_map(|p| &p.numbers);
        let rank = |number: &String| match self.owner(number) {
            Some(owner) if owner == username => 0,
            None => 1,
            Some(_) => 2,
        };
        let mut numbers: Vec<&String> = all.collect();
        numbers.sort_by_key(|n| rank(n));
        numbers.into_iter().cloned().collect()
    }
}

/// A webhook as the HTTP layer received it.
pub struct SmsWebhook<'a> {
    /// The provider id in the path.
    pub provider: &'a str,
    /// The URL it was posted to, as the provider saw it: the configured public URL with
    /// the path and query, or else `http://<Host>` with them.
    pub url: &'a str,
    /// Its headers (lower-case names), where the signature is.
    pub headers: &'a [(String, String)],
    /// The body: the provider's form.
    pub body: &'a [u8],
}

/// The counter of an account's texts a day.
fn day_key(sender: &UserId) -> String {
    format!("sms-day:{sender}")
}

/// The wait before try `attempts + 1`: 5 and 30 seconds, 2, 10, 30 minutes, then hourly.
fn backoff(attempts: i64) -> i64 {
    let seconds = match attempts {
        ..=1 => 5,
        2 => 30,
        3 => 120,
        4 => 600,
        5 => 1800,
        _ => 3600,
    };
    seconds * 1000
}

/// Where a provider's status leaves a message's delivery.
fn delivery_state(status: Status) -> DeliveryState {
    match status {
        Status::Accepted | Status::Queued | Status::Sending => DeliveryState::Queued,
        Status::Sent => DeliveryState::Sent,
        Status::Delivered | Status::Read => DeliveryState::Delivered,
        Status::Undelivered | Status::Failed => DeliveryState::Failed,
    }
}

fn bad_signature() -> Error {
    Error::BadSignature
}

fn busy(number: &str) -> Error {
    Error::conflict(
        "sms_numbers_busy",
        format!("every number of this server already carries a conversation with {number}"),
    )
}

impl Hilo {
    fn sms(&self) -> Option<&Arc<SmsGateway>> {
        self.inner.sms.get().filter(|g| !g.providers.is_empty())
    }

    /// The URL a webhook was posted to, as the provider signed it: the configured public
    /// URL with `path_and_query`, or else `http://<host>` with them.
    pub fn sms_webhook_url(&self, host: Option<&str>, path_and_query: &str) -> String {
        match self.inner.sms.get().and_then(|g| g.public_url.as_deref()) {
            Some(base) => format!("{base}{path_and_query}"),
            None => format!("http://{}{path_and_query}", host.unwrap_or("localhost")),
        }
    }

    /// Sends due texts every second for as long as the service lives (nothing without a
    /// provider).
    pub fn send_sms_in_background(&self, gateway: Arc<SmsGateway>) {
        let configured = !gateway.providers.is_empty();
        let _ = self.inner.sms.set(gateway);
        if !configured {
            return;
        }
        self.every(POLL, "could not send queued texts", |hilo| async move {
            hilo.send_due_sms().await
        });
    }

    /// Claims and sends the texts that are due; how many were tried.
    pub async fn send_due_sms(&self) -> Result<usize> {
        let Some(gateway) = self.sms().cloned() else {
            return Ok(0);
        };
        let mut tried = 0;
        while tried < ROUND {
            let jobs = self
                .inner
                .store
                .claim_sms(self.inner.clock.now(), LEASE_MS, 1)
                .await?;
            if jobs.is_empty() {
                break;
            }
            for job in jobs {
                tried += 1;
                if let Err(error) = self.send_text(&gateway, &job).await {
                    // The lease runs out and the text is tried again then.
                    tracing::warn!(%error, message = %job.message_id, "could not send a text");
                }
            }
        }
        Ok(tried)
    }

    /// One claimed text: to the provider, and the outcome recorded.
    async fn send_text(&self, gateway: &SmsGateway, job: &MailJob) -> Result<()> {
        let outcome = match self.hand_text(gateway, job).await {
            Ok(()) | Err(Refusal::LeaseLost) => return Ok(()),
            Err(outcome) => outcome,
        };
        let now = self.inner.clock.now();
        let unsure = matches!(outcome, Refusal::Unsure(_));
        let (state, detail, next) = match outcome {
            Refusal::LeaseLost => return Ok(()),
            Refusal::Final(detail) => (DeliveryState::Failed, detail, now),
            Refusal::Wait(detail, until) => (DeliveryState::Queued, detail, until),
            Refusal::Again(detail) | Refusal::Unsure(detail)
                if now.millis() - job.queued_at.millis() > GIVE_UP_MS =>
            {
                (
                    DeliveryState::Failed,
                    format!("gave up after {} tries: {detail}", job.attempts),
                    now,
                )
            }
            Refusal::Again(detail) | Refusal::Unsure(detail) => (
                DeliveryState::Queued,
                detail,
                Timestamp(now.millis() + backoff(job.attempts)),
            ),
        };
        if state == DeliveryState::Failed {
            tracing::info!(message = %job.message_id, detail = %detail, "a text failed");
        }
        self.record_try(job, state, Some(detail), next, None, unsure)
            .await
    }

    /// Hands a text to its provider and records that it did; why not, otherwise.
    async fn hand_text(
        &self,
        gateway: &SmsGateway,
        job: &MailJob,
    ) -> std::result::Result<(), Refusal> {
        let store = &self.inner.store;
        let again = |e: hilo_store::StoreError| Refusal::Again(format!("could not read: {e}"));
        let message = store
            .message(&job.message_id, None)
            .await
            .map_err(again)?
            .ok_or_else(|| Refusal::Final("the message is gone".into()))?;
        if message.deleted {
            return Err(Refusal::Final(
                "the message was deleted before it was sent".into(),
            ));
        }
        let Some(Party::User {
            id: sender,
            username,
            ..
        }) = &message.sender
        else {
            return Err(Refusal::Final("only what a person writes is texted".into()));
        };
        let conversation = store
            .conversation(&job.conversation_id)
            .await
            .map_err(again)?
            .ok_or_else(|| Refusal::Final("the conversation is gone".into()))?;
        let their = conversation
            .members
            .iter()
            .find_map(|m| match &m.party {
                Party::Contact { address, .. }
                    if validate::is_phone_address(address)
                        && conversation.kind == ConversationKind::Direct =>
                {
                    Some(address.clone())
                }
                _ => None,
            })
            .ok_or_else(|| Refusal::Final("the conversation has no phone contact".into()))?;
        let text = match message.text.as_deref() {
            Some(text) if !text.trim().is_empty() => text.to_owned(),
            _ => {
                return Err(Refusal::Final(
                    "only text can be sent by SMS, not files or places".into(),
                ));
            }
        };
        if text.chars().count() > TEXT_MAX {
            return Err(Refusal::Final(format!(
                "longer than {TEXT_MAX} characters, the most one text can be"
            )));
        }
        let now = self.inner.clock.now();
        let ours = store
            .bind_sms_route(&conversation.id, &their, &gateway.candidates(username), now)
            .await
            .map_err(again)?
            .ok_or_else(|| {
                Refusal::Final(format!(
                    "every number of this server already carries a conversation with {their}"
                ))
            })?;
        let provider = gateway.holder(&ours).ok_or_else(|| {
            Refusal::Final(format!("the number {ours} is no longer this server's"))
        })?;
        let segments = hilo_sms::segments(&text);
        let outgoing = Outgoing {
            from: ours.clone(),
            to: their.clone(),
            body: text,
            status_callback: Some(format!(
                "{}/api/v1/sms/{}/status",
                gateway.callback_base, provider.id
            )),
        };
        // An earlier try that may have gone out is looked for before anything can refuse
        // this one (a STOP since, the day's texts used up): found, it is recorded as it is.
        let found = self.lost_text(provider, &outgoing, job).await?;
        // Counted as it goes to the provider, and given back if the provider surely did not
        // take it: only texts that went out count. A try that may have gone out kept its
        // day's count: if it did not (nothing was found), that count is this text's.
        let counted = match found {
            Some(_) => Vec::new(),
            None => {
                self.may_text(
                    gateway,
                    sender,
                    &ours,
                    &their,
                    job.unsure_since.is_none(),
                    now,
                )
                .await?
            }
        };
        // From here no other sender claims the text until this try is recorded (a failed
        // try makes it claimable again; a dead sender's, once its lease is long over).
        if !store
            .sms_sending(&job.message_id, job.lease, now)
            .await
            .map_err(again)?
        {
            self.uncount_texts(&counted).await;
            return Err(Refusal::LeaseLost);
        }
        let queued = match found {
            Some(found) => Ok(found),
            None => provider.client.send(&outgoing).await,
        };
        let queued = match queued {
            Ok(queued) => queued,
            Err(error) if error.unsure => {
                // The provider may hold it (so it stays counted): the next try looks for it
                // first.
                return Err(Refusal::Unsure(error.detail));
            }
            Err(error) => {
                let mut refund = counted;
                if job.unsure_since.is_some() && gateway.texts_per_account_day > 0 {
                    // Surely not taken now, nor by the earlier try (it was looked for).
                    refund.push(day_key(sender));
                }
                self.uncount_texts(&refund).await;
                return Err(if error.opted_out() {
                    // The provider knows of a STOP hilo did not see: kept, so nothing more
                    // is tried.
                    store
                        .set_sms_opt_out(&outgoing.from, &outgoing.to, true, now)
                        .await
                        .map_err(again)?;
                    Refusal::Final(format!(
                        "{} asked for no more texts from {} (STOP): {error}",
                        outgoing.to, outgoing.from
                    ))
                } else if error.permanent && !error.ours {
                    Refusal::Final(error.detail)
                } else {
                    // The provider's trouble, or this server's account or number: the
                    // text waits until it is put right (or the tries run out).
                    Refusal::Again(error.detail)
                });
            }
        };
        self.record_handed(job, provider, outgoing, &segments, queued, now)
            .await;
        Ok(())
    }

    /// Whether `sender` may text `their` from `ours` now: not after a STOP, within the
    /// account's texts a day (unless `count_day` is false: the text is counted already)
    /// and the number's a minute. The counts it took (to give back when the text does not
    /// go out).
    async fn may_text(
        &self,
        gateway: &SmsGateway,
        sender: &UserId,
        ours: &str,
        their: &str,
        count_day: bool,
        now: Timestamp,
    ) -> std::result::Result<Vec<String>, Refusal> {
        let day_key = day_key(sender);
        let minute_key = format!("sms-from:{ours}");
        let mut counted = Vec::new();
        let again = |e: hilo_store::StoreError| Refusal::Again(format!("could not read: {e}"));
        if self
            .inner
            .store
            .sms_opted_out(ours, their)
            .await
            .map_err(again)?
        {
            return Err(Refusal::Final(format!(
                "{their} asked for no more texts from {ours} (STOP); they can text START to resume"
            )));
        }
        let day = if count_day {
            gateway.texts_per_account_day
        } else {
            0
        };
        if self
            .count_text(&day_key, day, 24 * 3_600_000, now)
            .await
            .map_err(again)?
            .is_some()
        {
            return Err(Refusal::Final(format!(
                "this account has sent the {day} texts a day it may"
            )));
        }
        if day > 0 {
            counted.push(day_key);
        }
        let minute = gateway.texts_per_number_minute;
        if let Some(started) = self
            .count_text(&minute_key, minute, 60_000, now)
            .await
            .map_err(again)?
        {
            self.uncount_texts(&counted).await;
            return Err(Refusal::Wait(
                format!("waiting: {ours} sends at most {minute} texts a minute"),
                started.plus_millis(60_000),
            ));
        }
        if minute > 0 {
            counted.push(minute_key);
        }
        Ok(counted)
    }

    /// Records that the provider took message `job`'s text as `queued`, however many tries
    /// that takes (it is never sent again meanwhile: `sms_sending` took it out of the
    /// queue), and tells the members.
    async fn record_handed(
        &self,
        job: &MailJob,
        provider: &SmsProvider,
        outgoing: Outgoing,
        segments: &hilo_sms::Segments,
        queued: Queued,
        now: Timestamp,
    ) {
        let store = &self.inner.store;
        let meta = SmsMeta {
            provider: provider.id.clone(),
            sid: queued.sid.clone(),
            inbound: false,
            from: outgoing.from,
            to: outgoing.to,
            // What hilo sent: the provider's own count may differ where it re-encodes.
            segments: u32::try_from(segments.count).unwrap_or(u32::MAX),
            encoding: segments.encoding.as_str().to_owned(),
        };
        let state = delivery_state(queued.status);
        let mut wait = Duration::from_millis(200);
        loop {
            let recorded = async {
                let mut deliveries = store.sms_handed(&job.message_id, &meta, now).await?;
                if state != DeliveryState::Queued
                    && let Some((_, more)) = store
                        .sms_status(&provider.id, &queued.sid, state, None, now)
                        .await?
                {
                    deliveries.extend(more);
                }
                Ok::<_, hilo_store::StoreError>(deliveries)
            }
            .await;
            match recorded {
                Ok(deliveries) => {
                    self.publish_message_update(&job.message_id, &deliveries)
                        .await;
                    return;
                }
                Err(error) if wait < Duration::from_secs(60) => {
                    tracing::warn!(%error, message = %job.message_id, "a text went out; recording it failed, trying again");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
                Err(error) => {
                    tracing::error!(%error, message = %job.message_id, sid = %queued.sid, "a text went out but could not be recorded; it stays out of the queue");
                    return;
                }
            }
        }
    }

    /// The text an earlier try handed over without an answer ([`MailJob::unsure_since`]),
    /// if the provider holds it: looked for by numbers, body and time (a text that is
    /// some message's already is another one), so that it is recorded instead of sent a
    /// second time. The oldest is taken, as the one that try made.
    async fn lost_text(
        &self,
        provider: &SmsProvider,
        text: &Outgoing,
        job: &MailJob,
    ) -> std::result::Result<Option<Queued>, Refusal> {
        let Some(since) = job.unsure_since else {
            return Ok(None);
        };
        let again = |detail: String| {
            Refusal::Again(format!(
                "an earlier try's answer was lost, and whether the provider took it is not known yet: {detail}"
            ))
        };
        let found = provider
            .client
            .sent_since(text, since.millis() - CLOCK_SLACK_MS)
            .await
            .map_err(again)?;
        for queued in found.into_iter().rev() {
            let known = self
                .inner
                .store
                .sms_known(&provider.id, &queued.sid, false)
                .await
                .map_err(|e| again(e.to_string()))?;
            if !known {
                tracing::info!(message = %job.message_id, sid = %queued.sid, "a text whose answer was lost was found at the provider");
                return Ok(Some(queued));
            }
        }
        Ok(None)
    }

    /// Counts a text under `key`, at most `limit` (0: no limit) a `window_ms`: `None`
    /// when counted, or the start of the window it is over (and then it is not counted).
    async fn count_text(
        &self,
        key: &str,
        limit: u32,
        window_ms: i64,
        now: Timestamp,
    ) -> hilo_store::StoreResult<Option<Timestamp>> {
        if limit == 0 {
            return Ok(None);
        }
        let store = &self.inner.store;
        let (count, started) = store.bump(key, window_ms, false, now).await?;
        if count <= i64::from(limit) {
            return Ok(None);
        }
        store.refund(key).await?;
        Ok(Some(started))
    }

    /// Gives back the counts of a text that did not go out.
    async fn uncount_texts(&self, keys: &[String]) {
        for key in keys {
            if let Err(error) = self.inner.store.refund(key).await {
                tracing::warn!(%error, "could not give back a text's count");
            }
        }
    }

    /// The provider this webhook is for and its form, once its signature is checked
    /// (nothing of it is read before).
    fn checked_provider<'a>(
        &self,
        gateway: &'a SmsGateway,
        hook: &SmsWebhook<'_>,
    ) -> Result<(&'a SmsProvider, Vec<(String, String)>)> {
        let provider = gateway
            .provider(hook.provider)
            .ok_or(Error::NotFound("sms provider"))?;
        let wanted = provider.client.signature_header();
        let signature = hook
            .headers
            .iter()
            .find(|(name, _)| name == wanted)
            .map(|(_, value)| value.as_str())
            .ok_or_else(bad_signature)?;
        let params = hilo_sms::twilio::form(hook.body).map_err(|_| bad_signature())?;
        if !provider.client.verify(hook.url, &params, signature) {
            return Err(bad_signature());
        }
        Ok((provider, params))
    }

    /// A status callback: the text's message moves forward (never back).
    pub async fn sms_status_webhook(&self, hook: SmsWebhook<'_>) -> Result<()> {
        let gateway = self.sms().ok_or(Error::NotFound("sms provider"))?;
        let (provider, params) = self.checked_provider(gateway, &hook)?;
        let Some(report) = provider
            .client
            .status(&params)
            .map_err(|e| Error::bad_request("invalid_webhook", e.0))?
        else {
            return Ok(());
        };
        let state = delivery_state(report.status);
        let detail = match (state, report.error_code) {
            (DeliveryState::Failed, Some(code)) => Some(format!(
                "{} (error {code})",
                provider.client.error_text(code)
            )),
            (DeliveryState::Failed, None) => Some("it was not delivered".to_owned()),
            _ => None,
        };
        let now = self.inner.clock.now();
        let moved = self
            .inner
            .store
            .sms_status(&provider.id, &report.sid, state, detail, now)
            .await?;
        if let Some((message, deliveries)) = moved {
            self.publish_message_update(&message, &deliveries).await;
        }
        Ok(())
    }

    /// A text someone sent to one of the server's numbers. What to answer the provider
    /// with (content type and body, in its own format): a text back (HELP), or nothing.
    pub async fn sms_inbound_webhook(
        &self,
        hook: SmsWebhook<'_>,
    ) -> Result<(&'static str, String)> {
        let gateway = self.sms().ok_or(Error::NotFound("sms provider"))?.clone();
        let (provider, params) = self.checked_provider(&gateway, &hook)?;
        let inbound = provider
            .client
            .inbound(&params)
            .map_err(|e| Error::bad_request("invalid_webhook", e.0))?;
        let (hilo, shared, id) = (self.clone(), gateway.clone(), provider.id.clone());
        // Taken whole even if the provider hangs up (it tries again, and then finds it).
        let answer = self
            .detached(async move {
                let provider = shared
                    .provider(&id)
                    .ok_or(Error::NotFound("sms provider"))?;
                hilo.take_text(&shared, provider, inbound).await
            })
            .await?;
        Ok(provider.client.reply(answer.as_deref()))
    }

    /// Stores a checked inbound text; the text to answer it with, if any.
    async fn take_text(
        &self,
        gateway: &SmsGateway,
        provider: &SmsProvider,
        inbound: Inbound,
    ) -> Result<Option<String>> {
        // A text delivered again: nothing more to do (its files are not fetched twice).
        if self
            .inner
            .store
            .sms_known(&provider.id, &inbound.sid, true)
            .await?
        {
            let help = keyword(&inbound.body) == Some(Keyword::Help);
            return Ok(help.then(|| self.help_text()));
        }
        let (Ok(from), Ok(ours)) = (
            validate::phone_number(&inbound.from),
            validate::phone_number(&inbound.to),
        ) else {
            // A short code or a sender name: nobody to answer.
            tracing::info!(provider = %provider.id, "a text from or to something that is no phone number was dropped");
            return Ok(None);
        };
        if !provider.numbers.contains(&ours) {
            tracing::info!(provider = %provider.id, "a text to a number this server does not hold was dropped");
            return Ok(None);
        }
        let now = self.inner.clock.now();
        let store = &self.inner.store;
        let word = keyword(&inbound.body);
        match word {
            Some(Keyword::Stop) => store.set_sms_opt_out(&ours, &from, true, now).await?,
            Some(Keyword::Start) => store.set_sms_opt_out(&ours, &from, false, now).await?,
            _ => {}
        }
        let answer = (word == Some(Keyword::Help)).then(|| self.help_text());
        let counted = self
            .within(
                format!("sms-in:{from}"),
                INBOUND_PER_NUMBER_HOUR,
                3_600_000,
                "texts",
            )
            .await;
        if counted.is_err() {
            tracing::info!(provider = %provider.id, "a number over its hourly texts was dropped");
            return Ok(answer);
        }
        let route = store.sms_route(&ours, &from).await?;
        let recipient = match &route {
            Some(conversation) => store.conversation(conversation).await?.and_then(|c| {
                c.members.into_iter().find_map(|m| match m.party {
                    Party::User { id, .. } => Some(id),
                    _ => None,
                })
            }),
            None => match gateway.owner(&ours) {
                Some(username) => store.user_by_username(username).await?.map(|u| u.id),
                None => None,
            },
        };
        let Some(recipient) = recipient else {
            tracing::info!(provider = %provider.id, "a text that no conversation and no owner of the number takes was dropped");
            return Ok(answer);
        };
        let Some(recipient) = store.user(&recipient).await?.filter(|u| !u.suspended) else {
            return Ok(answer);
        };
        let segments = hilo_sms::segments(&inbound.body);
        let meta = SmsMeta {
            provider: provider.id.clone(),
            sid: inbound.sid.clone(),
            inbound: true,
            from: from.clone(),
            to: ours.clone(),
            segments: u32::try_from(segments.count.max(1)).unwrap_or(u32::MAX),
            encoding: segments.encoding.as_str().to_owned(),
        };
        // A blocked number stays blocked whoever verified it: taken, dropped, counted.
        if store.drop_if_blocked(&recipient.id, &from).await? {
            return Ok(answer);
        }
        // A number an account verified speaks for that account.
        if let Some(owner) = store.email_owner(&from).await?
            && owner != recipient.id
            && let Some(owner) = store.user(&owner).await?.filter(|u| !u.suspended)
        {
            self.text_from_account(&owner, &recipient, provider, &inbound, meta)
                .await?;
            return Ok(answer);
        }
        let attachments = self.text_files(&recipient.id, provider, &inbound).await;
        let text = inbound.body.trim().to_owned();
        let spam = route.is_none() && !text.is_empty() && self.mail_judged_spam(&text).await?;
        let ids = &self.inner.ids;
        let new = NewReceived {
            id: MessageId::new(ids.new_id()),
            new_conversation_id: ConversationId::new(ids.new_id()),
            new_contact_id: hilo_core::ContactId::new(ids.new_id()),
            recipient: recipient.id.clone(),
            group: None,
            address: from.clone(),
            display_name: from.clone(),
            text,
            spam,
            via: ReceivedVia::Sms(meta),
            attachments,
            now,
        };
        let hilo = self.clone();
        self.detached(async move {
            let (outcome, opened) = hilo.inner.store.append_received(new).await?;
            let AppendOutcome::Created(message, deliveries, moved) = &outcome else {
                return Ok(());
            };
            // The owner's conversation opened by this text is the pair's from now on.
            if route.is_none() {
                hilo.inner
                    .store
                    .bind_sms_route(&message.conversation_id, &from, &[ours], now)
                    .await?;
            }
            let kind = if opened {
                hilo_core::EventKind::ConversationCreated
            } else {
                hilo_core::EventKind::ConversationUpdated
            };
            hilo.announce_message(message, deliveries, moved, kind)
                .await;
            Ok(())
        })
        .await?;
        Ok(answer)
    }

    /// The answer to HELP.
    fn help_text(&self) -> String {
        let domain = &self.inner.config.mail_domain;
        format!(
            "{domain}: texts to this number reach people on {domain}. Reply STOP to stop texts from it, START to have them again."
        )
    }

    /// A text `owner` sent from a number of theirs to a number whose conversation is
    /// `recipient`'s: `owner`'s message in their direct conversation, with a send's
    /// checks (a block or who may message drops it).
    async fn text_from_account(
        &self,
        owner: &User,
        recipient: &User,
        provider: &SmsProvider,
        inbound: &Inbound,
        meta: SmsMeta,
    ) -> Result<()> {
        let Some(conversation) = self.direct_unless_blocked(&owner.id, &recipient.id).await? else {
            return Ok(());
        };
        let first_contact = match self.reach(&owner.id, &conversation).await {
            Ok(folder) => folder == Some(hilo_core::Folder::Requests),
            Err(Error::Forbidden { .. }) => return Ok(()),
            Err(error) => return Err(error),
        };
        let text = inbound.body.trim().to_owned();
        let spam = first_contact && !text.is_empty() && self.judged_spam(&owner.id, &text).await?;
        let attachments = self.text_files(&owner.id, provider, inbound).await;
        let outcome = self
            .append(NewMessage {
                channel: Channel::Sms,
                spam,
                attachments,
                sms: Some(meta),
                ..NewMessage::text(
                    MessageId::new(self.inner.ids.new_id()),
                    conversation,
                    owner.id.clone(),
                    text,
                    // The provider's id makes it idempotent: the same text is one message.
                    format!("sms:{}:{}", provider.id, inbound.sid),
                    self.inner.clock.now(),
                )
            })
            .await;
        match outcome {
            Ok(_)
            | Err(Error::Forbidden { .. } | Error::NotFound(_) | Error::BadRequest { .. }) => {
                Ok(())
            }
            Err(error) => Err(error),
        }
    }

    /// An MMS's files, fetched from the provider and stored as `uploader`'s uploads; a
    /// file that cannot be fetched (too large, gone) is left out, and said so in the log.
    async fn text_files(
        &self,
        uploader: &UserId,
        provider: &SmsProvider,
        inbound: &Inbound,
    ) -> Vec<hilo_core::AttachmentId> {
        let max = MEDIA_MAX.min(self.inner.config.attachment_max_bytes);
        let mut stored = Vec::new();
        for (n, media) in inbound.media.iter().enumerate() {
            let bytes = match provider.client.media(&media.url, max).await {
                Ok(bytes) if !bytes.is_empty() => bytes,
                Ok(_) => continue,
                Err(error) => {
                    tracing::info!(%error, provider = %provider.id, "an MMS file was left out");
                    continue;
                }
            };
            let name = format!("mms-{}{}", n + 1, extension(&media.content_type));
            let body = futures::stream::once(async move {
                Ok::<_, std::convert::Infallible>(bytes::Bytes::from(bytes))
            });
            match self.store_file(uploader, Some(&name), Box::pin(body)).await {
                Ok(attachment) => stored.push(attachment.id),
                Err(error) => tracing::info!(%error, "an MMS file could not be stored"),
            }
        }
        stored
    }

    /// Opens the caller's direct conversation with a phone number (a contact, made if
    /// new), who gets what is written there by SMS from one of the server's numbers.
    pub(crate) async fn open_with_number(
        &self,
        caller: &Caller,
        number: &str,
    ) -> Result<(hilo_core::ConversationView, bool)> {
        let number = validate::phone_number(number)?;
        let Some(gateway) = self.sms() else {
            return Err(Error::bad_request(
                "unsupported_address",
                "this server sends no SMS (no provider is configured); give an email address",
            ));
        };
        // A number every one of the server's numbers already texts for someone else
        // cannot be given another conversation: its replies would have nowhere to go.
        let store = &self.inner.store;
        let candidates = gateway.candidates(&caller.user.username);
        let mut free = false;
        for ours in &candidates {
            match store.sms_route(ours, &number).await? {
                None => free = true,
                Some(conversation) => {
                    if store.conversation(&conversation).await?.is_some_and(|c| {
                        c.members.iter().any(
                            |m| matches!(&m.party, Party::User { id, .. } if *id == caller.user.id),
                        )
                    }) {
                        free = true;
                    }
                }
            }
            if free {
                break;
            }
        }
        if !free {
            return Err(busy(&number));
        }
        let (view, created) = self.open_contact(caller, number.clone()).await?;
        // The number it texts from is chosen now, so the next one to open a conversation
        // with this person sees it taken.
        let bound = store
            .bind_sms_route(
                &view.conversation.id,
                &number,
                &candidates,
                self.inner.clock.now(),
            )
            .await?;
        if bound.is_none() {
            // Taken by someone else a moment ago: the conversation stays (empty), and
            // nothing can be texted from it.
            return Err(busy(&number));
        }
        Ok((view, created))
    }

    /// Whether this server can text: an SMS provider is configured.
    pub fn sms_available(&self) -> bool {
        self.sms().is_some()
    }

    /// The caller's phone numbers, oldest first.
    pub async fn phones(&self, caller: &Caller) -> Result<Vec<hilo_store::UserEmail>> {
        self.own_addresses(caller, &PHONE).await
    }

    /// Adds a phone number to the caller's and texts it a code (again, with a new code,
    /// while it waits). Without an SMS provider, nothing is added.
    pub async fn add_phone(&self, caller: &Caller, number: &str) -> Result<hilo_store::UserEmail> {
        let number = validate::phone_number(number)?;
        self.may_add_address(caller, &number, &PHONE).await?;
        let Some(gateway) = self.sms() else {
            return Err(Error::Unavailable {
                code: "sms_unavailable",
                message: "this server sends no SMS (no provider is configured)".into(),
            });
        };
        let Some(from) = gateway.candidates("").into_iter().next() else {
            return Err(Error::Unavailable {
                code: "sms_unavailable",
                message: "this server has no number to text from".into(),
            });
        };
        let provider = gateway.holder(&from).ok_or(Error::Unavailable {
            code: "sms_unavailable",
            message: "this server has no number to text from".into(),
        })?;
        if self.inner.store.sms_opted_out(&from, &number).await? {
            return Err(Error::bad_request(
                "sms_opted_out",
                format!("{number} asked for no texts from {from}: text START to it first"),
            ));
        }
        let code = self.new_code(caller, &number).await?;
        let domain = &self.inner.config.mail_domain;
        let sent = provider
            .client
            .send(&Outgoing {
                from,
                to: number.clone(),
                body: format!(
                    "{code} is your code to add this number to @{} on {domain}. If you did not ask for it, ignore this text.",
                    caller.user.username
                ),
                status_callback: None,
            })
            .await;
        if let Err(error) = sent {
            return Err(if error.permanent && !error.ours {
                Error::bad_request(
                    "undeliverable_number",
                    format!("that number does not take texts: {}", error.detail),
                )
            } else {
                Error::Unavailable {
                    code: "sms_failed",
                    message: format!("the code could not be texted: {}", error.detail),
                }
            });
        }
        self.keep_code(caller, &number, &code, &PHONE).await
    }

    /// Verifies the caller's waiting `number` with the `code` texted to it.
    pub async fn verify_phone(
        &self,
        caller: &Caller,
        number: &str,
        code: &str,
    ) -> Result<hilo_store::UserEmail> {
        let number = validate::phone_number(number).map_err(|_| Error::NotFound("phone"))?;
        self.confirm_code(caller, &number, code, &PHONE).await
    }

    /// Removes one of the caller's phone numbers.
    pub async fn remove_phone(&self, caller: &Caller, number: &str) -> Result<()> {
        let number = validate::phone_number(number).map_err(|_| Error::NotFound("phone"))?;
        if self
            .inner
            .store
            .remove_email(&caller.user.id, &number, false)
            .await?
        {
            Ok(())
        } else {
            Err(Error::NotFound("phone"))
        }
    }
}

/// Why a text did not go out this time.
enum Refusal {
    /// Another sender took it over (this one's lease ran out): nothing to record.
    LeaseLost,
    /// Never will: the message fails with this reason.
    Final(String),
    /// Try again later, with back-off.
    Again(String),
    /// Try again at this time (a limit's window ends).
    Wait(String, Timestamp),
    /// Try again later, with back-off, looking first for this try at the provider: its
    /// answer was lost, so it may have been taken.
    Unsure(String),
}

/// A file name's extension for a media type.
fn extension(content_type: &str) -> &'static str {
    match content_type.split(';').next().unwrap_or("").trim() {
        "image/jpeg" => ".jpg",
        "image/png" => ".png",
        "image/gif" => ".gif",
        "image/webp" => ".webp",
        "video/mp4" => ".mp4",
        "video/3gpp" => ".3gp",
        "audio/mpeg" => ".mp3",
        "audio/amr" => ".amr",
        "text/vcard" | "text/x-vcard" => ".vcf",
        "application/pdf" => ".pdf",
        _ => "",
    }
}
