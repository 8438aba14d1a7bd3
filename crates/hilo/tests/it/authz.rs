//! T9: the authorization matrix, generated from the server's own OpenAPI document.
//!
//! Every documented route has an entry saying who may call it; a route without one (or an
//! entry for a route that no longer exists) fails the test, so a new endpoint cannot skip
//! it. Each actor that must be refused is refused with 401, 403 or 404 — never 2xx, never
//! 400 — and nothing is written. Then the rightful caller makes the same request and
//! succeeds, which shows the refusals were about who asked, not about a malformed request.
//!
//! Actors: no token, a revoked token, a suspended account (a member of the group), a
//! stranger, an ex-member of the group, a member who is not an admin. Blocked users join
//! the matrix with blocking (issue 7); each later kind of object (attachment, report…)
//! adds its own `Access` variant.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::support::{MailSink, StatusCode, TestServer, User, next_json};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    /// Anyone, without a token.
    Public,
    /// Any live account, about itself (its profile, sessions, list, events).
    Account,
    /// A current member of the group `{id}` names.
    Member,
    /// A current member of the group holding the message `{id}` names.
    MessageMember,
    /// The sender of the message `{id}` names, while a member of its group.
    MessageSender,
    /// A current member of the group where the attachment `{id}` names was sent.
    AttachmentMember,
    /// An admin of the group `{id}` names (acting on another member, `{username}`).
    GroupAdmin,
    /// A server administrator.
    ServerAdmin,
    /// The account owning the session `{id}` names.
    SessionOwner,
    /// Any live account, about another person (`{username}` is ana).
    Person,
    /// Any live account ana does not block, reaching out to ana (a friend request).
    Reachable,
    /// A current member of the group who has it in their message requests (hana: ana is
    /// no friend of hers and she never wrote there).
    Invitee,
}

/// The matrix: every route, who may call it, and the body its rightful caller sends (`None`
/// exactly for the routes whose OpenAPI entry has no request body).
pub(super) fn matrix() -> Vec<(&'static str, Access, Option<Value>)> {
    use Access::*;
    vec![
        ("GET /healthz", Public, None),
        ("GET /metrics", Public, None),
        ("GET /api/v1/openapi.json", Public, None),
        (
            "POST /api/v1/accounts",
            Public,
            Some(json!({"username": "zed", "password": "correct horse battery"})),
        ),
        (
            "POST /api/v1/sessions",
            Public,
            Some(json!({"username": "ana", "password": "correct horse battery"})),
        ),
        ("GET /api/v1/sessions", Account, None),
        ("DELETE /api/v1/sessions/{id}", SessionOwner, None),
        ("POST /api/v1/admin/invites", ServerAdmin, None),
        (
            "POST /api/v1/reports",
            Person,
            Some(json!({"username": "ana", "reason": "spam"})),
        ),
        ("GET /api/v1/admin/reports", ServerAdmin, None),
        (
            "POST /api/v1/admin/reports/{id}/resolve",
            ServerAdmin,
            Some(json!({"action": "dismiss"})),
        ),
        ("GET /api/v1/me", Account, None),
        // In this order: enrol, confirm (the code is filled in), turn off again.
        ("GET /api/v1/me/2fa", Account, None),
        ("POST /api/v1/me/2fa", Account, None),
        (
            "POST /api/v1/me/2fa/confirm",
            Account,
            Some(json!({"code": "{code}"})),
        ),
        (
            "DELETE /api/v1/me/2fa",
            Account,
            Some(json!({"password": "correct horse battery", "code": "{code}"})),
        ),
        (
            "POST /api/v1/me/password",
            Account,
            Some(
                json!({"current_password": "correct horse battery", "new_password": "another long passphrase"}),
            ),
        ),
        ("GET /api/v1/me/audit", Account, None),
        ("GET /api/v1/me/export", Account, None),
        ("GET /api/v1/admin/audit", ServerAdmin, None),
        ("GET /api/v1/admin/users", ServerAdmin, None),
        (
            "POST /api/v1/admin/users/{username}/suspend",
            ServerAdmin,
            None,
        ),
        (
            "POST /api/v1/admin/users/{username}/unsuspend",
            ServerAdmin,
            None,
        ),
        (
            "POST /api/v1/admin/users/{username}/logout",
            ServerAdmin,
            None,
        ),
        ("DELETE /api/v1/admin/users/{username}", ServerAdmin, None),
        // By dave (see the rightful callers below), whose password is still the first.
        (
            "DELETE /api/v1/me",
            Account,
            Some(json!({"password": "correct horse battery"})),
        ),
        (
            "PATCH /api/v1/me",
            Account,
            Some(json!({"display_name": "Renamed"})),
        ),
        ("GET /api/v1/users/{username}", Account, None),
        ("GET /api/v1/users", Account, None),
        // Anyone may search; what they find is what they may read (the stranger check below).
        ("GET /api/v1/search/messages", Account, None),
        (
            "POST /api/v1/friends",
            Reachable,
            Some(json!({"username": "ana"})),
        ),
        ("GET /api/v1/friends", Account, None),
        ("GET /api/v1/friends/requests", Account, None),
        ("DELETE /api/v1/friends/{username}", Person, None),
        ("GET /api/v1/messages/{id}/original", MessageMember, None),
        ("GET /api/v1/me/emails", Account, None),
        // In this order: add (the code is mailed to the sink), verify (the code is filled
        // in from it), remove.
        (
            "POST /api/v1/me/emails",
            Account,
            Some(json!({"address": "ana@example.org"})),
        ),
        (
            "POST /api/v1/me/emails/{address}/verify",
            Account,
            Some(json!({"code": "{code}"})),
        ),
        (
            "POST /api/v1/me/emails/verify",
            Account,
            Some(json!({"address": "ana@example.org", "code": "{code}"})),
        ),
        (
            "PATCH /api/v1/me/emails/{address}",
            Account,
            Some(json!({"digest": false})),
        ),
        ("DELETE /api/v1/me/emails/{address}", Account, None),
        ("GET /api/v1/me/phones", Account, None),
        // In this order too: add (the code is texted to the stand-in), verify, remove.
        (
            "POST /api/v1/me/phones",
            Account,
            Some(json!({"number": "+34600999000"})),
        ),
        (
            "POST /api/v1/me/phones/verify",
            Account,
            Some(json!({"number": "+34600999000", "code": "{code}"})),
        ),
        ("DELETE /api/v1/me/phones/{number}", Account, None),
        // The provider's webhooks: anyone may post, only a signed form is taken (the
        // rightful caller signs as the provider does).
        (
            "POST /api/v1/sms/{provider_id}/inbound",
            Public,
            Some(
                json!({"MessageSid": "SM0123456789abcdef0123456789abcdef", "AccountSid": super::sms::ACCOUNT,
                "From": "+34611000001", "To": super::sms::FREE, "Body": "hola"}),
            ),
        ),
        (
            "POST /api/v1/sms/{provider_id}/status",
            Public,
            Some(
                json!({"MessageSid": "SM0123456789abcdef0123456789abcdef", "AccountSid": super::sms::ACCOUNT,
                "MessageStatus": "delivered"}),
            ),
        ),
        ("PUT /api/v1/blocks/{username}", Person, None),
        ("DELETE /api/v1/blocks/{username}", Person, None),
        ("GET /api/v1/blocks", Account, None),
        (
            "POST /api/v1/conversations",
            Account,
            Some(json!({"kind": "group", "name": "new", "members": []})),
        ),
        ("GET /api/v1/conversations", Account, None),
        ("GET /api/v1/conversations/{id}", Member, None),
        (
            "PATCH /api/v1/conversations/{id}",
            Member,
            Some(json!({"name": "renamed"})),
        ),
        (
            "POST /api/v1/conversations/{id}/members",
            Member,
            Some(json!({"usernames": ["gus"]})),
        ),
        (
            "DELETE /api/v1/conversations/{id}/members/{username}",
            GroupAdmin,
            None,
        ),
        (
            "PATCH /api/v1/conversations/{id}/settings",
            Member,
            Some(json!({"folder": "archived"})),
        ),
        (
            "POST /api/v1/conversations/{id}/read",
            Member,
            Some(json!({"seq": 1})),
        ),
        ("GET /api/v1/conversations/{id}/receipts", Member, None),
        ("POST /api/v1/conversations/{id}/accept", Member, None),
        ("POST /api/v1/conversations/{id}/decline", Invitee, None),
        ("DELETE /api/v1/conversations/{id}", Member, None),
        (
            "POST /api/v1/conversations/{id}/typing",
            Member,
            Some(json!({"typing": true})),
        ),
        (
            "POST /api/v1/conversations/{id}/messages",
            Member,
            Some(json!({"client_txn_id": "authz", "text": "hello"})),
        ),
        ("GET /api/v1/conversations/{id}/messages", Member, None),
        ("GET /api/v1/messages/{id}", MessageMember, None),
        (
            "PATCH /api/v1/messages/{id}",
            MessageSender,
            Some(json!({"text": "hello everyone"})),
        ),
        ("GET /api/v1/messages/{id}/versions", MessageSender, None),
        // Filled in with scope=everyone: the sender's delete (scope=me is any member's).
        ("DELETE /api/v1/messages/{id}", MessageSender, None),
        (
            "PUT /api/v1/messages/{id}/reactions/{emoji}",
            MessageMember,
            None,
        ),
        (
            "DELETE /api/v1/messages/{id}/reactions/{emoji}",
            MessageMember,
            None,
        ),
        (
            "POST /api/v1/messages/{id}/forward",
            MessageMember,
            Some(json!({"conversation_id": "{group}", "client_txn_id": "forward"})),
        ),
        ("GET /api/v1/events", Account, None),
        // A multipart body (see `request`), so no JSON one here.
        ("POST /api/v1/attachments", Account, None),
        ("GET /api/v1/attachments/{id}", AttachmentMember, None),
        (
            "GET /api/v1/attachments/{id}/thumbnail",
            AttachmentMember,
            None,
        ),
        // Last of their kind, in this order: spam moves bob's group into his spam folder,
        // not_spam (which needs it there) back to his requests.
        ("POST /api/v1/conversations/{id}/spam", Member, None),
        ("POST /api/v1/conversations/{id}/not_spam", Member, None),
    ]
}

/// The people and objects the matrix is played against.
pub(super) struct World {
    pub(super) server: TestServer,
    /// The server's mail relay.
    pub(super) relay: MailSink,
    /// The server's SMS provider.
    pub(super) twilio: super::sms::Twilio,
    /// Server admin (the first account) and admin of the group.
    pub(super) ana: User,
    /// A plain member of the group.
    pub(super) bob: User,
    /// Was in the group, removed by ana.
    pub(super) carol: User,
    /// In no conversation with anyone.
    pub(super) dave: User,
    /// A member of the group whose account is suspended.
    pub(super) erin: User,
    /// Ana's second session, revoked.
    pub(super) revoked: User,
    /// Someone ana blocks.
    pub(super) mallory: User,
    /// A member of the group who never acts in it (the group is in her requests).
    pub(super) hana: User,
    /// Bob's report of ana's first message.
    pub(super) report: String,
    pub(super) group: String,
    pub(super) message: String,
    /// A picture ana sent to the group.
    pub(super) attachment: String,
}

const PASSWORD: &str = "correct horse battery";

pub(super) async fn world() -> World {
    let relay = MailSink::start().await;
    let relay_url = relay.url();
    let twilio = super::sms::Twilio::start().await;
    let db = super::support::TestDb::new().await;
    let config = db.data_dir().join("hilo.toml");
    std::fs::write(&config, super::sms::sms_config(&twilio, "")).expect("config written");
    let server = TestServer::start_on(&db, move |args| {
        args.smtp_relay = Some(relay_url);
        args.store.config = Some(config);
    })
    .await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    let dave = server.register("dave").await;
    let erin = server.register("erin").await;
    let frank = server.register("frank").await;
    server.register("gus").await;
    let mallory = server.register("mallory").await;
    let hana = server.register("hana").await;
    let (status, body) = server
        .call("PUT", "/api/v1/blocks/mallory", Some(&ana.token), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let group = server
        .group(&ana, "team", &[&bob, &carol, &erin, &frank, &hana])
        .await;
    let message = server.send(&ana, &group, "first", "hello team").await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let attachment = upload(&server, &ana, tiny_jpeg()).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (status, body) = server
        .post(
            &format!("/api/v1/conversations/{group}/messages"),
            &ana,
            json!({"client_txn_id": "picture", "attachment_ids": [attachment]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = server
        .call(
            "DELETE",
            &format!("/api/v1/conversations/{group}/members/carol"),
            Some(&ana.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = server
        .post(
            "/api/v1/reports",
            &bob,
            json!({"message_id": message, "reason": "rude"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let report = body["id"].as_str().expect("id").to_owned();
    let revoked = server.login("ana").await;
    let (status, body) = server
        .call(
            "DELETE",
            &format!("/api/v1/sessions/{}", revoked.session_id),
            Some(&ana.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = server
        .post("/api/v1/admin/users/erin/suspend", &ana, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    World {
        server,
        relay,
        twilio,
        ana,
        bob,
        carol,
        dave,
        erin,
        revoked,
        mallory,
        hana,
        report,
        group,
        message,
        attachment,
    }
}

/// A 16×16 JPEG.
pub(super) fn tiny_jpeg() -> Vec<u8> {
    let picture = image::RgbImage::from_pixel(16, 16, image::Rgb([200, 30, 30]));
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 80)
        .encode_image(&picture)
        .expect("encodes");
    jpeg
}

/// Uploads `bytes` as `user` (201 expected); the attachment object.
pub(super) async fn upload(server: &TestServer, user: &User, bytes: Vec<u8>) -> Value {
    let (status, body) = upload_as(server, Some(&user.token), bytes).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

/// `POST /api/v1/attachments` with one part `file`, with or without a token.
pub(super) async fn upload_as(
    server: &TestServer,
    token: Option<&str>,
    bytes: Vec<u8>,
) -> (StatusCode, Value) {
    server
        .upload(token, "picture.jpg", "image/jpeg", bytes)
        .await
}

/// Makes the request a matrix entry describes: JSON, or for the upload route a multipart
/// form, as its rightful caller would send it.
async fn request(
    w: &World,
    route: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    if route == "POST /api/v1/attachments" {
        return upload_as(&w.server, token, tiny_jpeg()).await;
    }
    // A current code of ana's enrolment: the pending secret to confirm it, the confirmed
    // one (a step ahead of the code that confirmed it) to turn it off.
    let body = match route {
        "POST /api/v1/me/2fa/confirm" | "DELETE /api/v1/me/2fa" => {
            let secret = w
                .server
                .db
                .text("SELECT COALESCE(totp_pending, totp_secret, '') FROM users WHERE username = 'ana'")
                .await;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("after 1970")
                .as_millis() as i64;
            let ahead = if route.starts_with("DELETE") {
                30_000
            } else {
                0
            };
            let code = hilo_service::totp::code_for(&secret, now + ahead).unwrap_or_default();
            body.map(|b| {
                serde_json::from_str(&b.to_string().replace("{code}", &code)).expect("JSON")
            })
        }
        // The code texted to ana's number (by the matrix's add, just before).
        "POST /api/v1/me/phones/verify" => {
            let texts = w.twilio.texts();
            let code: String = texts
                .last()
                .and_then(|form| form.iter().find(|(n, _)| n == "Body"))
                .map(|(_, body)| body.chars().take_while(char::is_ascii_digit).collect())
                .unwrap_or_default();
            body.map(|b| {
                serde_json::from_str(&b.to_string().replace("{code}", &code)).expect("JSON")
            })
        }
        // Signed as the provider signs, whoever sends it.
        "POST /api/v1/sms/{provider_id}/inbound" | "POST /api/v1/sms/{provider_id}/status" => {
            let fields: Vec<(String, String)> = body
                .as_ref()
                .and_then(Value::as_object)
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                        .collect()
                })
                .unwrap_or_default();
            let params: Vec<(&str, &str)> = fields
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let (status, text) =
                super::sms::webhook(&w.server, path, &params, super::sms::TOKEN).await;
            let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
            return (status, value);
        }
        // The code mailed to ana's address (by the matrix's add, just before).
        "POST /api/v1/me/emails/{address}/verify" | "POST /api/v1/me/emails/verify" => {
            let mail = w.relay.last().unwrap_or_default();
            let code = mail
                .split_whitespace()
                .find(|word| word.len() == 6 && word.bytes().all(|b| b.is_ascii_digit()))
                .unwrap_or("000000")
                .to_owned();
            body.map(|b| {
                serde_json::from_str(&b.to_string().replace("{code}", &code)).expect("JSON")
            })
        }
        _ => body,
    };
    let method = route.split_once(' ').expect("METHOD path").0;
    w.server.call(method, path, token, body).await
}

/// The route's path with its parameters filled in for `access`.
pub(super) fn fill(route: &str, access: Access, w: &World) -> String {
    let id = match access {
        Access::MessageMember | Access::MessageSender => w.message.as_str(),
        Access::AttachmentMember => w.attachment.as_str(),
        Access::SessionOwner => w.ana.session_id.as_str(),
        Access::ServerAdmin if route.contains("/reports/") => w.report.as_str(),
        _ => w.group.as_str(),
    };
    let username = match access {
        // Another member of the group: only an admin may remove them.
        Access::GroupAdmin => "frank",
        // Someone else: an admin may not suspend themself.
        Access::ServerAdmin if route.contains("/admin/users/") => "gus",
        _ => w.ana.username.as_str(),
    };
    let path = route.split_once(' ').expect("METHOD path").1;
    let path = path
        .replace("{id}", id)
        .replace("{username}", username)
        .replace("{address}", "ana@example.org")
        .replace("{provider_id}", "tw")
        .replace("{number}", "+34600999000")
        .replace("{emoji}", "%F0%9F%91%8D");
    match path.as_str() {
        // A long poll that answers at once.
        "/api/v1/events" => format!("{path}?timeout=0"),
        "/api/v1/users" => format!("{path}?q=an"),
        // The group's message says "hello team".
        "/api/v1/search/messages" => format!("{path}?q=hello"),
        _ if route == "DELETE /api/v1/messages/{id}" => format!("{path}?scope=everyone"),
        _ => path,
    }
}

/// The body with `"{group}"` standing for the group's id.
pub(super) fn fill_body(body: &Option<Value>, w: &World) -> Option<Value> {
    body.as_ref().map(|body| {
        serde_json::from_str(&body.to_string().replace("{group}", &w.group)).expect("JSON")
    })
}

/// Who may make a request of this kind: nobody in particular for public routes, a plain
/// member where membership is enough, ana (server and group admin) otherwise.
pub(super) fn rightful(access: Access, w: &World) -> Option<&User> {
    match access {
        Access::Public => None,
        Access::Member
        | Access::MessageMember
        | Access::AttachmentMember
        | Access::Person
        | Access::Reachable => Some(&w.bob),
        Access::Invitee => Some(&w.hana),
        Access::Account
        | Access::GroupAdmin
        | Access::ServerAdmin
        | Access::SessionOwner
        | Access::MessageSender => Some(&w.ana),
    }
}

/// Who must be refused, with the statuses that count as a refusal for them.
fn refused(access: Access, w: &World) -> Vec<(&'static str, Option<&User>, &'static [u16])> {
    const UNAUTHENTICATED: &[u16] = &[401];
    const DENIED: &[u16] = &[401, 403];
    const HIDDEN: &[u16] = &[403, 404];
    if access == Access::Public {
        return Vec::new();
    }
    let mut actors = vec![
        ("no token", None, UNAUTHENTICATED),
        ("a revoked token", Some(&w.revoked), UNAUTHENTICATED),
        ("a suspended member", Some(&w.erin), DENIED),
    ];
    match access {
        Access::Public | Access::Account | Access::Person => {}
        Access::Reachable => {
            actors.push(("someone ana blocks", Some(&w.mallory), &[403]));
        }
        Access::Member | Access::MessageMember | Access::AttachmentMember | Access::Invitee => {
            actors.push(("a stranger", Some(&w.dave), HIDDEN));
            actors.push(("an ex-member", Some(&w.carol), HIDDEN));
        }
        Access::GroupAdmin | Access::ServerAdmin | Access::SessionOwner => {
            actors.push(("a stranger", Some(&w.dave), HIDDEN));
            actors.push(("an ex-member", Some(&w.carol), HIDDEN));
            actors.push(("a member who is not an admin", Some(&w.bob), HIDDEN));
        }
        Access::MessageSender => {
            actors.push(("a stranger", Some(&w.dave), HIDDEN));
            actors.push(("an ex-member", Some(&w.carol), HIDDEN));
            actors.push(("a member who is not the sender", Some(&w.bob), HIDDEN));
        }
    }
    actors
}

/// Everything a refused request could have changed, read straight from the database.
pub(super) const FINGERPRINT: &str = "SELECT \
    CAST((SELECT COUNT(*) FROM users) AS TEXT) || '/' || \
    CAST((SELECT COALESCE(SUM(LENGTH(display_name) + LENGTH(who_can_message) + LENGTH(last_seen_visibility) + event_head \
        + CASE WHEN is_admin THEN 1000 ELSE 0 END + CASE WHEN suspended THEN 100 ELSE 0 END \
        + CASE WHEN read_receipts THEN 10 ELSE 0 END), 0) FROM users) AS TEXT) || '/' || \
    CAST((SELECT COUNT(*) FROM sessions) AS TEXT) || '/' || \
    CAST((SELECT COUNT(revoked_at) FROM sessions) AS TEXT) || '/' || \
    CAST((SELECT COUNT(*) FROM invites) AS TEXT) || '/' || \
    CAST((SELECT COUNT(*) FROM conversations) AS TEXT) || '/' || \
    CAST((SELECT COALESCE(SUM(last_seq + LENGTH(COALESCE(name, ''))), 0) FROM conversations) AS TEXT) || '/' || \
    CAST((SELECT COUNT(*) FROM members) AS TEXT) || '/' || \
    CAST((SELECT COALESCE(SUM(last_read_seq + LENGTH(folder) + LENGTH(notify) + LENGTH(role)), 0) FROM members) AS TEXT) || '/' || \
    CAST((SELECT COUNT(left_at) + COUNT(muted_until) FROM members) AS TEXT) || '/' || \
    CAST((SELECT COUNT(*) FROM messages) AS TEXT) || '/' || \
    CAST((SELECT COALESCE(SUM(LENGTH(COALESCE(text, ''))), 0) FROM messages) AS TEXT) || '/' || \
    CAST((SELECT COUNT(edited_at) + COUNT(mentions) + COALESCE(SUM(CASE WHEN deleted THEN 1 ELSE 0 END), 0) FROM messages) AS TEXT) || '/' || \
    CAST((SELECT COUNT(*) FROM reactions) AS TEXT) || '/' || \
    CAST((SELECT COUNT(*) FROM message_versions) AS TEXT) || '/' || \
    CAST((SELECT COUNT(*) FROM hidden_messages) AS TEXT) || '/' || \
    CAST((SELECT COUNT(*) FROM attachments) AS TEXT) || '/' || \
    CAST((SELECT COUNT(*) FROM message_attachments) AS TEXT) || '/' || \
    CAST((SELECT COUNT(*) FROM friends) + (SELECT COUNT(*) FROM friend_requests) AS TEXT) || '/' || \
    CAST((SELECT COUNT(*) + COALESCE(SUM(dropped), 0) FROM blocks) AS TEXT) || '/' || \
    CAST((SELECT COUNT(*) + COALESCE(SUM(LENGTH(status)), 0) FROM reports) AS TEXT) || '/' || \
    CAST((SELECT COUNT(*) + COALESCE(SUM(spam + ham), 0) FROM spam_features) AS TEXT) || '/' || \
    CAST((SELECT COUNT(*) FROM user_events) AS TEXT)";

#[tokio::test]
async fn every_route_refuses_everyone_but_its_rightful_caller_and_writes_nothing() {
    let w = world().await;
    let (status, doc) = w
        .server
        .call("GET", "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            documented.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    let matrix = matrix();
    let listed: BTreeSet<String> = matrix.iter().map(|(r, _, _)| (*r).to_owned()).collect();
    let missing: Vec<&String> = documented.difference(&listed).collect();
    assert!(
        missing.is_empty(),
        "routes with no entry in the authorization matrix: {missing:?}"
    );
    let stale: Vec<&String> = listed.difference(&documented).collect();
    assert!(stale.is_empty(), "matrix entries for no route: {stale:?}");

    let mut failures = Vec::new();
    for (route, access, body) in &matrix {
        let path = fill(route, *access, &w);
        let before = w.server.db.text(FINGERPRINT).await;
        for (actor, user, allowed) in refused(*access, &w) {
            let token = user.map(|u| u.token.as_str());
            let (status, answer) = request(&w, route, &path, token, fill_body(body, &w)).await;
            if !allowed.contains(&status.as_u16()) {
                failures.push(format!(
                    "{route} by {actor}: {status} {answer} (expected one of {allowed:?})"
                ));
            } else if answer["error"]["code"].as_str().is_none() {
                failures.push(format!(
                    "{route} by {actor}: {status} without the contract's error shape: {answer}"
                ));
            }
        }
        let after = w.server.db.text(FINGERPRINT).await;
        if before != after {
            failures.push(format!(
                "{route}: refused requests changed the database ({before} -> {after})"
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");

    // What a stranger reads about their own account names nothing of the others'.
    let secrets = [
        w.group.as_str(),
        w.message.as_str(),
        w.ana.session_id.as_str(),
    ];
    for (route, access, _) in &matrix {
        if *access != Access::Account || !route.starts_with("GET ") {
            continue;
        }
        let path = fill(route, *access, &w);
        let (status, answer) = w.server.get(&path, &w.dave).await;
        assert!(
            status.is_success(),
            "{route} by a stranger: {status} {answer}"
        );
        let text = answer.to_string();
        for secret in secrets {
            assert!(
                !text.contains(secret),
                "{route} shows a stranger {secret}: {text}"
            );
        }
    }

    // The rightful callers, destructive requests last: each succeeds, so every refusal
    // above was about the caller, not the request.
    let mut in_order: Vec<_> = matrix.iter().collect();
    in_order.sort_by_key(|(route, _, _)| match *route {
        "DELETE /api/v1/messages/{id}" | "DELETE /api/v1/conversations/{id}" => 1,
        "POST /api/v1/me/password" | "DELETE /api/v1/admin/users/{username}" => 1,
        // An account goes last of all.
        "DELETE /api/v1/me" => 3,
        _ if route.starts_with("DELETE /api/v1/sessions") => 2,
        _ => 0,
    });
    for (route, access, body) in in_order {
        let path = fill(route, *access, &w);
        // Deleting an account is dave's: ana is needed to the end.
        let caller = match *route {
            "DELETE /api/v1/me" => Some(&w.dave),
            _ => rightful(*access, &w),
        };
        let (status, answer) = request(
            &w,
            route,
            &path,
            caller.map(|u| u.token.as_str()),
            fill_body(body, &w),
        )
        .await;
        assert!(
            status.is_success(),
            "{route} by its rightful caller: {status} {answer}"
        );
    }
}

/// Fields a client may not set are ignored or refused, never applied.
#[tokio::test]
async fn mass_assignment_is_ignored_or_refused() {
    let w = world().await;
    let server = &w.server;
    // A message claiming another sender, position, conversation and channel.
    let (status, body) = server
        .post(
            &format!("/api/v1/conversations/{}/messages", w.group),
            &w.bob,
            json!({"client_txn_id": "mass", "text": "hi", "sender": {"id": w.ana.id},
                   "sender_user_id": w.ana.id, "seq": 999, "id": "forged",
                   "conversation_id": "elsewhere", "channel": "email", "created_at": 1}),
        )
        .await;
    if status.is_success() {
        assert_eq!(body["sender"]["id"], w.bob.id.as_str(), "{body}");
        assert_eq!(body["seq"], 3, "after the world's text and picture: {body}");
        assert_eq!(body["conversation_id"], w.group.as_str(), "{body}");
        assert_eq!(body["channel"], "chat", "{body}");
        assert_ne!(body["id"], "forged", "{body}");
    } else {
        assert!(status.is_client_error(), "{status} {body}");
    }
    // A profile update claiming admin rights and another name.
    let (status, body) = server
        .call(
            "PATCH",
            "/api/v1/me",
            Some(&w.bob.token),
            Some(json!({"display_name": "Bob", "is_admin": true, "username": "root", "id": w.ana.id})),
        )
        .await;
    assert!(
        status.is_success() || status.is_client_error(),
        "{status} {body}"
    );
    let (_, me) = server.get("/api/v1/me", &w.bob).await;
    assert_eq!(me["username"], "bob", "{me}");
    assert_eq!(me["id"], w.bob.id.as_str(), "{me}");
    assert_ne!(me["is_admin"], true, "{me}");
    // A sign-up claiming admin rights.
    let (status, body) = server
        .call(
            "POST",
            "/api/v1/accounts",
            None,
            Some(json!({"username": "mallory", "password": PASSWORD, "is_admin": true})),
        )
        .await;
    assert!(
        status.is_success() || status.is_client_error(),
        "{status} {body}"
    );
    let mallory = server.login("mallory").await;
    // Settings claiming the admin role.
    let (status, body) = server
        .call(
            "PATCH",
            &format!("/api/v1/conversations/{}/settings", w.group),
            Some(&w.bob.token),
            Some(json!({"folder": "inbox", "role": "admin", "last_read_seq": 999})),
        )
        .await;
    assert!(
        status.is_success() || status.is_client_error(),
        "{status} {body}"
    );
    // None of it took: they are still not admins of anything.
    for user in [&w.bob, &mallory] {
        let (status, body) = server.post("/api/v1/admin/invites", user, json!({})).await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "{} is no server admin: {body}",
            user.username
        );
    }
    let (status, body) = server
        .call(
            "DELETE",
            &format!("/api/v1/conversations/{}/members/frank", w.group),
            Some(&w.bob.token),
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "bob is no group admin: {body}"
    );
}

/// The blocked actor (mallory, whom ana blocks) wherever they would reach ana: a message
/// in their direct conversation, a friend request, a group with her in it, adding her to
/// one. Each is refused, and nothing is written but the block's count of dropped messages
/// (what issue 7 keeps of a blocked person's message); ana's stream hears nothing. The
/// matrix above has the same actor on the friend-request route.
#[tokio::test]
async fn a_blocked_person_is_refused_wherever_they_would_reach_the_blocker() {
    let w = world().await;
    let server = &w.server;
    // Opening the direct conversation is no message (it exists from before the block in
    // real life); then ana's stream and the database are watched.
    let direct = server.direct(&w.mallory, &w.ana).await;
    let group = server.group(&w.mallory, "mallory's", &[]).await;
    let mut anas = server.ws(&w.ana, None).await;
    assert_eq!(next_json(&mut anas).await["type"], "ready");
    let without_counter = FINGERPRINT.replace("COUNT(*) + COALESCE(SUM(dropped), 0)", "COUNT(*)");
    assert_ne!(
        without_counter, FINGERPRINT,
        "the fingerprint counts dropped messages"
    );
    // One query for the whole test run: leaking it is how it gets the 'static `text` needs.
    let without_counter: &'static str = Box::leak(without_counter.into_boxed_str());
    let fingerprint = || async { server.db.text(without_counter).await };
    let before = fingerprint().await;
    let attempts: Vec<(&str, String, Value)> = vec![
        (
            "POST",
            format!("/api/v1/conversations/{direct}/messages"),
            json!({"client_txn_id": "blocked", "text": "hola"}),
        ),
        ("POST", "/api/v1/friends".into(), json!({"username": "ana"})),
        (
            "POST",
            "/api/v1/conversations".into(),
            json!({"kind": "group", "name": "g", "members": ["ana"]}),
        ),
        (
            "POST",
            format!("/api/v1/conversations/{group}/members"),
            json!({"usernames": ["ana"]}),
        ),
    ];
    for (method, path, body) in &attempts {
        let (status, answer) = server
            .call(method, path, Some(&w.mallory.token), Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {answer}");
        assert!(answer["error"]["code"].is_string(), "{answer}");
    }
    assert_eq!(fingerprint().await, before, "refusals wrote nothing");
    assert_eq!(
        server
            .db
            .text("SELECT CAST(dropped AS TEXT) FROM blocks")
            .await,
        "1",
        "the dropped message is counted"
    );
    let frames = super::support::frames_within(&mut anas, 500).await;
    assert!(
        frames.iter().all(|f| f["type"] == "presence"),
        "ana heard of it: {frames:?}"
    );
    let (_, profile) = server.get("/api/v1/users/ana", &w.mallory).await;
    assert!(
        profile.get("online").is_none() && profile.get("last_seen_at").is_none(),
        "{profile}"
    );
}

/// A removed member's stream stops carrying the group at once: after the removal returns,
/// nothing sent to the group reaches them (watched for a second).
#[tokio::test]
async fn a_removed_member_gets_no_more_of_the_group() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let group = server.group(&ana, "team", &[&bob]).await;
    let mut ws = server.ws(&bob, None).await;
    assert_eq!(next_json(&mut ws).await["type"], "ready");
    server.send(&ana, &group, "before", "still here").await;
    assert_eq!(next_json(&mut ws).await["type"], "message.created");
    let (status, body) = server
        .call(
            "DELETE",
            &format!("/api/v1/conversations/{group}/members/bob"),
            Some(&ana.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    for n in 0..5 {
        server
            .send(&ana, &group, &format!("after{n}"), "not for bob")
            .await;
    }
    let until = Instant::now() + Duration::from_secs(1);
    while let Ok(Some(Ok(frame))) =
        tokio::time::timeout_at(until.into(), futures::StreamExt::next(&mut ws)).await
    {
        if let tokio_tungstenite::tungstenite::Message::Text(text) = frame {
            let event: Value = serde_json::from_str(&text).expect("json");
            assert_ne!(
                event["type"], "message.created",
                "a removed member got a message: {event}"
            );
        }
    }
    let (status, _) = server
        .get(&format!("/api/v1/conversations/{group}/messages"), &bob)
        .await;
    assert!(
        status == StatusCode::NOT_FOUND || status == StatusCode::FORBIDDEN,
        "{status}"
    );
}
