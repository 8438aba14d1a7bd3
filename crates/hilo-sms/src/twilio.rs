//! Twilio's wire format (API version 2010-04-01).
//!
//! - **Webhooks** (an inbound text, a delivery status) are form-encoded POSTs signed in
//!   `X-Twilio-Signature`: base64 of HMAC-SHA1, keyed with the account's auth token, over
//!   the full URL Twilio was given (query included) followed by every posted parameter,
//!   sorted by name, as `name` + `value` (a repeated name once per value, its values
//!   sorted). Twilio adds parameters without notice, so all of them are signed and the
//!   unknown ones ignored after the check. The answer is empty TwiML ([`EMPTY_TWIML`]).
//! - **Sending** is `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` with basic
//!   auth, form parameters `To`, `From`, `Body`, `StatusCallback`; 201 with the message as
//!   JSON, or an error `{code, message, more_info, status}`. 429 and 5xx may be tried
//!   again; any other error will not change by trying (21610: the recipient sent STOP).
//! - **Finding a send whose answer was lost** is `GET …/Messages.json?From=&To=`: the
//!   account's texts between the two numbers, newest first, each with its `body` and
//!   `date_created` (RFC 2822).

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha1::Sha1;

use crate::provider::Provider;
pub use crate::provider::{
    Inbound, Media, Outgoing, Queued, SendError, Status, StatusReport, WebhookError,
};

/// The answer to a webhook: nothing to send back.
pub const EMPTY_TWIML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>";

/// Twilio's API.
pub const API_BASE: &str = "https://api.twilio.com";

/// Error 21610: the recipient has opted out (sent STOP); nothing reaches them.
pub const OPTED_OUT: u32 = 21610;

/// Errors that are the sending account's or number's, not the recipient's: credentials
/// (20003), a From that is no number of the account's (21212, 21606, 21659), a region the
/// account may not text (21408), a suspended account (20005, 30002).
const ACCOUNT_ERRORS: [u32; 7] = [20003, 20005, 21212, 21408, 21606, 21659, 30002];

/// Longest body Twilio sends (characters).
pub const MAX_BODY: usize = 1_600;

/// Most parameters a webhook may carry (Twilio sends about 20; 10 media add 20).
pub const MAX_PARAMS: usize = 100;

/// Largest webhook body read (bytes).
pub const MAX_FORM: usize = 64 * 1024;

/// A webhook's form (`application/x-www-form-urlencoded`), its fields in order: at most
/// [`MAX_FORM`] bytes and [`MAX_PARAMS`] fields.
pub fn form(body: &[u8]) -> Result<Vec<(String, String)>, WebhookError> {
    if body.len() > MAX_FORM {
        return Err(WebhookError("the form is larger than 64 KiB".into()));
    }
    let mut params = Vec::new();
    for (name, value) in form_urlencoded::parse(body) {
        if params.len() == MAX_PARAMS {
            return Err(WebhookError(format!("more than {MAX_PARAMS} fields")));
        }
        params.push((name.into_owned(), value.into_owned()));
    }
    Ok(params)
}

fn mac(auth_token: &str, url: &str, params: &[(String, String)]) -> Hmac<Sha1> {
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).expect("any key length");
    mac.update(url.as_bytes());
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    // By name, then value: a stable sort by name keeps nothing of the posted order.
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()).then(a.1.cmp(&b.1)));
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    mac
}

/// The signature Twilio puts on a webhook to `url` with `params` (decoded).
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    STANDARD.encode(mac(auth_token, url, params).finalize().into_bytes())
}

/// Whether `header` (the `X-Twilio-Signature`) signs this webhook; compared in constant
/// time.
pub fn verify(auth_token: &str, url: &str, params: &[(String, String)], header: &str) -> bool {
    let Ok(given) = STANDARD.decode(header.trim()) else {
        return false;
    };
    mac(auth_token, url, params).verify_slice(&given).is_ok()
}

fn field<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn required<'a>(params: &'a [(String, String)], name: &str) -> Result<&'a str, WebhookError> {
    field(params, name)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| WebhookError(format!("{name} is missing")))
}

/// A Twilio id: two letters and 32 hex digits (`SM…`, `MM…`, `AC…`).
fn sid<'a>(params: &'a [(String, String)], name: &str) -> Result<&'a str, WebhookError> {
    let value = required(params, name)?;
    let ok = value.len() == 34
        && value.bytes().take(2).all(|b| b.is_ascii_uppercase())
        && value.bytes().skip(2).all(|b| b.is_ascii_hexdigit());
    if ok {
        Ok(value)
    } else {
        Err(WebhookError(format!("{name} is not a Twilio id")))
    }
}

impl Inbound {
    /// Reads the inbound-message webhook's parameters.
    pub fn from_params(params: &[(String, String)]) -> Result<Inbound, WebhookError> {
        let count: usize = field(params, "NumMedia")
            .unwrap_or("0")
            .parse()
            .map_err(|_| WebhookError("NumMedia is not a number".into()))?;
        if count > 10 {
            return Err(WebhookError("more than 10 media".into()));
        }
        let media = (0..count)
            .map(|n| {
                Ok(Media {
                    url: required(params, &format!("MediaUrl{n}"))?.to_owned(),
                    content_type: field(params, &format!("MediaContentType{n}"))
                        .unwrap_or("application/octet-stream")
                        .to_owned(),
                })
            })
            .collect::<Result<Vec<_>, WebhookError>>()?;
        let body = field(params, "Body").unwrap_or_default();
        if body.chars().count() > MAX_BODY {
            return Err(WebhookError("Body is longer than 1,600 characters".into()));
        }
        Ok(Inbound {
            sid: sid(params, "MessageSid")?.to_owned(),
            account_sid: sid(params, "AccountSid")?.to_owned(),
            from: required(params, "From")?.to_owned(),
            to: required(params, "To")?.to_owned(),
            body: body.to_owned(),
            media,
        })
    }
}

impl Status {
    /// Twilio's word for it; `None` for a status hilo has no use for (scheduled,
    /// canceled, receiving…).
    pub fn parse(word: &str) -> Option<Status> {
        Some(match word {
            "accepted" => Status::Accepted,
            "queued" => Status::Queued,
            "sending" => Status::Sending,
            "sent" => Status::Sent,
            "undelivered" => Status::Undelivered,
            "failed" => Status::Failed,
            "delivered" => Status::Delivered,
            "read" => Status::Read,
            _ => return None,
        })
    }

    /// Whether the text will not arrive.
    pub fn is_failure(self) -> bool {
        matches!(self, Status::Undelivered | Status::Failed)
    }
}

impl StatusReport {
    /// Reads the status callback's parameters.
    pub fn from_params(params: &[(String, String)]) -> Result<StatusReport, WebhookError> {
        let word = field(params, "MessageStatus")
            .or_else(|| field(params, "SmsStatus"))
            .ok_or_else(|| WebhookError("MessageStatus is missing".into()))?;
        let status = Status::parse(word)
            .ok_or_else(|| WebhookError(format!("{word:?} is not a status hilo follows")))?;
        let error_code = match field(params, "ErrorCode").filter(|c| !c.is_empty()) {
            Some(code) => Some(
                code.parse()
                    .map_err(|_| WebhookError("ErrorCode is not a number".into()))?,
            ),
            None => None,
        };
        Ok(StatusReport {
            sid: sid(params, "MessageSid")?.to_owned(),
            account_sid: sid(params, "AccountSid")?.to_owned(),
            status,
            error_code,
        })
    }
}

#[derive(Deserialize)]
struct MessageJson {
    sid: String,
    status: String,
    num_segments: Option<String>,
}

/// A text as the Messages API lists it.
#[derive(Deserialize)]
struct ListedJson {
    #[serde(flatten)]
    message: MessageJson,
    body: Option<String>,
    /// RFC 2822: `Mon, 07 Dec 2026 17:04:05 +0000`.
    date_created: Option<String>,
}

#[derive(Deserialize)]
struct ListJson {
    messages: Vec<ListedJson>,
    /// The next (older) page, a path on the API.
    next_page_uri: Option<String>,
}

/// Most pages of texts looked through for a lost one (50 each).
const MAX_PAGES: usize = 20;

/// Unix milliseconds of an RFC 2822 date as Twilio writes them.
fn rfc2822_millis(date: &str) -> Option<i64> {
    let at =
        time::OffsetDateTime::parse(date, &time::format_description::well_known::Rfc2822).ok()?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

impl From<MessageJson> for Queued {
    fn from(message: MessageJson) -> Queued {
        Queued {
            sid: message.sid,
            status: Status::parse(&message.status).unwrap_or(Status::Queued),
            segments: message.num_segments.and_then(|n| n.parse().ok()),
        }
    }
}

#[derive(Deserialize)]
struct ErrorJson {
    code: Option<u32>,
    message: Option<String>,
}

/// An error answer's code and words: Twilio's message (at most 300 characters) with its
/// code, or the HTTP status.
fn error_detail(status: reqwest::StatusCode, bytes: &[u8]) -> (Option<u32>, String) {
    let error: Option<ErrorJson> = serde_json::from_slice(bytes).ok();
    let code = error.as_ref().and_then(|e| e.code);
    let message = error
        .and_then(|e| e.message)
        .map(|m| m.chars().take(300).collect::<String>())
        .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
    let detail = match code {
        Some(code) => format!("{message} (Twilio error {code})"),
        None => message,
    };
    (code, detail)
}

/// One Twilio account's side of the Messages API.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    account_sid: String,
    auth_token: String,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token never reaches a log.
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("account_sid", &self.account_sid)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client of the API at `base` ([`API_BASE`], or a stand-in's address in tests).
    pub fn new(base: &str, account_sid: &str, auth_token: &str) -> Result<Client, String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            // Only ever the API itself: no redirect follows a credentialed request away.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("sms: {e}"))?;
        Ok(Client {
            http,
            base: base.trim_end_matches('/').to_owned(),
            account_sid: account_sid.to_owned(),
            auth_token: auth_token.to_owned(),
        })
    }

    /// The account.
    pub fn account_sid(&self) -> &str {
        &self.account_sid
    }

    /// The auth token (the webhooks' signing key).
    pub fn auth_token(&self) -> &str {
        &self.auth_token
    }

    /// Sends a text.
    pub async fn send(&self, text: &Outgoing) -> Result<Queued, SendError> {
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.base, self.account_sid
        );
        let mut form: Vec<(&str, &str)> =
            vec![("To", &text.to), ("From", &text.from), ("Body", &text.body)];
        if let Some(callback) = &text.status_callback {
            form.push(("StatusCallback", callback));
        }
        let response = self
            .http
            .post(url)
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .form(&form)
            .send()
            .await
            .map_err(|e| {
                // Not answered. Unless the connection was never made, the request may have
                // reached Twilio.
                SendError::transient(
                    format!("the SMS provider could not be reached: {}", without_url(&e)),
                    !e.is_connect(),
                )
            })?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| {
            SendError::transient(
                format!("the SMS provider's answer was cut off: {}", without_url(&e)),
                true,
            )
        })?;
        if status.as_u16() == 201 || status.as_u16() == 200 {
            let message: MessageJson = serde_json::from_slice(&bytes).map_err(|_| {
                SendError::transient("the SMS provider's answer does not read".into(), true)
            })?;
            return Ok(message.into());
        }
        let (code, detail) = error_detail(status, &bytes);
        // 429 is never processed; 5xx is the provider's trouble. Anything else (a bad
        // number, an opted-out recipient, credentials) stays as it is.
        let transient = status.as_u16() == 429 || status.is_server_error();
        Err(SendError {
            permanent: !transient,
            code,
            opted_out: code == Some(OPTED_OUT),
            ours: matches!(status.as_u16(), 401 | 403)
                || code.is_some_and(|c| ACCOUNT_ERRORS.contains(&c)),
            // A 5xx may come from a gateway after Twilio took the text.
            unsure: status.is_server_error(),
            detail,
        })
    }
}

impl Client {
    /// The account's texts from `text.from` to `text.to` with `text.body` created at or
    /// after `since_ms`, newest first: `GET …/Messages.json?From=&To=&PageSize=50`, then
    /// its `next_page_uri` while the pages are not older than `since_ms` (Twilio lists
    /// newest first), at most [`MAX_PAGES`]. The body is compared here: the API does not
    /// filter by it.
    pub async fn sent_since(&self, text: &Outgoing, since_ms: i64) -> Result<Vec<Queued>, String> {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("From", &text.from)
            .append_pair("To", &text.to)
            .append_pair("PageSize", "50")
            .finish();
        let mut url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json?{query}",
            self.base, self.account_sid
        );
        let mut found = Vec::new();
        for _ in 0..MAX_PAGES {
            let page = self.list_page(&url).await?;
            let mut older = false;
            for message in page.messages {
                let at = message.date_created.as_deref().and_then(rfc2822_millis);
                if at.is_none_or(|at| at < since_ms) {
                    older |= at.is_some();
                    continue;
                }
                if message.body.as_deref() == Some(text.body.as_str()) {
                    found.push(message.message.into());
                }
            }
            match page.next_page_uri {
                // Only ever the API itself, which holds the credentials.
                Some(next) if !older && next.starts_with("/2010-04-01/Accounts/") => {
                    url = format!("{}{next}", self.base);
                }
                _ => return Ok(found),
            }
        }
        // Not back to `since_ms` yet: what was not read may hold it.
        Err(format!(
            "more than {MAX_PAGES} pages of texts since the lost answer"
        ))
    }

    async fn list_page(&self, url: &str) -> Result<ListJson, String> {
        let response = self
            .http
            .get(url)
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .send()
            .await
            .map_err(|e| format!("the SMS provider could not be reached: {}", without_url(&e)))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| format!("the SMS provider's answer was cut off: {}", without_url(&e)))?;
        if !status.is_success() {
            return Err(format!("listing texts: {}", error_detail(status, &bytes).1));
        }
        serde_json::from_slice(&bytes)
            .map_err(|_| "the SMS provider's list of texts does not read".into())
    }

    /// Fetches a file of an MMS, at most `max` bytes: only from the API's own origin (a
    /// media URL anywhere else is refused, so a forged webhook cannot make hilo send the
    /// credentials elsewhere or fetch from the inside network), with the account's
    /// credentials. Twilio answers with a redirect to its file store; that is followed
    /// (up to 3 times) without the credentials.
    pub async fn media(&self, url: &str, max: u64) -> Result<Vec<u8>, String> {
        let base = reqwest::Url::parse(&self.base).map_err(|_| "the API base is no URL")?;
        let wanted = reqwest::Url::parse(url).map_err(|_| "the media URL is no URL")?;
        if wanted.origin() != base.origin() || !wanted.username().is_empty() {
            return Err("the media URL is not the provider's".into());
        }
        let mut response = self
            .http
            .get(wanted.clone())
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .send()
            .await
            .map_err(|e| format!("the media could not be fetched: {}", without_url(&e)))?;
        let mut at = wanted;
        for _ in 0..3 {
            if !response.status().is_redirection() {
                break;
            }
            let next = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| at.join(l).ok())
                .ok_or("a redirect without a place")?;
            if !matches!(next.scheme(), "https" | "http") {
                return Err("a redirect to something that is not HTTP".into());
            }
            // No credentials past the API.
            response = self
                .http
                .get(next.clone())
                .send()
                .await
                .map_err(|e| format!("the media could not be fetched: {}", without_url(&e)))?;
            at = next;
        }
        if !response.status().is_success() {
            return Err(format!(
                "the provider answered HTTP {} for the media",
                response.status().as_u16()
            ));
        }
        if response.content_length().is_some_and(|n| n > max) {
            return Err(format!("the media is larger than {max} bytes"));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("the media was cut off: {}", without_url(&e)))?
        {
            if (bytes.len() + chunk.len()) as u64 > max {
                return Err(format!("the media is larger than {max} bytes"));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }
}

/// What a delivery error code of a status callback means, in words (Twilio's 30xxx).
pub fn error_text(code: u32) -> &'static str {
    match code {
        30001 => "the provider's queue overflowed",
        30002 => "the provider account is suspended",
        30003 => "the handset is unreachable",
        30004 => "the recipient blocks these texts",
        30005 => "the number is unknown or no longer exists",
        30006 => "the number is a landline or cannot take texts",
        30007 => "the carrier filtered it as spam",
        30008 => "the carrier could not deliver it",
        30034 => "the sending number is not registered for this traffic",
        _ => "it was not delivered",
    }
}

/// The TwiML answer to an inbound webhook: a text back, or nothing.
pub fn twiml(reply: Option<&str>) -> String {
    let Some(text) = reply else {
        return EMPTY_TWIML.to_owned();
    };
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            c => escaped.push(c),
        }
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>{escaped}</Message></Response>"
    )
}

fn same_account(account_sid: &str, client: &Client) -> Result<(), WebhookError> {
    if account_sid == client.account_sid {
        Ok(())
    } else {
        Err(WebhookError("AccountSid is not this account's".into()))
    }
}

#[async_trait::async_trait]
impl Provider for Client {
    fn signature_header(&self) -> &'static str {
        "x-twilio-signature"
    }

    fn verify(&self, url: &str, params: &[(String, String)], signature: &str) -> bool {
        verify(&self.auth_token, url, params, signature)
    }

    fn inbound(&self, params: &[(String, String)]) -> Result<Inbound, WebhookError> {
        let inbound = Inbound::from_params(params)?;
        same_account(&inbound.account_sid, self)?;
        Ok(inbound)
    }

    fn status(&self, params: &[(String, String)]) -> Result<Option<StatusReport>, WebhookError> {
        let word = field(params, "MessageStatus").or_else(|| field(params, "SmsStatus"));
        if word.is_some_and(|w| Status::parse(w).is_none()) {
            same_account(sid(params, "AccountSid")?, self)?;
            return Ok(None);
        }
        let report = StatusReport::from_params(params)?;
        same_account(&report.account_sid, self)?;
        Ok(Some(report))
    }

    fn reply(&self, text: Option<&str>) -> (&'static str, String) {
        ("text/xml; charset=utf-8", twiml(text))
    }

    fn error_text(&self, code: u32) -> &'static str {
        error_text(code)
    }

    async fn send(&self, text: &Outgoing) -> Result<Queued, SendError> {
        Client::send(self, text).await
    }

    async fn sent_since(&self, text: &Outgoing, since_ms: i64) -> Result<Vec<Queued>, String> {
        Client::sent_since(self, text, since_ms).await
    }

    async fn media(&self, url: &str, max: u64) -> Result<Vec<u8>, String> {
        Client::media(self, url, max).await
    }
}

/// A transport error's text without its URL (which holds the account id).
fn without_url(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(url.as_str(), "the API");
    }
    text
}
