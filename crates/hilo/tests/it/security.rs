//! Account security (issue 8): two-factor auth, password changes, session sweeps, device
//! names, the audit log, user administration and the security headers.

use serde_json::{Value, json};

use super::support::{
    Backend, ProcessServer, StatusCode, TestDb, TestServer, User, close_code, next_json, next_of,
    stream, user_from,
};

const PASSWORD: &str = "correct horse battery";
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as i64
}

/// The code an authenticator app shows `offset_steps` steps (of 30 s) from now.
fn code(secret: &str, offset_steps: i64) -> String {
    hilo_service::totp::code_for(secret, now_millis() + offset_steps * 30_000).expect("a code")
}

async fn log_in(server: &TestServer, username: &str, code: Option<&str>) -> (StatusCode, Value) {
    let mut body = json!({"username": username, "password": PASSWORD});
    if let Some(code) = code {
        body["totp_code"] = json!(code);
    }
    server
        .call("POST", "/api/v1/sessions", None, Some(body))
        .await
}

async fn audit_types(server: &TestServer, user: &User) -> Vec<String> {
    let (status, body) = server.get("/api/v1/me/audit", user).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["type"].as_str().expect("type").to_owned())
        .collect()
}

/// Turns 2FA on for `user`; the secret and the recovery codes.
async fn enable_two_factor(server: &TestServer, user: &User) -> (String, Vec<String>) {
    let (status, body) = server.post("/api/v1/me/2fa", user, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let secret = body["secret"].as_str().expect("secret").to_owned();
    let (status, body) = server
        .post(
            "/api/v1/me/2fa/confirm",
            user,
            json!({"code": code(&secret, 0)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let codes = body["recovery_codes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|c| c.as_str().expect("code").to_owned())
        .collect();
    (secret, codes)
}

#[tokio::test]
async fn two_factor_enrolment_then_logins_need_a_fresh_code() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let (status, body) = server.post("/api/v1/me/2fa", &ana, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let secret = body["secret"].as_str().expect("secret").to_owned();
    assert_eq!(secret.len(), 32, "160 bits in base32: {secret}");
    let uri = body["otpauth_uri"].as_str().expect("uri");
    assert!(
        uri.starts_with("otpauth://totp/hilo:ana%40localhost?"),
        "{uri}"
    );
    for part in [
        &format!("secret={secret}"),
        "issuer=hilo",
        "digits=6",
        "period=30",
        "algorithm=SHA1",
    ] {
        assert!(uri.contains(part), "{uri} has {part}");
    }
    let svg = body["qr_svg"].as_str().expect("svg");
    assert!(svg.contains("<svg") && svg.contains("</svg>"), "{svg:.100}");
    let status_of = |user: &User| {
        let user = user.clone();
        let server = &server;
        async move { server.get("/api/v1/me/2fa", &user).await.1 }
    };
    assert_eq!(
        status_of(&ana).await,
        json!({"enabled": false, "recovery_codes_left": 0}),
        "an enrolment not confirmed is not on"
    );

    // Not on until confirmed: logins need no code yet.
    assert_eq!(log_in(&server, "ana", None).await.0, StatusCode::CREATED);
    let (status, body) = server
        .post("/api/v1/me/2fa/confirm", &ana, json!({"code": "000000"}))
        .await;
    let wrong_is_wrong = code(&secret, 0) != "000000"
        && code(&secret, -1) != "000000"
        && code(&secret, 1) != "000000";
    if wrong_is_wrong {
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_code")),
            "{body}"
        );
    }
    let (status, body) = server
        .post(
            "/api/v1/me/2fa/confirm",
            &ana,
            json!({"code": "not a code"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_code")),
        "{body}"
    );
    let first = code(&secret, 0);
    let (status, body) = server
        .post("/api/v1/me/2fa/confirm", &ana, json!({"code": first}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let recovery: Vec<&str> = body["recovery_codes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|c| c.as_str().expect("code"))
        .collect();
    assert_eq!(recovery.len(), 10);
    let distinct: std::collections::HashSet<_> = recovery.iter().collect();
    assert_eq!(distinct.len(), 10);
    for code in &recovery {
        assert!(
            !server.db.contains(code).await,
            "recovery codes are stored hashed"
        );
        assert!(!server.db.contains(&code.replace('-', "")).await);
    }
    let (status, body) = server.post("/api/v1/me/2fa", &ana, json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("totp_enabled"))
    );

    // Now a login needs a code, and a code is good once.
    let (status, body) = log_in(&server, "ana", None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("totp_required")),
        "{body}"
    );
    if wrong_is_wrong {
        let (status, body) = log_in(&server, "ana", Some("000000")).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("totp_required"))
        );
    }
    let (status, body) = log_in(&server, "ana", Some(&first)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("totp_required")),
        "the code that confirmed enrolment cannot be replayed: {body}"
    );
    let next = code(&secret, 1);
    let (status, body) = log_in(&server, "ana", Some(&next)).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "the next step's code (clock drift) works: {body}"
    );
    let phone = user_from(&body);
    let (status, _) = log_in(&server, "ana", Some(&next)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a used code is refused");
    let (status, _) = log_in(&server, "ana", Some(&code(&secret, 0))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "so is an older step's");
    let (status, _) = log_in(&server, "ana", Some(&code(&secret, 3))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "and one far from now");
    let (status, _) = server.get("/api/v1/me", &phone).await;
    assert_eq!(status, StatusCode::OK);

    // Recovery codes: each good once, however typed.
    let (status, body) = log_in(&server, "ana", Some(recovery[0])).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = log_in(&server, "ana", Some(recovery[0])).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("totp_required")),
        "a recovery code is single-use"
    );
    let typed = recovery[1].replace('-', " ").to_uppercase();
    assert_eq!(
        log_in(&server, "ana", Some(&typed)).await.0,
        StatusCode::CREATED
    );
    assert_eq!(
        status_of(&phone).await,
        json!({"enabled": true, "recovery_codes_left": 8}),
        "two recovery codes used"
    );
    let (status, _) = log_in(&server, "ana", Some(&"x".repeat(5000))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The wrong password still gets the same answer as ever, code or not.
    let (status, body) = server
        .call(
            "POST",
            "/api/v1/sessions",
            None,
            Some(
                json!({"username": "ana", "password": "wrong password!", "totp_code": recovery[2]}),
            ),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_credentials"))
    );

    let types = audit_types(&server, &ana).await;
    for kind in ["2fa_enabled", "login", "login_failed", "recovery_code_used"] {
        assert!(types.iter().any(|t| t == kind), "{kind} in {types:?}");
    }
}

#[tokio::test]
async fn turning_two_factor_off_needs_the_password_and_a_code() {
    let server = TestServer::start().await;
    let bea = server.register("bea").await;
    let (status, body) = server
        .call(
            "DELETE",
            "/api/v1/me/2fa",
            Some(&bea.token),
            Some(json!({"password": PASSWORD, "code": "123456"})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("totp_not_enabled"))
    );
    let (status, body) = server
        .post("/api/v1/me/2fa/confirm", &bea, json!({"code": "123456"}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("totp_not_started"))
    );
    let (secret, recovery) = enable_two_factor(&server, &bea).await;
    let (status, body) = server
        .call(
            "DELETE",
            "/api/v1/me/2fa",
            Some(&bea.token),
            Some(json!({"password": "not the password", "code": code(&secret, 1)})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("invalid_password")),
        "{body}"
    );
    let (status, body) = server
        .call(
            "DELETE",
            "/api/v1/me/2fa",
            Some(&bea.token),
            Some(json!({"password": PASSWORD, "code": "abc"})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_code")),
        "{body}"
    );
    let (status, body) = server
        .call(
            "DELETE",
            "/api/v1/me/2fa",
            Some(&bea.token),
            Some(json!({"password": PASSWORD, "code": recovery[9]})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "a recovery code also works: {body}"
    );
    assert_eq!(
        log_in(&server, "bea", None).await.0,
        StatusCode::CREATED,
        "no code needed any more"
    );
    assert_eq!(
        server.db.count("recovery_codes").await,
        0,
        "the recovery codes are gone"
    );
    let types = audit_types(&server, &bea).await;
    assert!(types.contains(&"2fa_disabled".to_owned()), "{types:?}");
    // On again, with a new secret: the old one's codes are worthless.
    let (new_secret, _) = enable_two_factor(&server, &bea).await;
    assert_ne!(new_secret, secret);
    let old = code(&secret, 1);
    if (-1..=2).all(|step| code(&new_secret, step) != old) {
        let (status, body) = log_in(&server, "bea", Some(&old)).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("totp_required"))
        );
    }
    let (status, body) = log_in(&server, "bea", Some(&code(&new_secret, 1))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn a_password_change_revokes_every_other_session_and_its_streams() {
    let server = TestServer::start().await;
    let cai = server.register("cai").await;
    let laptop = server.login("cai").await;
    let mut laptop_ws = stream(&server, &laptop).await;
    for (current, new, status, code) in [
        (
            "wrong password!",
            "a brand new passphrase",
            StatusCode::FORBIDDEN,
            "invalid_password",
        ),
        (PASSWORD, "short", StatusCode::BAD_REQUEST, "weak_password"),
        (
            PASSWORD,
            "Password123",
            StatusCode::BAD_REQUEST,
            "weak_password",
        ),
        (
            PASSWORD,
            &"p".repeat(129),
            StatusCode::BAD_REQUEST,
            "invalid_password",
        ),
    ] {
        let (got, body) = server
            .post(
                "/api/v1/me/password",
                &cai,
                json!({"current_password": current, "new_password": new}),
            )
            .await;
        assert_eq!(
            (got, body["error"]["code"].as_str()),
            (status, Some(code)),
            "{new}: {body}"
        );
    }
    assert_eq!(
        server.get("/api/v1/me", &laptop).await.0,
        StatusCode::OK,
        "refusals change nothing"
    );
    let (status, body) = server
        .post(
            "/api/v1/me/password",
            &cai,
            json!({"current_password": PASSWORD, "new_password": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(
        server.get("/api/v1/me", &cai).await.0,
        StatusCode::OK,
        "the current session stays"
    );
    assert_eq!(
        server.get("/api/v1/me", &laptop).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        next_of(&mut laptop_ws, "session.revoked").await["session_id"],
        laptop.session_id.as_str()
    );
    assert_eq!(close_code(&mut laptop_ws).await, 4001);
    assert_eq!(
        log_in(&server, "cai", None).await.0,
        StatusCode::UNAUTHORIZED,
        "the old password is dead"
    );
    let (status, _) = server
        .call(
            "POST",
            "/api/v1/sessions",
            None,
            Some(json!({"username": "cai", "password": "a brand new passphrase"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(!server.db.contains("a brand new passphrase").await);
    let types = audit_types(&server, &cai).await;
    assert_eq!(
        types.first().map(String::as_str),
        Some("login"),
        "newest first: {types:?}"
    );
    assert!(types.contains(&"password_changed".to_owned()), "{types:?}");
}

#[tokio::test]
async fn sessions_are_named_after_their_device_and_the_others_can_be_revoked_at_once() {
    let server = TestServer::start().await;
    let dan = server.register("dan").await;
    let (status, _, body) = server
        .call_with(
            "POST",
            "/api/v1/sessions",
            None,
            Some(json!({"username": "dan", "password": PASSWORD})),
            &[("user-agent", FIREFOX)],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let firefox = user_from(&body);
    let (_, _, body) = server
        .call_with(
            "POST",
            "/api/v1/sessions",
            None,
            Some(json!({"username": "dan", "password": PASSWORD, "device_name": "Kitchen tablet"})),
            &[("user-agent", FIREFOX)],
        )
        .await;
    let tablet = user_from(&body);
    let (_, body) = server.get("/api/v1/sessions", &dan).await;
    let device_of = |id: &str| {
        body["sessions"]
            .as_array()
            .expect("sessions")
            .iter()
            .find(|s| s["id"] == id)
            .map(|s| s["device_name"].clone())
    };
    assert_eq!(
        device_of(&firefox.session_id),
        Some(json!("Firefox on Linux"))
    );
    assert_eq!(
        device_of(&tablet.session_id),
        Some(json!("Kitchen tablet")),
        "a given name wins"
    );
    assert!(
        body["sessions"]
            .as_array()
            .expect("sessions")
            .iter()
            .all(|s| s["ip"] == "127.0.0.1"),
        "{body}"
    );

    let mut tablet_ws = stream(&server, &tablet).await;
    let (status, body) = server.delete("/api/v1/sessions/others", &firefox).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    // Each revocation reaches every stream of the account; the tablet's own closes it.
    loop {
        let event = next_of(&mut tablet_ws, "session.revoked").await;
        if event["session_id"] == tablet.session_id.as_str() {
            break;
        }
    }
    assert_eq!(close_code(&mut tablet_ws).await, 4001);
    for gone in [&dan, &tablet] {
        assert_eq!(
            server.get("/api/v1/me", gone).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let (_, body) = server.get("/api/v1/sessions", &firefox).await;
    let sessions = body["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["current"], true);
    let (_, body) = server.get("/api/v1/me/audit", &firefox).await;
    let login = body["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["type"] == "login")
        .cloned()
        .expect("a login entry");
    assert_eq!(
        (login["ip"].as_str(), login["device"].as_str()),
        (Some("127.0.0.1"), Some("Kitchen tablet")),
        "{login}"
    );
}

#[tokio::test]
async fn admins_list_suspend_reinstate_and_log_out_users() {
    let server = TestServer::start().await;
    let admin = server.register("root").await;
    let eve = server.register("eve").await;
    let fay = server.register("fay").await;
    server.register("gil").await;
    for (method, path) in [
        ("GET", "/api/v1/admin/users"),
        ("GET", "/api/v1/admin/audit"),
        ("POST", "/api/v1/admin/users/fay/suspend"),
        ("POST", "/api/v1/admin/users/fay/unsuspend"),
        ("POST", "/api/v1/admin/users/fay/logout"),
    ] {
        let (status, body) = server.call(method, path, Some(&eve.token), None).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("admin_only")),
            "{method} {path}"
        );
    }
    let (status, body) = server.get("/api/v1/admin/users?limit=2", &admin).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let names = |body: &Value| -> Vec<String> {
        body["users"]
            .as_array()
            .expect("users")
            .iter()
            .map(|u| u["username"].as_str().expect("name").to_owned())
            .collect()
    };
    assert_eq!(names(&body), ["eve", "fay"]);
    let (_, body) = server.get("/api/v1/admin/users?after=fay", &admin).await;
    assert_eq!(names(&body), ["gil", "root"]);
    let (_, body) = server.get("/api/v1/admin/users?q=AY", &admin).await;
    assert_eq!(names(&body), ["fay"]);
    let (status, _) = server
        .get(&format!("/api/v1/admin/users?q={}", "q".repeat(65)), &admin)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let mut fay_ws = stream(&server, &fay).await;
    let (status, body) = server
        .post("/api/v1/admin/users/FAY/suspend", &admin, json!({}))
        .await;
    assert_eq!(
        (status, body["suspended"].as_bool()),
        (StatusCode::OK, Some(true)),
        "{body}"
    );
    assert_eq!(
        next_of(&mut fay_ws, "session.revoked").await["session_id"],
        fay.session_id.as_str()
    );
    assert_eq!(close_code(&mut fay_ws).await, 4001);
    assert_eq!(
        server.get("/api/v1/me", &fay).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, body) = log_in(&server, "fay", None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("account_suspended"))
    );
    let (_, body) = server.get("/api/v1/admin/users?q=fay", &admin).await;
    assert_eq!(
        body["users"][0]["suspended"], true,
        "suspended accounts are listed: {body}"
    );
    let (status, body) = server
        .post("/api/v1/admin/users/root/suspend", &admin, json!({}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "not oneself: {body}");
    let (status, _) = server
        .post("/api/v1/admin/users/nobody/suspend", &admin, json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = server
        .post("/api/v1/admin/users/fay/unsuspend", &admin, json!({}))
        .await;
    assert_eq!(
        (status, body["suspended"].as_bool()),
        (StatusCode::OK, Some(false))
    );
    assert_eq!(log_in(&server, "fay", None).await.0, StatusCode::CREATED);

    let eve_laptop = server.login("eve").await;
    let (status, body) = server
        .post("/api/v1/admin/users/eve/logout", &admin, json!({}))
        .await;
    assert_eq!(
        (status, body["revoked"].as_i64()),
        (StatusCode::OK, Some(2)),
        "{body}"
    );
    for gone in [&eve, &eve_laptop] {
        assert_eq!(
            server.get("/api/v1/me", gone).await.0,
            StatusCode::UNAUTHORIZED
        );
    }

    // A login naming no account is audited without the name typed (it may be a password).
    let (status, _) = server
        .call(
            "POST",
            "/api/v1/sessions",
            None,
            Some(json!({"username": "typed-my-password-here", "password": PASSWORD})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = server.get("/api/v1/admin/audit?limit=200", &admin).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let events = body["events"].as_array().expect("events");
    let anonymous = &events[0];
    assert_eq!(
        (anonymous["type"].as_str(), anonymous.get("username")),
        (Some("login_failed"), None),
        "{anonymous}"
    );
    assert!(!body.to_string().contains("typed-my-password-here"));
    let suspension = events
        .iter()
        .find(|e| e["type"] == "account_suspended")
        .expect("the suspension is audited");
    assert_eq!(
        (
            suspension["username"].as_str(),
            suspension["actor_id"].as_str()
        ),
        (Some("fay"), Some(admin.id.as_str()))
    );
    // Fay sees what was done to her account, but not others' entries.
    let fay = server.login("fay").await;
    let types = audit_types(&server, &fay).await;
    for kind in [
        "account_suspended",
        "account_unsuspended",
        "login_failed",
        "login",
    ] {
        assert!(types.iter().any(|t| t == kind), "{kind} in {types:?}");
    }
    let (_, body) = server.get("/api/v1/me/audit", &fay).await;
    assert!(
        body["events"]
            .as_array()
            .expect("events")
            .iter()
            .all(|e| e.get("username").is_none())
    );
}

#[tokio::test]
async fn the_audit_log_pages_newest_first() {
    let server = TestServer::start().await;
    let hal = server.register("hal").await;
    for _ in 0..5 {
        server.login("hal").await;
    }
    let (_, body) = server.get("/api/v1/me/audit?limit=3", &hal).await;
    let first: Vec<Value> = body["events"].as_array().expect("events").clone();
    assert_eq!(first.len(), 3);
    let last = first[2]["id"].as_str().expect("id");
    let (_, body) = server
        .get(&format!("/api/v1/me/audit?before={last}"), &hal)
        .await;
    let rest = body["events"].as_array().expect("events");
    assert_eq!(rest.len(), 2, "five logins in all: {body}");
    let mut ids: Vec<&str> = first
        .iter()
        .chain(rest)
        .map(|e| e["id"].as_str().expect("id"))
        .collect();
    let newest_first = ids.clone();
    ids.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(ids, newest_first);
    for bad in ["?before=nope", "?limit=0", "?limit=201"] {
        let (status, body) = server.get(&format!("/api/v1/me/audit{bad}"), &hal).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
}

#[tokio::test]
async fn a_password_hashed_with_older_parameters_is_rehashed_at_login() {
    let server = TestServer::start().await;
    server.register("ivo").await;
    // "correct horse battery" under m=128 (argon2-cffi); the test server hashes with m=256.
    server
        .db
        .execute("UPDATE users SET password_hash = '$argon2id$v=19$m=128,t=1,p=1$tsts8QHkWzrnPMSilUiCvA$37cWTdBFbGeWqpjTQ8TNoBsY+5qDNuQgO9rhFWf5Hl8' WHERE username = 'ivo'")
        .await;
    assert_eq!(
        log_in(&server, "ivo", None).await.0,
        StatusCode::CREATED,
        "the old hash verifies"
    );
    let hash = server
        .db
        .text("SELECT password_hash FROM users WHERE username = 'ivo'")
        .await;
    assert!(
        hash.starts_with("$argon2id$v=19$m=256,t=1,p=1$"),
        "rehashed: {hash}"
    );
    assert_eq!(
        log_in(&server, "ivo", None).await.0,
        StatusCode::CREATED,
        "and the new one too"
    );
}

#[tokio::test]
async fn every_answer_carries_the_security_headers_and_cors_stays_closed() {
    let server = TestServer::start().await;
    let jo = server.register("joy").await;
    for (method, path, token) in [
        ("GET", "/api/v1/me", Some(jo.token.as_str())),
        ("GET", "/api/v1/me", None),
        ("GET", "/api/v1/nowhere", None),
        ("GET", "/healthz", None),
        ("OPTIONS", "/api/v1/me", None),
    ] {
        let (_, headers, _) = server
            .call_with(
                method,
                path,
                token,
                None,
                &[
                    ("origin", "https://evil.example"),
                    ("access-control-request-method", "GET"),
                ],
            )
            .await;
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let csp = header("content-security-policy");
        assert!(
            csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
            "{method} {path}: {csp}"
        );
        assert_eq!(header("x-content-type-options"), "nosniff");
        assert_eq!(header("referrer-policy"), "no-referrer");
        assert_eq!(header("x-frame-options"), "DENY");
        assert_eq!(header("cache-control"), "no-store");
        assert!(
            headers
                .keys()
                .all(|name| !name.as_str().starts_with("access-control-")),
            "{method} {path}: no CORS grant: {headers:?}"
        );
        assert!(headers.get("set-cookie").is_none(), "no cookies");
    }
}

#[tokio::test]
async fn streams_learn_of_a_two_factor_login_like_any_other() {
    // A login with a second factor is an ordinary session: its stream works.
    let server = TestServer::start().await;
    let kim = server.register("kim").await;
    let (secret, _) = enable_two_factor(&server, &kim).await;
    let (status, body) = log_in(&server, "kim", Some(&code(&secret, 1))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let tablet = user_from(&body);
    let mut ws = stream(&server, &tablet).await;
    let (status, _) = server
        .delete(&format!("/api/v1/sessions/{}", tablet.session_id), &kim)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(next_json(&mut ws).await["type"], "session.revoked");
}

#[tokio::test]
async fn no_password_token_or_code_reaches_the_log_of_the_binary() {
    // The real binary at its most verbose level, through every path that carries a secret.
    let db = TestDb::new().await;
    let process = ProcessServer::start_with(&db, &[], &[("HILO_LOG", "trace")]);
    let server = process.client();
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let mut secrets = vec![PASSWORD.to_owned(), ana.token.clone(), bob.token.clone()];
    for (username, password) in [
        ("ana", "a wrong password typed"),
        ("typed-password-as-username", PASSWORD),
    ] {
        secrets.push(password.to_owned());
        if username != "ana" {
            // A username naming no account may be a password typed in the wrong field.
            secrets.push(username.to_owned());
        }
        let (status, _) = server
            .call(
                "POST",
                "/api/v1/sessions",
                None,
                Some(json!({"username": username, "password": password})),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let mut header_ws = stream(&server, &ana).await;
    let mut frame_ws = server
        .ws_first_frame(json!({"type": "auth", "token": bob.token}))
        .await;
    assert_eq!(next_json(&mut frame_ws).await["type"], "ready");
    let (secret, recovery) = enable_two_factor(&server, &ana).await;
    secrets.push(secret.clone());
    secrets.extend(recovery.iter().cloned());
    secrets.extend(recovery.iter().map(|c| c.replace('-', "")));
    let (status, body) = log_in(&server, "ana", Some(&recovery[0])).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let phone = user_from(&body);
    secrets.push(phone.token.clone());
    let (status, body) = log_in(&server, "ana", Some(&code(&secret, 1))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    secrets.push(user_from(&body).token);
    let (status, _) = server
        .post(
            "/api/v1/me/password",
            &phone,
            json!({"current_password": PASSWORD, "new_password": "the new secret passphrase"}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    secrets.push("the new secret passphrase".to_owned());
    assert_eq!(
        next_of(&mut header_ws, "session.revoked").await["type"],
        "session.revoked"
    );
    let (status, _) = server.get("/api/v1/me", &ana).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a revoked token is refused (and not logged)"
    );
    let conversation = server.direct(&bob, &phone).await;
    server.send(&phone, &conversation, "t1", "hello bob").await;
    assert_eq!(
        next_of(&mut frame_ws, "message.created").await["type"],
        "message.created"
    );
    drop((header_ws, frame_ws));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let log = process.log.lock().expect("log").clone();
    assert!(log.len() > 20, "the server logged: {log:?}");
    assert!(
        log.iter().any(
            |line| line.contains("\"level\":\"TRACE\"") || line.contains("\"level\":\"DEBUG\"")
        ),
        "the log is verbose"
    );
    for secret in &secrets {
        let leaks: Vec<&String> = log
            .iter()
            .filter(|line| line.contains(secret.as_str()))
            .collect();
        assert!(leaks.is_empty(), "{secret:?} is in the log: {leaks:#?}");
    }
}

/// A login whose request comes from `source` (any 127.x.y.z reaches the server over
/// loopback), for limits kept per address.
async fn log_in_from(
    server: &TestServer,
    source: [u8; 4],
    username: &str,
    password: &str,
) -> (StatusCode, Option<String>, Value) {
    log_in_with(server, source, None, username, password).await
}

/// [`log_in_from`] with a User-Agent.
async fn log_in_with(
    server: &TestServer,
    source: [u8; 4],
    user_agent: Option<&str>,
    username: &str,
    password: &str,
) -> (StatusCode, Option<String>, Value) {
    let mut client = reqwest::Client::builder().local_address(std::net::IpAddr::from(source));
    if let Some(agent) = user_agent {
        client = client.user_agent(agent);
    }
    let response = client
        .build()
        .expect("client")
        .post(server.url("/api/v1/sessions"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .expect("answer");
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (
        status,
        retry_after,
        response.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn wrong_passwords_are_throttled_with_a_growing_wait_that_never_locks_the_owner_out() {
    let server = TestServer::start().await;
    server.register("lia").await;
    server.register("max").await;
    const HOME: [u8; 4] = [127, 0, 0, 1];
    for attempt in 1..=5 {
        let (status, retry, body) = log_in_from(&server, HOME, "lia", "not lia's password").await;
        assert_eq!(
            (status, retry),
            (StatusCode::UNAUTHORIZED, None),
            "attempt {attempt}: {body}"
        );
    }
    // Five failures are free; then each try waits 1 s after the last failure.
    let (status, retry, body) = log_in_from(&server, HOME, "lia", "not lia's password").await;
    assert_eq!(
        (status, retry.as_deref()),
        (StatusCode::TOO_MANY_REQUESTS, Some("1")),
        "{body}"
    );
    assert_eq!(body["error"]["code"], "rate_limited");
    let (status, _, _) = log_in_from(&server, HOME, "lia", PASSWORD).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the right password waits too"
    );
    // Nobody else is held up: another person here, nor lia from another address.
    assert_eq!(
        log_in_from(&server, HOME, "max", PASSWORD).await.0,
        StatusCode::CREATED
    );
    assert_eq!(
        log_in_from(&server, [127, 0, 0, 2], "lia", PASSWORD)
            .await
            .0,
        StatusCode::CREATED
    );
    // The wait doubles with each further failure.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, _, _) = log_in_from(&server, HOME, "lia", "not lia's password").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "after the wait, a try is made"
    );
    let (status, retry, _) = log_in_from(&server, HOME, "lia", PASSWORD).await;
    assert_eq!(
        (status, retry.as_deref()),
        (StatusCode::TOO_MANY_REQUESTS, Some("2"))
    );
    // And once it is over the owner gets in, which ends the run of failures.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (status, _, body) = log_in_from(&server, HOME, "lia", PASSWORD).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _, _) = log_in_from(&server, HOME, "lia", "not lia's password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = log_in_from(&server, HOME, "lia", PASSWORD).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "one failure after a success is free again"
    );
}

#[tokio::test]
async fn guessing_two_factor_codes_is_throttled_like_passwords() {
    let server = TestServer::start().await;
    let mia = server.register("mia").await;
    let (secret, _) = enable_two_factor(&server, &mia).await;
    let guesses: Vec<String> = (0..6)
        .map(|n| format!("{:06}", (n * 111_111 + 7) % 1_000_000))
        .filter(|guess| (-1..=2).all(|step| &code(&secret, step) != guess))
        .take(5)
        .collect();
    for guess in &guesses {
        let (status, _) = log_in(&server, "mia", Some(guess)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, body) = log_in(&server, "mia", Some(&code(&secret, 1))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited")),
        "five wrong codes make even a right one wait: {body}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        log_in(&server, "mia", Some(&code(&secret, 1))).await.0,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn one_address_failing_logins_for_many_names_is_stopped() {
    let server = TestServer::start_with(|args| {
        args.limit_login_failures_per_ip = Some("4".into());
    })
    .await;
    server.register("ned").await;
    for name in ["ann", "ben", "cid", "dee"] {
        let (status, _, _) = log_in_from(&server, [127, 0, 0, 3], name, "guessed password").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, retry, _) = log_in_from(&server, [127, 0, 0, 3], "ned", PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = retry.expect("Retry-After").parse().expect("seconds");
    assert!(
        (590..=600).contains(&wait),
        "the rest of the 10-minute window: {wait}"
    );
    assert_eq!(
        log_in_from(&server, [127, 0, 0, 4], "ned", PASSWORD)
            .await
            .0,
        StatusCode::CREATED,
        "other addresses are not held up"
    );
}

#[tokio::test]
async fn registrations_per_address_and_messages_per_person_are_limited() {
    let server = TestServer::start_with(|args| {
        args.limit_registrations_per_ip = Some("3".into());
        args.limit_messages_per_minute = Some("4".into());
    })
    .await;
    let ola = server.register("ola").await;
    let pia = server.register("pia").await;
    server.register("quim").await;
    let (status, headers, body) = server
        .call_with(
            "POST",
            "/api/v1/accounts",
            None,
            Some(json!({"username": "rafa", "password": PASSWORD})),
            &[],
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited")),
        "{body}"
    );
    let wait: u64 = headers["retry-after"]
        .to_str()
        .expect("text")
        .parse()
        .expect("seconds");
    assert!((3590..=3600).contains(&wait), "{wait}");
    assert!(
        server
            .db
            .text("SELECT COALESCE(MAX(username), '') FROM users WHERE username = 'rafa'")
            .await
            .is_empty(),
        "nothing stored"
    );

    let conversation = server.direct(&ola, &pia).await;
    for n in 0..4 {
        server
            .send(&ola, &conversation, &format!("t{n}"), "hello")
            .await;
    }
    let (status, headers, body) = server
        .call_with(
            "POST",
            &format!("/api/v1/conversations/{conversation}/messages"),
            Some(&ola.token),
            Some(json!({"client_txn_id": "t5", "text": "one too many"})),
            &[],
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited")),
        "{body}"
    );
    assert!(headers.contains_key("retry-after"));
    assert_eq!(
        server.all_messages(&pia, &conversation).await.len(),
        4,
        "nothing stored"
    );
    server
        .send(&pia, &conversation, "p1", "others still can")
        .await;
}

#[tokio::test]
async fn a_deleted_account_is_gone_but_its_messages_stay_for_the_others_as_a_deleted_users() {
    let server = TestServer::start().await;
    let root = server.register("root").await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let cai = server.register("cai").await;
    server.make_friends(&ana, &bob).await;
    let direct = server.direct(&ana, &bob).await;
    server.send(&ana, &direct, "a1", "hola bob").await;
    server.send(&bob, &direct, "b1", "hola ana").await;
    let group = server.group(&bob, "trio", &[&ana, &cai]).await;
    server.send(&ana, &group, "a2", "hola a todos").await;
    let laptop = server.login("ana").await;
    let mut laptop_ws = stream(&server, &laptop).await;

    let (status, body) = server
        .call(
            "DELETE",
            "/api/v1/me",
            Some(&ana.token),
            Some(json!({"password": "not my password"})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("invalid_password"))
    );
    assert_eq!(
        server.get("/api/v1/me", &laptop).await.0,
        StatusCode::OK,
        "a refusal changes nothing"
    );
    let (status, body) = server
        .call(
            "DELETE",
            "/api/v1/me",
            Some(&ana.token),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    // Every session and stream of hers is dead, and nobody can log in as her.
    for gone in [&ana, &laptop] {
        assert_eq!(
            server.get("/api/v1/me", gone).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        next_of(&mut laptop_ws, "session.revoked").await["type"],
        "session.revoked"
    );
    assert_eq!(close_code(&mut laptop_ws).await, 4001);
    let (status, body) = log_in(&server, "ana", None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_credentials"))
    );

    // Bob keeps the conversation and her messages, from a deleted user.
    let messages = server.all_messages(&bob, &direct).await;
    let texts: Vec<&str> = messages.iter().filter_map(|m| m["text"].as_str()).collect();
    assert_eq!(texts, ["hola bob", "hola ana"]);
    let sender = &messages[0]["sender"];
    assert_eq!(sender["id"], ana.id.as_str(), "{sender}");
    assert_eq!(sender["display_name"], "Deleted user", "{sender}");
    assert_ne!(sender["username"], "ana", "{sender}");
    assert!(!server.all_messages(&cai, &group).await.is_empty());
    let (_, body) = server
        .get(&format!("/api/v1/conversations/{group}"), &cai)
        .await;
    let members = body["members"].to_string();
    assert!(!members.contains(&ana.id), "she left the group: {members}");
    // She is no one's friend, findable by no one, and her name is free.
    let (_, body) = server.get("/api/v1/friends", &bob).await;
    assert!(!body.to_string().contains(&ana.id), "{body}");
    assert_eq!(
        server.get("/api/v1/users/ana", &bob).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, body) = server.get("/api/v1/users?q=ana", &bob).await;
    assert_eq!(body["users"], json!([]), "{body}");
    let (_, body) = server.get("/api/v1/admin/users", &root).await;
    assert!(!body.to_string().contains(&ana.id), "{body}");
    assert_eq!(
        server.count("sessions").await,
        3,
        "root, bob, cai and nobody of hers"
    );
    let new_ana = server.register("ana").await;
    assert_ne!(new_ana.id, ana.id);
    let (_, body) = server.get("/api/v1/conversations", &new_ana).await;
    assert_eq!(
        body["conversations"],
        json!([]),
        "the new ana sees nothing of the old: {body}"
    );
    let (_, body) = server.get("/api/v1/admin/audit", &root).await;
    let deletion = body["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["type"] == "account_deleted")
        .cloned()
        .expect("audited");
    assert_eq!(
        (deletion["username"].as_str(), deletion["detail"].as_str()),
        (Some("ana"), Some("by its owner"))
    );

    // Administrators delete others, never themselves here.
    let (status, _) = server
        .call(
            "DELETE",
            "/api/v1/admin/users/root",
            Some(&root.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = server
        .call("DELETE", "/api/v1/admin/users/cai", Some(&root.token), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        server.get("/api/v1/me", &cai).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = server
        .call("DELETE", "/api/v1/admin/users/cai", Some(&root.token), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "gone already");
}

#[tokio::test]
async fn the_data_export_holds_everything_the_person_can_see_and_nothing_else() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let cai = server.register("cai").await;
    server.make_friends(&ana, &bob).await;
    let direct = server.direct(&ana, &bob).await;
    let picture = super::authz::tiny_jpeg();
    let (status, upload) = server
        .upload(Some(&ana.token), "../beach.jpg", "image/jpeg", picture)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{upload}");
    let (status, body) = server
        .post(
            &format!("/api/v1/conversations/{direct}/messages"),
            &ana,
            json!({"client_txn_id": "p", "text": "la playa", "attachment_ids": [upload["id"]]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    server.send(&bob, &direct, "b1", "qué bonita").await;
    let hidden = server.send(&bob, &direct, "b2", "borrado para ana").await;
    let (status, _) = server
        .call(
            "DELETE",
            &format!(
                "/api/v1/messages/{}?scope=me",
                hidden["id"].as_str().expect("id")
            ),
            Some(&ana.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let elsewhere = server.direct(&bob, &cai).await;
    server
        .send(&bob, &elsewhere, "c1", "un secreto entre bob y cai")
        .await;

    let response = reqwest::Client::new()
        .get(server.url("/api/v1/me/export"))
        .bearer_auth(&ana.token)
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/zip");
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .expect("text")
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"hilo-ana-"),
        "{disposition}"
    );
    let bytes = response.bytes().await.expect("body");
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).expect("a zip");
    let names: Vec<String> = archive
        .file_names()
        .map(|name| name.expect("a name").into_owned())
        .collect();
    let read = |archive: &mut zip::ZipArchive<std::io::Cursor<Vec<u8>>>, name: &str| -> Vec<u8> {
        let mut entry = archive
            .by_name(name)
            .unwrap_or_else(|_| panic!("{name} in {names:?}"));
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut out).expect("read");
        out
    };
    let json_of = |bytes: Vec<u8>| -> Value { serde_json::from_slice(&bytes).expect("JSON") };
    let profile = json_of(read(&mut archive, "profile.json"));
    assert_eq!(
        (
            profile["username"].as_str(),
            profile["email_address"].as_str()
        ),
        (Some("ana"), Some("ana@localhost"))
    );
    let friends = json_of(read(&mut archive, "friends.json"));
    assert_eq!(friends[0]["username"], "bob");
    let sessions = json_of(read(&mut archive, "sessions.json"));
    assert_eq!(sessions.as_array().map(Vec::len), Some(1));
    let log = json_of(read(&mut archive, "security-log.json"));
    assert!(log.as_array().is_some(), "{log}");
    let conversation = json_of(read(&mut archive, &format!("conversations/{direct}.json")));
    let texts: Vec<&str> = conversation["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert_eq!(
        texts,
        ["la playa", "qué bonita"],
        "what she can see, no more"
    );
    assert_eq!(
        names
            .iter()
            .filter(|n| n.starts_with("conversations/"))
            .count(),
        1,
        "only her conversations: {names:?}"
    );
    let file = format!("files/{}/beach.jpg", upload["id"].as_str().expect("id"));
    let stored = reqwest::Client::new()
        .get(server.url(&format!(
            "/api/v1/attachments/{}",
            upload["id"].as_str().expect("id")
        )))
        .bearer_auth(&ana.token)
        .send()
        .await
        .expect("answer")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(
        read(&mut archive, &file),
        stored.to_vec(),
        "her file, byte for byte, as stored"
    );
    assert!(names.contains(&"README.txt".to_owned()));
    // Nothing secret, nothing of others: read every entry uncompressed.
    let mut everything = Vec::new();
    for name in &names {
        everything.extend(read(&mut archive, name));
    }
    let everything = String::from_utf8_lossy(&everything);
    for secret in [
        ana.token.as_str(),
        PASSWORD,
        "argon2",
        "un secreto entre bob y cai",
        "borrado para ana",
    ] {
        assert!(!everything.contains(secret), "the export holds {secret:?}");
    }
}

const ANDROID: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36";

/// The user's "Security" conversation and its messages, if any.
async fn security_notices(server: &TestServer, user: &User) -> Option<(String, Vec<Value>)> {
    let (_, body) = server.get("/api/v1/conversations", user).await;
    let conversation = body["conversations"]
        .as_array()
        .expect("conversations")
        .iter()
        .find(|c| c["members"].to_string().contains("\"Security\""))
        .cloned()?;
    let id = conversation["id"].as_str().expect("id").to_owned();
    let messages = server.all_messages(user, &id).await;
    Some((id, messages))
}

#[tokio::test]
async fn a_login_from_a_new_device_or_network_is_announced_in_the_security_conversation() {
    let server = TestServer::start().await;
    let (status, _, body) = server
        .call_with(
            "POST",
            "/api/v1/accounts",
            None,
            Some(json!({"username": "nia", "password": PASSWORD})),
            &[("user-agent", FIREFOX)],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let nia = user_from(&body);
    assert_eq!(
        body["user"]["is_admin"], true,
        "the notices account takes nothing from the first one"
    );
    let mut ws = stream(&server, &nia).await;

    // The same browser on the same network again: nothing to say.
    let (status, _, _) = log_in_with(&server, [127, 0, 0, 1], Some(FIREFOX), "nia", PASSWORD).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(
        security_notices(&server, &nia).await.is_none(),
        "no alert for a known device"
    );

    // A phone: a new device.
    let (status, _, body) =
        log_in_with(&server, [127, 0, 0, 1], Some(ANDROID), "nia", PASSWORD).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let phone = user_from(&body);
    let created = next_of(&mut ws, "message.created").await;
    assert_eq!(created["message"]["channel"], "system", "{created}");
    let (conversation, messages) = security_notices(&server, &nia)
        .await
        .expect("a Security conversation");
    assert_eq!(messages.len(), 1);
    let text = messages[0]["text"].as_str().expect("text");
    for part in [
        "a new device",
        "Chrome on Android",
        "127.0.0.1",
        phone.session_id.as_str(),
    ] {
        assert!(text.contains(part), "{part} in {text}");
    }
    assert_eq!(messages[0]["channel"], "system");
    assert_eq!(messages[0]["sender"]["display_name"], "Security");

    // The same browser from another network.
    let (status, _, body) =
        log_in_with(&server, [127, 1, 0, 9], Some(FIREFOX), "nia", PASSWORD).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, messages) = security_notices(&server, &nia)
        .await
        .expect("the same conversation");
    assert_eq!(messages.len(), 2);
    let text = messages[1]["text"].as_str().expect("text");
    assert!(
        text.contains("a new network") && text.contains("127.1.0.9"),
        "{text}"
    );

    // "This wasn't me": that session ends with one request.
    let (status, _) = server
        .delete(&format!("/api/v1/sessions/{}", phone.session_id), &nia)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        server.get("/api/v1/me", &phone).await.0,
        StatusCode::UNAUTHORIZED
    );

    // Notices cannot be answered, and their sender is nobody anyone can reach.
    let (status, body) = server
        .post(
            &format!("/api/v1/conversations/{conversation}/messages"),
            &nia,
            json!({"client_txn_id": "r", "text": "was me"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("read_only")),
        "{body}"
    );
    assert_eq!(
        server.get("/api/v1/users/hilo-security", &nia).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, body) = server.get("/api/v1/admin/users", &nia).await;
    assert!(!body.to_string().contains("hilo-security"), "{body}");
    let (status, _) = server
        .call(
            "POST",
            "/api/v1/sessions",
            None,
            Some(json!({"username": "hilo-security", "password": PASSWORD})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn guesses_sent_in_parallel_get_no_more_tries_than_one_at_a_time() {
    let server = TestServer::start().await;
    server.register("oto").await;
    let mut guesses = tokio::task::JoinSet::new();
    for n in 0..30 {
        let url = server.url("/api/v1/sessions");
        guesses.spawn(async move {
            reqwest::Client::new()
                .post(url)
                .json(&json!({"username": "oto", "password": format!("guess number {n}")}))
                .send()
                .await
                .expect("answer")
                .status()
        });
    }
    let mut checked = 0;
    while let Some(status) = guesses.join_next().await {
        match status.expect("task") {
            StatusCode::UNAUTHORIZED => checked += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert!(
        (1..=10).contains(&checked),
        "each try is counted before it is checked: {checked} of 30 were"
    );
    let (status, _, _) = log_in_from(&server, [127, 0, 0, 5], "oto", PASSWORD).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "the owner elsewhere is not held up"
    );
}

#[tokio::test]
async fn limits_hold_across_nodes_sharing_a_database() {
    // Two nodes on one PostgreSQL database: failures counted on one throttle the other.
    let db = TestDb::new().await;
    if !matches!(db.backend(), Backend::Postgres) {
        return;
    }
    let first = TestServer::start_on(&db, |_| {}).await;
    let second = TestServer::start_on(&db, |_| {}).await;
    first.register("pol").await;
    for _ in 0..5 {
        let (status, _, _) = log_in_from(&first, [127, 0, 0, 1], "pol", "not pol's password").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, retry, body) = log_in_from(&second, [127, 0, 0, 1], "pol", PASSWORD).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the other node sees the same failures: {body}"
    );
    assert!(retry.is_some());
}
