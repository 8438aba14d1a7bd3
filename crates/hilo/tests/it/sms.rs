//! The SMS channel (issue 11, T13) against a stand-in of Twilio on loopback that speaks
//! its wire format: the Messages API (basic auth, form body, 201 JSON or an error JSON
//! with Twilio's code), MMS media behind the API with a redirect to a file store, and
//! signed form-encoded webhooks (inbound texts and status callbacks) posted to hilo.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode as AxumStatus, header};
use axum::response::{IntoResponse, Response};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::mail::{conversations, eventually, history, message_by_id, send_text as send};
use super::support::{TestDb, TestServer, User};

pub(super) const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
pub(super) const TOKEN: &str = "stand-in-auth-token-7f3a9c";
/// Nobody owns it: conversations opened from hilo text from it first.
pub(super) const FREE: &str = "+15005550001";
/// Olga owns it: a stranger's first text to it is a request of hers.
const OLGA_S: &str = "+15005550002";
const PNG: &[u8] = &[
    0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, b'I', b'H', b'D', b'R', 0, 0, 0,
    1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0x1f, 0x15, 0xc4, 0x89, 0, 0, 0, 0x0d, b'I', b'D', b'A', b'T',
    0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0, 0x1f, 0, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d,
    0x1d, 0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xae, 0x42, 0x60, 0x82,
];

/// An answer the stand-in gives to a send instead of the default 201.
enum Answer {
    /// This status and JSON body.
    Json(u16, String),
    /// The connection is cut in the middle of the answer; `taken`: after the text was
    /// taken (Twilio has it, hilo cannot know), or before.
    Cut { taken: bool },
}

/// What the stand-in saw and will answer.
#[derive(Default)]
struct Seen {
    /// Each text posted to the Messages API, as its form.
    texts: Vec<Vec<(String, String)>>,
    /// Answers to give before the default 201, in order.
    answers: VecDeque<Answer>,
    /// The texts taken, as the API lists them, oldest first.
    taken: Vec<Value>,
    /// Queries of the list of texts.
    lists: Vec<String>,
    /// Whether each request to the file store carried an Authorization header.
    store_auth: Vec<bool>,
    /// Sends answered so far (for the ids handed out).
    count: u32,
}

#[derive(Clone)]
pub(super) struct Twilio {
    base: String,
    seen: Arc<Mutex<Seen>>,
}

impl Twilio {
    pub(super) async fn start() -> Twilio {
        // The auth token must never reach a log (the CI run greps for it).
        super::support::capture::secret(TOKEN);
        let seen = Arc::new(Mutex::new(Seen::default()));
        let app = axum::Router::new()
            .route(
                "/2010-04-01/Accounts/{account}/Messages.json",
                axum::routing::post(create_message).get(list_messages),
            )
            .route(
                "/2010-04-01/Accounts/{account}/Messages/{message}/Media/{media}",
                axum::routing::get(media),
            )
            .route("/files/{media}", axum::routing::get(file))
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let base = format!("http://{}", listener.local_addr().expect("bound"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Twilio { base, seen }
    }

    pub(super) fn texts(&self) -> Vec<Vec<(String, String)>> {
        self.seen.lock().expect("lock").texts.clone()
    }

    fn answer_next(&self, status: u16, body: Value) {
        let mut seen = self.seen.lock().expect("lock");
        seen.answers
            .push_back(Answer::Json(status, body.to_string()));
    }

    /// The next send's answer is cut off, after the text was taken or before.
    fn cut_next(&self, taken: bool) {
        let mut seen = self.seen.lock().expect("lock");
        seen.answers.push_back(Answer::Cut { taken });
    }

    /// The texts taken (as listed: `sid`, `body`…), oldest first.
    fn taken(&self) -> Vec<Value> {
        self.seen.lock().expect("lock").taken.clone()
    }

    fn lists(&self) -> Vec<String> {
        self.seen.lock().expect("lock").lists.clone()
    }

    /// The media URL of an MMS, as Twilio gives it.
    fn media_url(&self, media: &str) -> String {
        format!(
            "{}/2010-04-01/Accounts/{ACCOUNT}/Messages/MM0123456789abcdef0123456789abcdef/Media/{media}",
            self.base
        )
    }
}

fn authorised(headers: &HeaderMap) -> bool {
    let expected = format!(
        "Basic {}",
        data_encoding::BASE64.encode(format!("{ACCOUNT}:{TOKEN}").as_bytes())
    );
    headers
        .get(header::AUTHORIZATION)
        .is_some_and(|v| v.as_bytes() == expected.as_bytes())
}

fn json_answer(status: u16, body: String) -> Response {
    (
        AxumStatus::from_u16(status).expect("a status"),
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

async fn create_message(
    State(seen): State<Arc<Mutex<Seen>>>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if account != ACCOUNT || !authorised(&headers) {
        return json_answer(
            401,
            json!({"code": 20003, "message": "Authenticate", "status": 401}).to_string(),
        );
    }
    let form: Vec<(String, String)> = url_pairs(&body);
    let mut seen = seen.lock().expect("lock");
    seen.texts.push(form.clone());
    let answered = match seen.answers.pop_front() {
        Some(Answer::Json(status, body)) => return json_answer(status, body),
        Some(Answer::Cut { taken: false }) => return cut_answer(),
        Some(Answer::Cut { taken: true }) => false,
        None => true,
    };
    seen.count += 1;
    let message = json!({
        "sid": format!("SM{:032x}", seen.count),
        "account_sid": ACCOUNT,
        "from": field(&form, "From"),
        "to": field(&form, "To"),
        "body": field(&form, "Body"),
        "status": "queued",
        "num_segments": "1",
        "direction": "outbound-api",
        "date_created": time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc2822)
            .expect("a date"),
    });
    seen.taken.push(message.clone());
    if answered {
        json_answer(201, message.to_string())
    } else {
        cut_answer()
    }
}

/// A 201 whose body stops half-way: the connection is cut.
fn cut_answer() -> Response {
    use futures::StreamExt as _;
    // The head and the first part go out before the line drops.
    let parts =
        futures::stream::once(async { Ok(axum::body::Bytes::from_static(b"{\"sid\": \"SM")) })
            .chain(futures::stream::once(async {
                tokio::time::sleep(Duration::from_millis(100)).await;
                Err(std::io::Error::other("the line dropped"))
            }));
    (
        AxumStatus::CREATED,
        [(header::CONTENT_TYPE, "application/json")],
        axum::body::Body::from_stream(parts),
    )
        .into_response()
}

/// `GET …/Messages.json?From=&To=`: the texts taken between the two, newest first.
async fn list_messages(
    State(seen): State<Arc<Mutex<Seen>>>,
    headers: HeaderMap,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    if !authorised(&headers) {
        return json_answer(
            401,
            json!({"code": 20003, "message": "Authenticate", "status": 401}).to_string(),
        );
    }
    let query = query.unwrap_or_default();
    let asked = url_pairs(&query);
    let mut seen = seen.lock().expect("lock");
    seen.lists.push(query);
    let messages: Vec<Value> = seen
        .taken
        .iter()
        .rev()
        .filter(|m| m["from"] == field(&asked, "From") && m["to"] == field(&asked, "To"))
        .cloned()
        .collect();
    json_answer(
        200,
        json!({"messages": messages, "page": 0, "page_size": 50, "next_page_uri": null})
            .to_string(),
    )
}

async fn media(
    Path((_, _, media)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if !authorised(&headers) {
        return AxumStatus::UNAUTHORIZED.into_response();
    }
    (
        AxumStatus::TEMPORARY_REDIRECT,
        [(header::LOCATION, format!("/files/{media}"))],
    )
        .into_response()
}

async fn file(State(seen): State<Arc<Mutex<Seen>>>, headers: HeaderMap) -> Response {
    seen.lock()
        .expect("lock")
        .store_auth
        .push(headers.contains_key(header::AUTHORIZATION));
    ([(header::CONTENT_TYPE, "image/png")], PNG).into_response()
}

fn url_pairs(body: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://x/?{body}"))
        .expect("a form")
        .query_pairs()
        .map(|(n, v)| (n.into_owned(), v.into_owned()))
        .collect()
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> &'a str {
    form.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_default()
}

/// The `[sms]` configuration with the stand-in as provider `tw` holding [`FREE`] and
/// [`OLGA_S`], and `extra` added to its `[sms]` table.
pub(super) fn sms_config(twilio: &Twilio, extra: &str) -> String {
    format!(
        "[sms]\n{extra}\n[[sms.providers]]\nid = \"tw\"\nkind = \"twilio\"\naccount_sid = \"{ACCOUNT}\"\nauth_token = \"{TOKEN}\"\napi_base = \"{}\"\nnumbers = [\"{FREE}\", \"{OLGA_S}\"]\nowners = {{ \"{OLGA_S}\" = \"olga\" }}\n",
        twilio.base
    )
}

/// A server with [`sms_config`].
async fn sms_server(twilio: &Twilio, extra: &str) -> TestServer {
    let db = TestDb::new().await;
    let config = db.data_dir().join("hilo.toml");
    std::fs::write(&config, sms_config(twilio, extra)).expect("config written");
    TestServer::start_on(&db, |args| args.store.config = Some(config)).await
}

/// Posts a webhook signed as Twilio signs it (over the URL posted to and the form) with
/// `token`; the status and body.
pub(super) async fn webhook(
    server: &TestServer,
    path: &str,
    params: &[(&str, &str)],
    token: &str,
) -> (StatusCode, String) {
    let url = server.url(path);
    let owned: Vec<(String, String)> = params
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    let signature = hilo_sms::twilio::signature(token, &url, &owned);
    post_form(&url, params, Some(&signature)).await
}

async fn post_form(
    url: &str,
    params: &[(&str, &str)],
    signature: Option<&str>,
) -> (StatusCode, String) {
    let mut request = reqwest::Client::new().post(url).form(params);
    if let Some(signature) = signature {
        request = request.header("X-Twilio-Signature", signature);
    }
    let response = request.send().await.expect("hilo answers");
    (response.status(), response.text().await.expect("a body"))
}

fn message_sid(n: u32) -> String {
    format!("SM{:032x}", 0xabc0_0000u32 + n)
}

/// An inbound text from `from` to `to`.
async fn text_in(
    server: &TestServer,
    sid: &str,
    from: &str,
    to: &str,
    body: &str,
) -> (StatusCode, String) {
    webhook(
        server,
        "/api/v1/sms/tw/inbound",
        &[
            ("MessageSid", sid),
            ("SmsSid", sid),
            ("AccountSid", ACCOUNT),
            ("From", from),
            ("To", to),
            ("Body", body),
            ("NumMedia", "0"),
            ("NumSegments", "1"),
            ("ApiVersion", "2010-04-01"),
        ],
        TOKEN,
    )
    .await
}

/// A status callback for the text `sid`.
async fn report(server: &TestServer, sid: &str, status: &str, error: Option<&str>) {
    let mut params = vec![
        ("MessageSid", sid),
        ("SmsSid", sid),
        ("AccountSid", ACCOUNT),
        ("MessageStatus", status),
        ("SmsStatus", status),
        ("From", FREE),
        ("To", "+34600111222"),
        ("ApiVersion", "2010-04-01"),
    ];
    if let Some(code) = error {
        params.push(("ErrorCode", code));
    }
    let (code, body) = webhook(server, "/api/v1/sms/tw/status", &params, TOKEN).await;
    assert_eq!(code, StatusCode::NO_CONTENT, "{body}");
}

async fn open_number(server: &TestServer, user: &User, number: &str) -> (StatusCode, Value) {
    server
        .post(
            "/api/v1/conversations",
            user,
            json!({"kind": "direct", "with_address": number}),
        )
        .await
}

/// The id of `user`'s conversation with phone number `number`, opened (or found) here.
async fn phone_thread(server: &TestServer, user: &User, number: &str) -> String {
    let (status, opened) = open_number(server, user, number).await;
    assert!(status.is_success(), "{status}: {opened}");
    opened["id"].as_str().expect("id").to_owned()
}

/// Waits until message `id` shows delivery state `state`; the message.
async fn delivery_is(server: &TestServer, user: &User, id: &str, state: &str) -> Value {
    eventually(&format!("the text is {state}"), async || {
        let message = message_by_id(server, user, id).await;
        (message["delivery"]["state"] == state).then_some(message)
    })
    .await
}

/// Waits until a try at sending message `id` was recorded (its delivery has a detail).
async fn tried(server: &TestServer, user: &User, id: &str, what: &str) -> Value {
    eventually(what, async || {
        let message = message_by_id(server, user, id).await;
        (!message["delivery"]["detail"].is_null()).then_some(message)
    })
    .await
}

/// Waits until the provider's answer to message `id`'s text is kept (it has `sms`).
async fn handed_text(server: &TestServer, user: &User, id: &str, what: &str) -> Value {
    eventually(what, async || {
        let message = message_by_id(server, user, id).await;
        (!message["sms"].is_null()).then_some(message)
    })
    .await
}

/// Every queued text is due now: the next try comes without sitting out its back-off.
async fn due_now(server: &TestServer) {
    server
        .db
        .execute("UPDATE outbound_mail SET next_attempt_at = 0 WHERE state = 'queued'")
        .await;
}

/// Waits until the stand-in got `count` texts; the last one's form.
async fn texted(twilio: &Twilio, count: usize) -> Vec<(String, String)> {
    eventually(&format!("{count} texts reach the provider"), async || {
        let texts = twilio.texts();
        (texts.len() >= count).then(|| texts[count - 1].clone())
    })
    .await
}

#[tokio::test]
async fn a_phone_contact_gets_texts_and_their_replies_land_in_the_same_thread() {
    let twilio = Twilio::start().await;
    let server = sms_server(&twilio, "").await;
    let ana = server.register("ana").await;
    let (status, opened) = open_number(&server, &ana, "+34 600 11 12 22").await;
    assert_eq!(status, StatusCode::CREATED, "{opened}");
    let conversation = opened["id"].as_str().expect("id").to_owned();
    let contact = opened["members"]
        .as_array()
        .expect("members")
        .iter()
        .find(|m| m["kind"] == "contact")
        .expect("the number is a member")
        .clone();
    assert_eq!(contact["address"], "+34600111222");
    // The same number again is the same conversation.
    let (status, again) = open_number(&server, &ana, "+34600111222").await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["id"], opened["id"]);

    // Out: through the Messages API, from the free number, with a status callback.
    let sent = send(
        &server,
        &ana,
        &conversation,
        "t1",
        "Hola, ¿qué tal? Nos vemos mañana",
    )
    .await;
    assert_eq!(sent["delivery"]["state"], "queued", "{sent}");
    let form = texted(&twilio, 1).await;
    assert_eq!(field(&form, "From"), FREE);
    assert_eq!(field(&form, "To"), "+34600111222");
    assert_eq!(field(&form, "Body"), "Hola, ¿qué tal? Nos vemos mañana");
    assert_eq!(
        field(&form, "StatusCallback"),
        server.url("/api/v1/sms/tw/status")
    );
    let id = sent["id"].as_str().expect("id");
    let handed = handed_text(&server, &ana, id, "the provider's answer is kept").await;
    // `¿ é ñ` are in the GSM alphabet: one GSM-7 part.
    assert_eq!(handed["sms"]["encoding"], "gsm7", "{handed}");
    assert_eq!(handed["sms"]["segments"], 1);
    assert_eq!(handed["sms"]["from"], FREE);
    assert_eq!(handed["delivery"]["state"], "queued");

    // Status callbacks move it forward, and never back.
    let sid = "SM00000000000000000000000000000001";
    report(&server, sid, "sent", None).await;
    delivery_is(&server, &ana, id, "sent").await;
    report(&server, sid, "delivered", None).await;
    delivery_is(&server, &ana, id, "delivered").await;
    report(&server, sid, "sent", None).await;
    report(&server, sid, "queued", None).await;
    // A status hilo does not follow is taken and ignored.
    report(&server, sid, "canceled", None).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        message_by_id(&server, &ana, id).await["delivery"]["state"],
        "delivered"
    );

    // `á` is not: the whole text is UCS-2, 70 a part, 67 each once split.
    let long = "á".repeat(71);
    let accented = send(&server, &ana, &conversation, "t2", &long).await;
    let accented_id = accented["id"].as_str().expect("id");
    texted(&twilio, 2).await;
    let accented = handed_text(&server, &ana, accented_id, "the second text is handed").await;
    assert_eq!(accented["sms"]["encoding"], "ucs2", "{accented}");
    assert_eq!(accented["sms"]["segments"], 2);
    // A failure says why, and a late `sent` does not undo it.
    let sid2 = "SM00000000000000000000000000000002";
    report(&server, sid2, "undelivered", Some("30003")).await;
    let failed = delivery_is(&server, &ana, accented_id, "failed").await;
    let detail = failed["delivery"]["detail"].as_str().expect("a reason");
    assert!(
        detail.contains("unreachable") && detail.contains("30003"),
        "{detail}"
    );
    report(&server, sid2, "sent", None).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        message_by_id(&server, &ana, accented_id).await["delivery"]["state"],
        "failed"
    );

    // In: the reply to the number that texted them is the contact's, in this thread.
    let (code, answer) = text_in(
        &server,
        &message_sid(1),
        "+34600111222",
        FREE,
        "¡Genial! Allí estaré",
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{answer}");
    assert!(answer.contains("<Response"), "TwiML: {answer}");
    let messages = history(&server, &ana, &conversation).await;
    let reply = messages.last().expect("the reply");
    assert_eq!(reply["text"], "¡Genial! Allí estaré");
    assert_eq!(reply["channel"], "sms");
    assert_eq!(reply["sender"]["kind"], "contact");
    assert_eq!(reply["sender"]["address"], "+34600111222");
    assert_eq!(reply["sms"]["to"], FREE);
    assert!(reply["delivery"].is_null(), "nothing to deliver: {reply}");
    // Ana opened it: in her inbox, not her requests.
    assert!(conversations(&server, &ana, "requests").await.is_empty());
}

#[tokio::test]
async fn forged_and_tampered_webhooks_are_refused_and_change_nothing() {
    let twilio = Twilio::start().await;
    let server = sms_server(&twilio, "").await;
    let olga = server.register("olga").await;
    let sid = message_sid(7);
    let params = [
        ("MessageSid", sid.as_str()),
        ("AccountSid", ACCOUNT),
        ("From", "+34611000007"),
        ("To", OLGA_S),
        ("Body", "hola"),
    ];
    let path = "/api/v1/sms/tw/inbound";
    let url = server.url(path);
    let owned: Vec<(String, String)> = params
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    let good = hilo_sms::twilio::signature(TOKEN, &url, &owned);
    // No signature; another token's; the body changed after signing; the URL changed
    // (a query added, another provider's path).
    let tampered: Vec<(&str, &str)> = params
        .iter()
        .map(|&(n, v)| if n == "Body" { (n, "adiós") } else { (n, v) })
        .collect();
    // (URL posted to, form, signature)
    type Case<'a> = (String, Vec<(&'a str, &'a str)>, Option<String>);
    let cases: Vec<Case> = vec![
        (url.clone(), params.to_vec(), None),
        (
            url.clone(),
            params.to_vec(),
            Some(hilo_sms::twilio::signature("another-token", &url, &owned)),
        ),
        (url.clone(), tampered, Some(good.clone())),
        (format!("{url}?x=1"), params.to_vec(), Some(good.clone())),
        (
            url.clone(),
            params.to_vec(),
            Some("bm90IGEgc2lnbmF0dXJl".into()),
        ),
    ];
    for (to, form, signature) in cases {
        let (code, body) = post_form(&to, &form, signature.as_deref()).await;
        assert_eq!(code, StatusCode::UNAUTHORIZED, "{to} {form:?}: {body}");
        assert!(body.contains("invalid_signature"), "{body}");
    }
    let (code, body) = post_form(
        &server.url("/api/v1/sms/tw/status"),
        &[
            ("MessageSid", sid.as_str()),
            ("AccountSid", ACCOUNT),
            ("MessageStatus", "delivered"),
        ],
        Some(&good),
    )
    .await;
    assert_eq!(code, StatusCode::UNAUTHORIZED, "{body}");
    let (code, _) = webhook(&server, "/api/v1/sms/nobody/inbound", &params, TOKEN).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert!(conversations(&server, &olga, "requests").await.is_empty());
    // Signed, but not Twilio's form: a clear 400.
    let (code, body) = webhook(&server, path, &[("AccountSid", ACCOUNT)], TOKEN).await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{body}");
    // The real one goes through.
    let (code, body) = post_form(&url, &params, Some(&good)).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(conversations(&server, &olga, "requests").await.len(), 1);
}

#[tokio::test]
async fn the_same_text_delivered_five_times_at_once_is_one_message() {
    let twilio = Twilio::start().await;
    let server = sms_server(&twilio, "").await;
    let olga = server.register("olga").await;
    let sid = message_sid(5);
    let deliveries = (0..5).map(|_| {
        text_in(
            &server,
            &sid,
            "+34611000005",
            OLGA_S,
            "¿Tenéis mesa para dos?",
        )
    });
    for (code, body) in futures::future::join_all(deliveries).await {
        assert_eq!(code, StatusCode::OK, "{body}");
    }
    // And once more later, as a retry would.
    text_in(
        &server,
        &sid,
        "+34611000005",
        OLGA_S,
        "¿Tenéis mesa para dos?",
    )
    .await;
    let requests = conversations(&server, &olga, "requests").await;
    assert_eq!(requests.len(), 1, "{requests:?}");
    let messages = history(&server, &olga, requests[0]["id"].as_str().expect("id")).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["text"], "¿Tenéis mesa para dos?");
    assert_eq!(messages[0]["channel"], "sms");
}

#[tokio::test]
async fn a_stranger_s_text_is_a_request_of_the_number_s_owner_with_its_mms_files() {
    let twilio = Twilio::start().await;
    let server = sms_server(&twilio, "").await;
    let olga = server.register("olga").await;
    let sid = message_sid(9);
    let good = twilio.media_url("ME0123456789abcdef0123456789abcdef");
    // A media URL outside the provider's API is never fetched.
    let elsewhere = "http://127.0.0.1:9/2010-04-01/evil.png";
    let (code, body) = webhook(
        &server,
        "/api/v1/sms/tw/inbound",
        &[
            ("MessageSid", &sid),
            ("AccountSid", ACCOUNT),
            ("From", "+34611000009"),
            ("To", OLGA_S),
            ("Body", "Mira la foto"),
            ("NumMedia", "2"),
            ("MediaUrl0", &good),
            ("MediaContentType0", "image/png"),
            ("MediaUrl1", elsewhere),
            ("MediaContentType1", "image/png"),
        ],
        TOKEN,
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let requests = conversations(&server, &olga, "requests").await;
    assert_eq!(requests.len(), 1, "a stranger's text is a request");
    let messages = history(&server, &olga, requests[0]["id"].as_str().expect("id")).await;
    let attachments = messages[0]["attachments"].as_array().expect("attachments");
    assert_eq!(attachments.len(), 1, "{attachments:?}");
    assert_eq!(attachments[0]["content_type"], "image/png");
    // Fetched with the account's credentials from the API; the file store never saw them.
    assert_eq!(twilio.seen.lock().expect("lock").store_auth, vec![false]);
    // Delivered again, it is the same message, and its files are not fetched again.
    let (code, _) = webhook(
        &server,
        "/api/v1/sms/tw/inbound",
        &[
            ("MessageSid", &sid),
            ("AccountSid", ACCOUNT),
            ("From", "+34611000009"),
            ("To", OLGA_S),
            ("Body", "Mira la foto"),
            ("NumMedia", "1"),
            ("MediaUrl0", &good),
            ("MediaContentType0", "image/png"),
        ],
        TOKEN,
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(twilio.seen.lock().expect("lock").store_auth, vec![false]);
    assert_eq!(
        history(&server, &olga, requests[0]["id"].as_str().expect("id"))
            .await
            .len(),
        1
    );
    let (status, _) = server
        .call(
            "GET",
            attachments[0]["url"].as_str().expect("url"),
            Some(&olga.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Olga answers: texted from her own number, and the reply comes back to her.
    let conversation = requests[0]["id"].as_str().expect("id");
    send(&server, &olga, conversation, "o1", "¡Qué bonita!").await;
    let form = texted(&twilio, 1).await;
    assert_eq!(field(&form, "From"), OLGA_S);
    assert_eq!(field(&form, "To"), "+34611000009");

    // Blocked, the number's texts are taken and dropped.
    let (status, body) = server
        .call(
            "PUT",
            "/api/v1/blocks/+34611000009",
            Some(&olga.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (code, _) = text_in(
        &server,
        &message_sid(11),
        "+34611000009",
        OLGA_S,
        "¿Me lees?",
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    let messages = history(&server, &olga, conversation).await;
    assert!(
        messages.iter().all(|m| m["text"] != "¿Me lees?"),
        "{messages:?}"
    );
    let (_, blocks) = server.get("/api/v1/blocks", &olga).await;
    assert_eq!(
        blocks["addresses"][0]["address"], "+34611000009",
        "{blocks}"
    );
    assert_eq!(blocks["addresses"][0]["dropped"], 1, "{blocks}");

    // A text to the number nobody owns, answering nothing, is taken and dropped.
    let (code, _) = text_in(&server, &message_sid(10), "+34611000010", FREE, "¿Hola?").await;
    assert_eq!(code, StatusCode::OK);
    // (Answering moved the stranger's conversation to her inbox.)
    assert!(conversations(&server, &olga, "requests").await.is_empty());
    assert_eq!(conversations(&server, &olga, "inbox").await.len(), 1);
}

#[tokio::test]
async fn stop_ends_texts_to_a_number_start_resumes_them_and_help_is_answered() {
    let twilio = Twilio::start().await;
    let server = sms_server(&twilio, "").await;
    let ana = server.register("ana").await;
    let conversation = phone_thread(&server, &ana, "+34600222333").await;
    send(&server, &ana, &conversation, "a1", "¿Vienes el sábado?").await;
    texted(&twilio, 1).await;

    let (code, body) = text_in(&server, &message_sid(20), "+34600222333", FREE, "stop").await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let stopped = send(&server, &ana, &conversation, "a2", "¿Hola?").await;
    let failed = delivery_is(&server, &ana, stopped["id"].as_str().expect("id"), "failed").await;
    assert!(
        failed["delivery"]["detail"]
            .as_str()
            .expect("why")
            .contains("STOP"),
        "{failed}"
    );
    assert_eq!(twilio.texts().len(), 1, "nothing is sent after STOP");
    // The STOP itself is in the thread: Ana sees why.
    let texts: Vec<Value> = history(&server, &ana, &conversation).await;
    assert!(texts.iter().any(|m| m["text"] == "stop"));

    let (code, body) = text_in(&server, &message_sid(21), "+34600222333", FREE, "HELP").await;
    assert_eq!(code, StatusCode::OK);
    assert!(
        body.contains("<Message>") && body.contains("STOP"),
        "{body}"
    );

    text_in(&server, &message_sid(22), "+34600222333", FREE, "START").await;
    let resumed = send(&server, &ana, &conversation, "a3", "¡Bienvenido de nuevo!").await;
    let form = texted(&twilio, 2).await;
    assert_eq!(field(&form, "Body"), "¡Bienvenido de nuevo!");
    delivery_is(&server, &ana, resumed["id"].as_str().expect("id"), "queued").await;

    // The provider's own word (21610: they sent STOP where hilo did not see it) stops
    // texts too, at once and for the next ones.
    twilio.answer_next(
        400,
        json!({"code": 21610, "message": "Attempt to send to unsubscribed recipient", "status": 400}),
    );
    let refused = send(&server, &ana, &conversation, "a4", "¿Sigues ahí?").await;
    let failed = delivery_is(&server, &ana, refused["id"].as_str().expect("id"), "failed").await;
    assert!(
        failed["delivery"]["detail"]
            .as_str()
            .expect("why")
            .contains("21610"),
        "{failed}"
    );
    let next = send(&server, &ana, &conversation, "a5", "¿Y ahora?").await;
    delivery_is(&server, &ana, next["id"].as_str().expect("id"), "failed").await;
    assert_eq!(
        twilio.texts().len(),
        3,
        "the last one never reached the provider"
    );
}

#[tokio::test]
async fn provider_errors_are_retried_with_back_off_then_surfaced() {
    let twilio = Twilio::start().await;
    let server = sms_server(&twilio, "").await;
    let ana = server.register("ana").await;
    let conversation = phone_thread(&server, &ana, "+34600333444").await;
    // Twilio's trouble (a 5xx) and its throttle (a 429) are tried again...
    twilio.answer_next(
        500,
        json!({"code": 20500, "message": "Internal Server Error", "status": 500}),
    );
    twilio.answer_next(
        429,
        json!({"code": 20429, "message": "Too Many Requests", "status": 429}),
    );
    let sent = send(&server, &ana, &conversation, "r1", "Reintenta").await;
    let id = sent["id"].as_str().expect("id").to_owned();
    let waiting = tried(&server, &ana, &id, "the first try failed").await;
    assert_eq!(waiting["delivery"]["state"], "queued", "{waiting}");
    assert!(waiting["sms"].is_null());
    // ... after 5 s, then 30 s: the third try is the one taken. (Only the first wait
    // is sat through here; once the second try is recorded, the store is told the
    // third is due.)
    eventually("the second try is recorded", async || {
        let message = message_by_id(&server, &ana, &id).await;
        message["delivery"]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("20429"))
            .then_some(())
    })
    .await;
    assert_eq!(twilio.texts().len(), 2);
    due_now(&server).await;
    texted(&twilio, 3).await;
    let handed = handed_text(&server, &ana, &id, "the text is handed").await;
    assert!(handed["delivery"]["detail"].is_null(), "{handed}");
    assert_eq!(
        twilio.texts().len(),
        3,
        "each try once, the taken one never again"
    );

    // A refusal for good (21211: not a valid number) fails it at once, with the reason.
    twilio.answer_next(
        400,
        json!({"code": 21211, "message": "The 'To' number +34600333444 is not a valid phone number.", "status": 400}),
    );
    let bad = send(&server, &ana, &conversation, "r2", "¿Y este?").await;
    let failed = delivery_is(&server, &ana, bad["id"].as_str().expect("id"), "failed").await;
    let detail = failed["delivery"]["detail"].as_str().expect("why");
    assert!(
        detail.contains("21211") && detail.contains("not a valid phone number"),
        "{detail}"
    );
    assert!(
        !detail.contains(TOKEN) && !detail.contains(ACCOUNT),
        "{detail}"
    );

    // This server's own trouble (its credentials, 20003) fails nothing: the text waits to
    // be tried again once it is put right.
    twilio.answer_next(
        401,
        json!({"code": 20003, "message": "Authenticate", "status": 401}),
    );
    let waits = send(&server, &ana, &conversation, "r3", "¿Sigue ahí?").await;
    let waits_id = waits["id"].as_str().expect("id").to_owned();
    let waiting = tried(&server, &ana, &waits_id, "the try is recorded").await;
    assert_eq!(waiting["delivery"]["state"], "queued", "{waiting}");
    assert!(
        waiting["delivery"]["detail"]
            .as_str()
            .expect("why")
            .contains("20003")
    );
    // And a code is not blamed on the number either.
    twilio.answer_next(
        401,
        json!({"code": 20003, "message": "Authenticate", "status": 401}),
    );
    let (status, body) = server
        .post("/api/v1/me/phones", &ana, json!({"number": "+34600999888"}))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "sms_failed");
    let (_, phones) = server.get("/api/v1/me/phones", &ana).await;
    assert_eq!(phones["phones"], json!([]), "nothing is kept");
}

/// Twilio has no idempotency key for sends: a try whose answer is lost may have been
/// taken. The next try looks for it (numbers, body, time) before sending.
#[tokio::test]
async fn a_text_whose_answer_was_lost_is_looked_for_not_sent_twice() {
    let twilio = Twilio::start().await;
    let server = sms_server(&twilio, "").await;
    let ana = server.register("ana").await;
    let conversation = phone_thread(&server, &ana, "+34600111222").await;
    let first = send(&server, &ana, &conversation, "l1", "Vale").await;
    let first_id = first["id"].as_str().expect("id").to_owned();
    handed_text(&server, &ana, &first_id, "the first text is handed").await;

    // The same words again: the provider takes them, and the line drops in its answer.
    twilio.cut_next(true);
    let second = send(&server, &ana, &conversation, "l2", "Vale").await;
    let second_id = second["id"].as_str().expect("id").to_owned();
    let waiting = tried(&server, &ana, &second_id, "the cut try is recorded").await;
    assert_eq!(waiting["delivery"]["state"], "queued", "{waiting}");
    assert!(
        waiting["delivery"]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("cut off")),
        "{waiting}"
    );
    assert_eq!(twilio.taken().len(), 2, "the provider has it");
    due_now(&server).await;
    handed_text(&server, &ana, &second_id, "the lost text is found").await;
    assert_eq!(twilio.texts().len(), 2, "found, not sent a second time");
    assert_eq!(
        twilio.lists(),
        [format!(
            "From=%2B{}&To=%2B34600111222&PageSize=50",
            &FREE[1..]
        )],
        "looked for once, between the two numbers"
    );
    // It is the provider's second text, not the first "Vale" (message 1's already): its
    // status callbacks reach message 2 only.
    let second_sid = twilio.taken()[1]["sid"].as_str().expect("sid").to_owned();
    report(&server, &second_sid, "delivered", None).await;
    delivery_is(&server, &ana, &second_id, "delivered").await;
    let first_now = message_by_id(&server, &ana, &first_id).await;
    assert_eq!(first_now["delivery"]["state"], "queued", "{first_now}");

    // Cut before the provider took it: the look finds only texts that are messages
    // already, so it is sent again, once.
    twilio.cut_next(false);
    let third = send(&server, &ana, &conversation, "l3", "Vale").await;
    let third_id = third["id"].as_str().expect("id").to_owned();
    tried(&server, &ana, &third_id, "the cut try is recorded").await;
    assert_eq!((twilio.texts().len(), twilio.taken().len()), (3, 2));
    due_now(&server).await;
    handed_text(&server, &ana, &third_id, "the text is sent again").await;
    assert_eq!((twilio.texts().len(), twilio.taken().len()), (4, 3));
    assert_eq!(twilio.lists().len(), 2);
    let third_sid = twilio.taken()[2]["sid"].as_str().expect("sid").to_owned();
    report(&server, &third_sid, "delivered", None).await;
    delivery_is(&server, &ana, &third_id, "delivered").await;
    // And a text sent afterwards without trouble is not looked for.
    let fourth = send(&server, &ana, &conversation, "l4", "Vale").await;
    handed_text(&server, &ana, fourth["id"].as_str().expect("id"), "sent").await;
    assert_eq!(twilio.lists().len(), 2);

    // Taken, the answer lost, then they text STOP: the text went out before the STOP, so
    // it is found and recorded, not failed for the STOP.
    twilio.cut_next(true);
    let fifth = send(&server, &ana, &conversation, "l5", "¿Vale?").await;
    let fifth_id = fifth["id"].as_str().expect("id").to_owned();
    tried(&server, &ana, &fifth_id, "the cut try is recorded").await;
    let (code, _) = text_in(&server, &message_sid(901), "+34600111222", FREE, "STOP").await;
    assert_eq!(code, StatusCode::OK);
    due_now(&server).await;
    let found = handed_text(&server, &ana, &fifth_id, "the lost text is found").await;
    assert_eq!(found["delivery"]["state"], "queued", "{found}");
    assert_eq!(twilio.texts().len(), 6, "found, not sent again");
    // What is written after the STOP is not texted.
    let sixth = send(&server, &ana, &conversation, "l6", "¿Hola?").await;
    let refused = delivery_is(&server, &ana, sixth["id"].as_str().expect("id"), "failed").await;
    assert!(
        refused["delivery"]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("STOP")),
        "{refused}"
    );
    assert_eq!(twilio.texts().len(), 6, "nothing is sent after the STOP");
}

/// A try whose answer was lost keeps its day's count (it may have gone out); sent again
/// because it had not, it is still one text of the day, not two.
#[tokio::test]
async fn a_lost_answer_retried_counts_once_in_the_day() {
    let twilio = Twilio::start().await;
    let server = sms_server(&twilio, "texts_per_account_day = 2").await;
    let ana = server.register("ana").await;
    let conversation = phone_thread(&server, &ana, "+34600555666").await;
    twilio.cut_next(false);
    let first = send(&server, &ana, &conversation, "c1", "uno").await;
    let first_id = first["id"].as_str().expect("id").to_owned();
    tried(&server, &ana, &first_id, "the cut try is recorded").await;
    due_now(&server).await;
    handed_text(&server, &ana, &first_id, "sent again").await;
    let second = send(&server, &ana, &conversation, "c2", "dos").await;
    handed_text(
        &server,
        &ana,
        second["id"].as_str().expect("id"),
        "the second of the day",
    )
    .await;
    let third = send(&server, &ana, &conversation, "c3", "tres").await;
    let failed = delivery_is(&server, &ana, third["id"].as_str().expect("id"), "failed").await;
    assert!(
        failed["delivery"]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("a day")),
        "{failed}"
    );
    assert_eq!(
        twilio.texts().len(),
        3,
        "two tries of the first, one of the second"
    );
}

/// A node that dies between handing a text to the provider and recording its answer
/// leaves it out of the queue (no other sender may send it again blindly). Once its lease
/// is long gone, it is queued again, and the next try finds it at the provider.
#[tokio::test]
async fn a_text_left_by_a_sender_that_died_is_found_not_lost() {
    let twilio = Twilio::start().await;
    let server = sms_server(&twilio, "").await;
    let ana = server.register("ana").await;
    let conversation = phone_thread(&server, &ana, "+34600444555").await;
    // The provider takes the text; the answer never comes back to be recorded.
    twilio.cut_next(true);
    let sent = send(&server, &ana, &conversation, "d1", "¿Llegó?").await;
    let id = sent["id"].as_str().expect("id").to_owned();
    tried(&server, &ana, &id, "the try is recorded").await;
    // What a sender that died after `sms_sending` leaves: handed over 20 minutes ago, its
    // lease over for 15, nothing recorded.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as i64;
    let died = format!(
        "UPDATE outbound_mail SET unsure_at = NULL, handed_at = {}, claimed_until = {}, next_attempt_at = 0 WHERE message_id = '{id}' AND handed_at IS NULL AND claimed_until IS NULL",
        now - 20 * 60_000,
        now - 15 * 60_000
    );
    server.db.execute(Box::leak(died.into_boxed_str())).await;
    let found = handed_text(&server, &ana, &id, "the text is found at the provider").await;
    assert_eq!(found["delivery"]["state"], "queued", "{found}");
    assert_eq!(twilio.texts().len(), 1, "found, not sent again");
    assert_eq!(twilio.lists().len(), 1);
    let sid = twilio.taken()[0]["sid"].as_str().expect("sid").to_owned();
    report(&server, &sid, "delivered", None).await;
    delivery_is(&server, &ana, &id, "delivered").await;
}

#[tokio::test]
async fn accounts_verify_their_number_by_text_and_its_texts_become_theirs() {
    let twilio = Twilio::start().await;
    let server = sms_server(&twilio, "").await;
    let bob = server.register("bob").await;
    let olga = server.register("olga").await;
    for (number, code) in [
        ("600111222", "invalid_number"),
        ("+34 abc", "invalid_number"),
    ] {
        let (status, body) = server
            .post("/api/v1/me/phones", &bob, json!({"number": number}))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error"]["code"], code);
    }
    let (status, added) = server
        .post(
            "/api/v1/me/phones",
            &bob,
            json!({"number": "+34 622 000 000"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    assert_eq!(added["number"], "+34622000000");
    assert_eq!(added["verified"], false);
    let form = texted(&twilio, 1).await;
    assert_eq!(field(&form, "To"), "+34622000000");
    let body = field(&form, "Body");
    let code: String = body.chars().take_while(char::is_ascii_digit).collect();
    assert_eq!(code.len(), 6, "{body}");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (status, body) = server
        .post(
            "/api/v1/me/phones/verify",
            &bob,
            json!({"number": "+34622000000", "code": wrong}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid_code");
    // Olga cannot verify it with Bob's code.
    let (status, _) = server
        .post(
            "/api/v1/me/phones/verify",
            &olga,
            json!({"number": "+34622000000", "code": code}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, verified) = server
        .post(
            "/api/v1/me/phones/verify",
            &bob,
            json!({"number": "+34622000000", "code": code}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{verified}");
    assert_eq!(verified["verified"], true);
    let (_, listed) = server.get("/api/v1/me/phones", &bob).await;
    assert_eq!(listed["phones"][0]["number"], "+34622000000");
    assert_eq!(listed["available"], true);
    // Phones are not emails.
    let (_, emails) = server.get("/api/v1/me/emails", &bob).await;
    assert_eq!(emails["emails"], json!([]));
    let (status, _) = server
        .post(
            "/api/v1/me/phones",
            &olga,
            json!({"number": "+34622000000"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "one account per number");

    // Bob texts Olga's number: his message, in his conversation with her.
    let (code, body) = text_in(
        &server,
        &message_sid(30),
        "+34622000000",
        OLGA_S,
        "Soy Bob, desde el móvil",
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let requests = conversations(&server, &olga, "requests").await;
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0]["kind"], "direct");
    let messages = history(&server, &olga, requests[0]["id"].as_str().expect("id")).await;
    assert_eq!(messages[0]["sender"]["kind"], "user");
    assert_eq!(messages[0]["sender"]["username"], "bob");
    assert_eq!(messages[0]["channel"], "sms");
    assert_eq!(messages[0]["text"], "Soy Bob, desde el móvil");
    // The same text again is the same message.
    text_in(
        &server,
        &message_sid(30),
        "+34622000000",
        OLGA_S,
        "Soy Bob, desde el móvil",
    )
    .await;
    assert_eq!(
        history(&server, &olga, requests[0]["id"].as_str().expect("id"))
            .await
            .len(),
        1
    );
    let direct = server.direct(&bob, &olga).await;
    assert_eq!(direct, requests[0]["id"].as_str().expect("id"));

    let (status, _) = server.delete("/api/v1/me/phones/+34622000000", &bob).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, listed) = server.get("/api/v1/me/phones", &bob).await;
    assert_eq!(listed["phones"], json!([]));
}

#[tokio::test]
async fn texts_are_limited_per_account_a_day_and_numbers_are_shared_one_conversation_each() {
    let twilio = Twilio::start().await;
    let server = sms_server(&twilio, "texts_per_account_day = 2").await;
    let ana = server.register("ana").await;
    let eva = server.register("eva").await;
    let ivan = server.register("ivan").await;
    let conversation = phone_thread(&server, &ana, "+34600444555").await;
    for n in 1..=2 {
        send(&server, &ana, &conversation, &format!("d{n}"), "hola").await;
    }
    texted(&twilio, 2).await;
    let third = send(&server, &ana, &conversation, "d3", "¿otra?").await;
    let failed = delivery_is(&server, &ana, third["id"].as_str().expect("id"), "failed").await;
    assert!(
        failed["delivery"]["detail"]
            .as_str()
            .expect("why")
            .contains("a day"),
        "{failed}"
    );
    assert_eq!(twilio.texts().len(), 2);

    // Eva texting the same person gets the other number; nobody else can (the replies
    // would have nowhere to go).
    let (_, eva_s) = open_number(&server, &eva, "+34600444555").await;
    send(
        &server,
        &eva,
        eva_s["id"].as_str().expect("id"),
        "e1",
        "Soy Eva",
    )
    .await;
    let form = texted(&twilio, 3).await;
    assert_eq!(field(&form, "From"), OLGA_S);
    let (status, body) = open_number(&server, &ivan, "+34600444555").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "sms_numbers_busy");
    // Each reply finds its own thread.
    text_in(
        &server,
        &message_sid(40),
        "+34600444555",
        OLGA_S,
        "Hola Eva",
    )
    .await;
    text_in(&server, &message_sid(41), "+34600444555", FREE, "Hola Ana").await;
    let eva_thread = history(&server, &eva, eva_s["id"].as_str().expect("id")).await;
    assert_eq!(eva_thread.last().expect("reply")["text"], "Hola Eva");
    let ana_thread = history(&server, &ana, &conversation).await;
    assert_eq!(ana_thread.last().expect("reply")["text"], "Hola Ana");
}

#[tokio::test]
async fn an_email_address_that_starts_with_a_plus_is_mailed_not_texted() {
    let twilio = Twilio::start().await;
    let server = sms_server(&twilio, "").await;
    let ana = server.register("ana").await;
    let (status, opened) = open_number(&server, &ana, "+promo@example.org").await;
    assert_eq!(status, StatusCode::CREATED, "{opened}");
    let conversation = opened["id"].as_str().expect("id").to_owned();
    send(&server, &ana, &conversation, "p1", "No, gracias").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(twilio.texts().is_empty());
    assert_eq!(
        server
            .db
            .text("SELECT channel || '/' || kind FROM outbound_mail, contacts WHERE contacts.address = '+promo@example.org'")
            .await,
        "email/email"
    );
}

#[tokio::test]
async fn without_a_provider_numbers_are_refused_clearly() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let (status, body) = open_number(&server, &ana, "+34600111222").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "unsupported_address");
    let (status, body) = server
        .post("/api/v1/me/phones", &ana, json!({"number": "+34600111222"}))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "sms_unavailable");
    let (_, phones) = server.get("/api/v1/me/phones", &ana).await;
    assert_eq!(phones, json!({"phones": [], "available": false}));
    let (status, _) = post_form(
        &server.url("/api/v1/sms/tw/inbound"),
        &[("MessageSid", "x")],
        Some("x"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = open_number(&server, &ana, "+12").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid_number");
}

#[tokio::test]
async fn a_number_sends_at_most_its_texts_a_minute_and_the_rest_wait() {
    let twilio = Twilio::start().await;
    let server = sms_server(&twilio, "texts_per_number_minute = 1").await;
    let ana = server.register("ana").await;
    let eva = server.register("eva").await;
    let conversation = phone_thread(&server, &ana, "+34600555666").await;
    send(&server, &ana, &conversation, "m1", "uno").await;
    texted(&twilio, 1).await;
    let second = send(&server, &ana, &conversation, "m2", "dos").await;
    let id = second["id"].as_str().expect("id").to_owned();
    let waiting = tried(&server, &ana, &id, "the second text waits").await;
    assert_eq!(waiting["delivery"]["state"], "queued", "{waiting}");
    assert!(
        waiting["delivery"]["detail"]
            .as_str()
            .expect("why")
            .contains("a minute"),
        "{waiting}"
    );
    // The limit is the number's: Eva's text goes out from the other one at once.
    let (_, eva_s) = open_number(&server, &eva, "+34600555666").await;
    send(
        &server,
        &eva,
        eva_s["id"].as_str().expect("id"),
        "e1",
        "tres",
    )
    .await;
    let form = texted(&twilio, 2).await;
    assert_eq!(field(&form, "Body"), "tres");
    assert_eq!(field(&form, "From"), OLGA_S);
    assert_eq!(twilio.texts().len(), 2, "Ana's second still waits");
}

#[tokio::test]
async fn the_real_binary_takes_the_provider_s_token_from_the_environment() {
    let twilio = Twilio::start().await;
    let db = TestDb::new().await;
    let config = db.data_dir().join("sms.toml");
    // No token in the file: only the environment has it.
    let text = sms_config(&twilio, "").replace(&format!("auth_token = \"{TOKEN}\"\n"), "");
    std::fs::write(&config, text).expect("config written");
    let process = super::support::ProcessServer::start_with(
        &db,
        &["--config", config.to_str().expect("utf-8")],
        &[("HILO_SMS_TW_AUTH_TOKEN", TOKEN)],
    );
    let server = process.client();
    let olga = server.register("olga").await;
    let (code, body) = text_in(
        &server,
        &message_sid(50),
        "+34611000050",
        OLGA_S,
        "¿Abierto hoy?",
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(conversations(&server, &olga, "requests").await.len(), 1);
    // Signed with anything else, refused.
    let (code, _) = webhook(
        &server,
        "/api/v1/sms/tw/inbound",
        &[("MessageSid", &message_sid(51)), ("AccountSid", ACCOUNT)],
        "not-the-token",
    )
    .await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
}
