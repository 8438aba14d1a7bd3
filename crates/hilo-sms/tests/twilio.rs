//! Twilio's wire format: the signature on the published vectors of Twilio's own SDK tests,
//! webhooks read or refused, and the Messages API against a stand-in that answers as the
//! API does (201 with the message, errors with their codes) over real HTTP.

use std::sync::{Arc, Mutex};

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use hilo_sms::Provider;
use hilo_sms::twilio::{self, Client, Inbound, Outgoing, Status, StatusReport};

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

fn sdk_params() -> Vec<(String, String)> {
    pairs(&[
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+14158675309"),
        ("Digits", "1234"),
        ("From", "+14158675309"),
        ("To", "+18005551212"),
    ])
}

#[test]
fn the_signature_is_twilio_s_on_its_sdk_vectors() {
    // twilio-python tests/unit/test_request_validator.py.
    assert_eq!(
        twilio::signature("12345", URL, &sdk_params()),
        "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    );
    // The posted order does not matter; a repeated name signs each value, sorted.
    let mut shuffled = sdk_params();
    shuffled.reverse();
    assert_eq!(
        twilio::signature("12345", URL, &shuffled),
        "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    );
    let repeated = pairs(&[
        ("Sid", "CA123"),
        ("SidAccount", "AC123"),
        ("Digits", "5678"),
        ("Digits", "1234"),
    ]);
    assert_eq!(
        twilio::signature("12345", URL, &repeated),
        "IK+Dwps556ElfBT0I3Rgjkr1wJU="
    );
    // The URL is signed as given, port and all.
    assert_eq!(
        twilio::signature(
            "12345",
            "https://mycompany.com:443/myapp.php?foo=1&bar=2",
            &sdk_params()
        ),
        "kvajT1Ptam85bY51eRf/AJRuM3w="
    );
}

#[test]
fn a_forged_or_altered_webhook_does_not_verify() {
    let params = sdk_params();
    assert!(twilio::verify(
        "12345",
        URL,
        &params,
        "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    ));
    // Another token, another URL, a changed or an added parameter, a mangled header.
    assert!(!twilio::verify(
        "54321",
        URL,
        &params,
        "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    ));
    assert!(!twilio::verify(
        "12345",
        "https://mycompany.com/other.php?foo=1&bar=2",
        &params,
        "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    ));
    let mut changed = params.clone();
    changed[2].1 = "9999".into();
    assert!(!twilio::verify(
        "12345",
        URL,
        &changed,
        "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    ));
    let mut added = params.clone();
    added.push(("Body".into(), "extra".into()));
    assert!(!twilio::verify(
        "12345",
        URL,
        &added,
        "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    ));
    for header in ["", "not base64!", "RSOYDt4T1cUTdK1PDd93/VVr8B8", "AAAA"] {
        assert!(!twilio::verify("12345", URL, &params, header), "{header:?}");
    }
}

const MESSAGE_SID: &str = "SM3b3c68b39785c9c19e2cddf1332bba1e";
const ACCOUNT_SID: &str = "ACb6540000000000000000000000000000";

fn inbound_params() -> Vec<(String, String)> {
    // As Twilio posts it: legacy duplicates, empty geography, and a photo.
    pairs(&[
        ("ToCountry", "ES"),
        ("ToState", ""),
        ("SmsMessageSid", MESSAGE_SID),
        ("NumMedia", "1"),
        ("SmsSid", MESSAGE_SID),
        ("SmsStatus", "received"),
        ("Body", "¿Comemos mañana?"),
        ("To", "+34910000000"),
        ("NumSegments", "1"),
        ("MessageSid", MESSAGE_SID),
        ("AccountSid", ACCOUNT_SID),
        ("From", "+34600111222"),
        (
            "MediaUrl0",
            "https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM/Media/ME",
        ),
        ("MediaContentType0", "image/jpeg"),
        ("ApiVersion", "2010-04-01"),
    ])
}

#[test]
fn an_inbound_webhook_reads_and_a_broken_one_is_refused() {
    let inbound = Inbound::from_params(&inbound_params()).expect("reads");
    assert_eq!(inbound.sid, MESSAGE_SID);
    assert_eq!(inbound.from, "+34600111222");
    assert_eq!(inbound.to, "+34910000000");
    assert_eq!(inbound.body, "¿Comemos mañana?");
    assert_eq!(inbound.media.len(), 1);
    assert_eq!(inbound.media[0].content_type, "image/jpeg");
    let without = |name: &str| -> Vec<(String, String)> {
        inbound_params()
            .into_iter()
            .filter(|(n, _)| n != name)
            .collect()
    };
    for missing in ["MessageSid", "From", "To", "AccountSid", "MediaUrl0"] {
        assert!(
            Inbound::from_params(&without(missing)).is_err(),
            "{missing}"
        );
    }
    let mut bad = inbound_params();
    bad.iter_mut()
        .find(|(n, _)| n == "MessageSid")
        .expect("sid")
        .1 = "SM1".into();
    assert!(Inbound::from_params(&bad).is_err());
    let mut long = inbound_params();
    long.iter_mut().find(|(n, _)| n == "Body").expect("body").1 = "a".repeat(1601);
    assert!(Inbound::from_params(&long).is_err());
    let mut many = inbound_params();
    many.iter_mut().find(|(n, _)| n == "NumMedia").expect("n").1 = "11".into();
    assert!(Inbound::from_params(&many).is_err());
}

#[test]
fn a_status_callback_reads() {
    let report = StatusReport::from_params(&pairs(&[
        ("SmsSid", MESSAGE_SID),
        ("SmsStatus", "undelivered"),
        ("MessageStatus", "undelivered"),
        ("To", "+34600111222"),
        ("MessageSid", MESSAGE_SID),
        ("AccountSid", ACCOUNT_SID),
        ("From", "+34910000000"),
        ("ErrorCode", "30003"),
        ("ApiVersion", "2010-04-01"),
    ]))
    .expect("reads");
    assert_eq!(report.status, Status::Undelivered);
    assert!(report.status.is_failure());
    assert_eq!(report.error_code, Some(30003));
    // Statuses only move forward: a late "sent" after "delivered" is older news.
    assert!(Status::Sent < Status::Delivered);
    assert!(Status::Queued < Status::Failed);
    let unknown = pairs(&[
        ("MessageSid", MESSAGE_SID),
        ("AccountSid", ACCOUNT_SID),
        ("MessageStatus", "teleported"),
    ]);
    assert!(StatusReport::from_params(&unknown).is_err());
    // Through the adapter: a status hilo does not follow is nothing to do, an unknown
    // word or another account's callback an error.
    let client = Client::new("http://127.0.0.1:9", ACCOUNT_SID, "secret").expect("client");
    let provider: &dyn Provider = &client;
    let canceled = pairs(&[
        ("MessageSid", MESSAGE_SID),
        ("AccountSid", ACCOUNT_SID),
        ("MessageStatus", "canceled"),
    ]);
    assert_eq!(provider.status(&canceled), Ok(None));
    assert_eq!(
        provider
            .status(&pairs(&[
                ("MessageSid", MESSAGE_SID),
                ("AccountSid", ACCOUNT_SID),
                ("MessageStatus", "delivered"),
            ]))
            .map(|r| r.map(|r| r.status)),
        Ok(Some(Status::Delivered))
    );
    let other = pairs(&[
        ("MessageSid", MESSAGE_SID),
        ("AccountSid", "AC00000000000000000000000000000000"),
        ("MessageStatus", "delivered"),
    ]);
    assert!(provider.status(&other).is_err());
}

/// What the stand-in got: basic auth and form.
type Seen = Arc<Mutex<Vec<(String, Vec<(String, String)>)>>>;

/// A stand-in of `POST /2010-04-01/Accounts/{sid}/Messages.json` that answers by the
/// recipient: `+15005550001` is not a number (400/21211), `+15005550009` sent STOP
/// (400/21610), `+15005550429` is throttled (429/20429), `+15005550500` a server error;
/// anyone else gets 201. Wrong credentials get 401/20003.
async fn stand_in() -> (String, Seen) {
    let seen: Seen = Arc::default();
    async fn messages(
        State(seen): State<Seen>,
        headers: HeaderMap,
        Form(form): Form<Vec<(String, String)>>,
    ) -> impl IntoResponse {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        seen.lock()
            .expect("seen")
            .push((auth.clone(), form.clone()));
        let error = |status: StatusCode, code: u32, message: &str| {
            (
                status,
                [("content-type", "application/json")],
                format!(
                    r#"{{"code": {code}, "message": "{message}", "more_info": "https://www.twilio.com/docs/errors/{code}", "status": {}}}"#,
                    status.as_u16()
                ),
            )
        };
        // base64("ACb654…:secret")
        use base64::Engine as _;
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT_SID}:secret"))
        );
        if auth != expected {
            return error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
        }
        let to = form
            .iter()
            .find(|(n, _)| n == "To")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        match to.as_str() {
            "+15005550001" => error(
                StatusCode::BAD_REQUEST,
                21211,
                "The 'To' number +15005550001 is not a valid phone number.",
            ),
            "+15005550009" => error(
                StatusCode::BAD_REQUEST,
                21610,
                "Attempt to send to unsubscribed recipient",
            ),
            "+15005550429" => error(StatusCode::TOO_MANY_REQUESTS, 20429, "Too Many Requests"),
            "+15005550500" => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                20500,
                "Internal Server Error",
            ),
            _ => (
                StatusCode::CREATED,
                [("content-type", "application/json")],
                format!(
                    r#"{{"sid": "{MESSAGE_SID}", "date_created": "Tue, 27 Nov 2018 16:14:39 +0000", "account_sid": "{ACCOUNT_SID}", "to": "{to}", "from": "+34910000000", "messaging_service_sid": null, "body": "x", "status": "queued", "num_segments": "2", "num_media": "0", "direction": "outbound-api", "api_version": "2010-04-01", "price": null, "error_code": null, "error_message": null}}"#
                ),
            ),
        }
    }
    let app = axum::Router::new()
        .route("/2010-04-01/Accounts/{sid}/Messages.json", post(messages))
        .with_state(Arc::clone(&seen));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}"), seen)
}

fn text(to: &str) -> Outgoing {
    Outgoing {
        from: "+34910000000".into(),
        to: to.into(),
        body: "Sí, a la una 😀".into(),
        status_callback: Some("https://hilo.example/sms/twilio/status".into()),
    }
}

#[tokio::test]
async fn the_messages_api_is_spoken_as_twilio_answers_it() {
    let (base, seen) = stand_in().await;
    let client = Client::new(&base, ACCOUNT_SID, "secret").expect("client");
    let queued = client.send(&text("+34600111222")).await.expect("sent");
    assert_eq!(queued.sid, MESSAGE_SID);
    assert_eq!(queued.status, Status::Queued);
    assert_eq!(queued.segments, Some(2));
    let (_, form) = seen
        .lock()
        .expect("seen")
        .last()
        .cloned()
        .expect("a request");
    let get = |name: &str| {
        form.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("To"), Some("+34600111222"));
    assert_eq!(get("From"), Some("+34910000000"));
    assert_eq!(get("Body"), Some("Sí, a la una 😀"));
    assert_eq!(
        get("StatusCallback"),
        Some("https://hilo.example/sms/twilio/status")
    );

    // A bad number and an opted-out recipient are final; throttling and a server error
    // may be tried again.
    let bad = client
        .send(&text("+15005550001"))
        .await
        .expect_err("refused");
    assert!(bad.permanent);
    assert_eq!(bad.code, Some(21211));
    assert!(bad.detail.contains("not a valid phone number"), "{bad}");
    let stopped = client
        .send(&text("+15005550009"))
        .await
        .expect_err("refused");
    assert!(stopped.permanent && stopped.opted_out());
    for transient in ["+15005550429", "+15005550500"] {
        let error = client.send(&text(transient)).await.expect_err("refused");
        assert!(!error.permanent, "{transient}: {error}");
        // A 429 was never processed; a 5xx may come after the text was taken.
        assert_eq!(error.unsure, transient.ends_with("500"), "{transient}");
    }
    assert!(!bad.unsure && !stopped.unsure);
    // Wrong credentials are final, and the token never shows in the error.
    let wrong = Client::new(&base, ACCOUNT_SID, "guess").expect("client");
    let denied = wrong
        .send(&text("+34600111222"))
        .await
        .expect_err("refused");
    assert!(denied.permanent);
    assert_eq!(denied.code, Some(20003));
    // ... and this server's to put right, not the recipient's.
    assert!(denied.ours && !bad.ours && !stopped.ours);
    assert!(!format!("{wrong:?}").contains("guess"));
    // Nobody listening: may be tried again.
    let gone = Client::new("http://127.0.0.1:9", ACCOUNT_SID, "secret").expect("client");
    let error = gone
        .send(&text("+34600111222"))
        .await
        .expect_err("unreachable");
    assert!(!error.permanent);
    // No connection was made: the text surely did not go.
    assert!(!error.unsure, "{error}");
    assert!(!error.detail.contains(ACCOUNT_SID), "{error}");
}

/// A stand-in of `GET /2010-04-01/Accounts/{sid}/Messages.json` listing, newest first,
/// the texts between the two numbers asked for, two a page: page 0, then 1 (by its
/// `next_page_uri`), then 2, which fails (it is older than anything looked for).
async fn list_stand_in() -> (String, Arc<Mutex<Vec<String>>>) {
    let queries: Arc<Mutex<Vec<String>>> = Arc::default();
    async fn list(
        State(queries): State<Arc<Mutex<Vec<String>>>>,
        headers: HeaderMap,
        axum::extract::RawQuery(query): axum::extract::RawQuery,
    ) -> impl IntoResponse {
        use base64::Engine as _;
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT_SID}:secret"))
        );
        if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&expected) {
            return (StatusCode::UNAUTHORIZED, String::new());
        }
        let query = query.unwrap_or_default();
        queries.lock().expect("queries").push(query.clone());
        let message = |sid: u32, body: &str, date: &str| {
            serde_json::json!({
                "sid": format!("SM{sid:032x}"), "account_sid": ACCOUNT_SID,
                "from": "+34910000000", "to": "+34600111222", "body": body,
                "status": "sent", "num_segments": "1", "direction": "outbound-api",
                "date_created": date, "date_sent": null,
            })
        };
        if !(query.contains("To=%2B34600111222") && query.contains("From=%2B34910000000")) {
            return (
                StatusCode::OK,
                serde_json::json!({"messages": [], "page": 0, "next_page_uri": null}).to_string(),
            );
        }
        let page = if query.contains("Page=2") {
            2
        } else if query.contains("Page=1") {
            1
        } else {
            0
        };
        let messages = match page {
            0 => vec![
                message(5, "otra cosa", "Mon, 07 Dec 2026 17:00:04 +0000"),
                message(4, "Sí, a la una 😀", "Mon, 07 Dec 2026 17:00:03 +0000"),
            ],
            1 => vec![
                message(3, "Sí, a la una 😀", "Mon, 07 Dec 2026 17:00:02 +0000"),
                message(2, "Sí, a la una 😀", "Mon, 07 Dec 2026 16:00:00 +0000"),
            ],
            _ => {
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    r#"{"code": 20500, "message": "Internal Server Error", "status": 500}"#.into(),
                );
            }
        };
        let next = format!(
            "/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json?From=%2B34910000000&To=%2B34600111222&PageSize=50&Page={}&PageToken=PASM{page}",
            page + 1
        );
        (
            StatusCode::OK,
            serde_json::json!({"messages": messages, "page": page, "page_size": 50, "next_page_uri": next})
                .to_string(),
        )
    }
    let app = axum::Router::new()
        .route(
            "/2010-04-01/Accounts/{sid}/Messages.json",
            axum::routing::get(list),
        )
        .with_state(Arc::clone(&queries));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}"), queries)
}

#[tokio::test]
async fn a_lost_send_is_looked_for_by_numbers_body_and_time() {
    let (base, queries) = list_stand_in().await;
    let client = Client::new(&base, ACCOUNT_SID, "secret").expect("client");
    // 2026-12-07 17:00:00 UTC: the text of 16:00 is older (and so is the page after it,
    // never asked for); the newest text has another body.
    let since = 1_796_662_800_000;
    let found = client
        .sent_since(&text("+34600111222"), since)
        .await
        .expect("listed");
    assert_eq!(
        found.iter().map(|q| q.sid.as_str()).collect::<Vec<_>>(),
        [format!("SM{:032x}", 4), format!("SM{:032x}", 3)]
    );
    assert_eq!(found[0].status, Status::Sent);
    let asked = queries.lock().expect("queries").clone();
    assert_eq!(
        asked,
        [
            "From=%2B34910000000&To=%2B34600111222&PageSize=50",
            "From=%2B34910000000&To=%2B34600111222&PageSize=50&Page=1&PageToken=PASM0",
        ]
    );
    // A refusal while paging is an error, not "not there".
    let error = client
        .sent_since(&text("+34600111222"), since - 3_600_000)
        .await
        .expect_err("page 2 fails");
    assert!(error.contains("20500"), "{error}");
    // Nothing between other numbers, and a refusal is an error, not "not there".
    assert!(
        client
            .sent_since(&text("+34600999999"), since)
            .await
            .expect("listed")
            .is_empty()
    );
    let wrong = Client::new(&base, ACCOUNT_SID, "guess").expect("client");
    assert!(
        wrong
            .sent_since(&text("+34600111222"), since)
            .await
            .is_err()
    );
}
