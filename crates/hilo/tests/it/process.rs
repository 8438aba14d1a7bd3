//! The real binary: restarts, `kill -9` after acknowledged sends (T1), SIGTERM, online
//! backup and restore, and the operator CLI.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use super::support::{
    Backend, ProcessServer, StatusCode, TestDb, TestServer, admin, close_code, next_json,
};

#[tokio::test]
async fn a_restart_keeps_everything() {
    let db = TestDb::new().await;
    let mut server = TestServer::start_on(&db, |_| {}).await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    // Friends, so bob's reply is just a message (no move out of his requests).
    server.make_friends(&ana, &bob).await;
    let id = server.direct(&ana, &bob).await;
    let group = server.group(&ana, "Team", &[&bob]).await;
    server.send(&ana, &id, "t1", "before restart").await;
    server
        .post(
            &format!("/api/v1/conversations/{id}/read"),
            &bob,
            json!({"seq": 1}),
        )
        .await;
    let (_, cursor) = server.get("/api/v1/events?timeout=0", &bob).await;
    server.stop().await;

    let server = TestServer::start_on(&db, |_| {}).await;
    let (status, me) = server.get("/api/v1/me", &ana).await;
    assert_eq!(
        (status, me["is_admin"].as_bool()),
        (StatusCode::OK, Some(true)),
        "sessions survive"
    );
    let history = server.history(&bob, &id, "").await;
    assert_eq!(history["messages"][0]["text"], "before restart");
    let (_, view) = server
        .get(&format!("/api/v1/conversations/{id}"), &bob)
        .await;
    assert_eq!(
        (
            view["last_read_seq"].as_i64(),
            view["unread_count"].as_i64()
        ),
        (Some(1), Some(0))
    );
    let (_, view) = server
        .get(&format!("/api/v1/conversations/{group}"), &bob)
        .await;
    assert_eq!(view["name"], "Team");
    let second = server.send(&bob, &id, "t2", "after restart").await;
    assert_eq!(second["seq"], 2, "seq continues");
    let (_, events) = server
        .get(
            &format!(
                "/api/v1/events?since={}&timeout=0",
                cursor["cursor"].as_str().unwrap_or("0")
            ),
            &bob,
        )
        .await;
    assert_eq!(
        events["events"].as_array().map(Vec::len),
        Some(1),
        "cursors survive a restart: {events}"
    );
}

#[tokio::test]
async fn kill_9_after_acknowledged_sends_loses_nothing() {
    let db = TestDb::new().await;
    let mut process = ProcessServer::start(&db);
    let server = Arc::new(process.client());
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let id = server.direct(&ana, &bob).await;
    let single = server
        .send(&ana, &id, "solo", "acknowledged just before the kill")
        .await;

    // Eight senders hammer the conversation; the server is killed mid-stream.
    let acked: Arc<Mutex<BTreeMap<String, (String, i64)>>> = Arc::default();
    let mut tasks = Vec::new();
    for sender in 0..8 {
        let (server, acked, id) = (server.clone(), acked.clone(), id.clone());
        let user = if sender % 2 == 0 {
            ana.clone()
        } else {
            bob.clone()
        };
        tasks.push(tokio::spawn(async move {
            for n in 0.. {
                let txn = format!("s{sender}-{n}");
                let request = reqwest::Client::new()
                    .post(format!(
                        "{}/api/v1/conversations/{id}/messages",
                        server.base
                    ))
                    .bearer_auth(&user.token)
                    .json(&json!({"client_txn_id": txn, "text": txn}))
                    .send()
                    .await;
                let Ok(response) = request else { break };
                if response.status() != reqwest::StatusCode::CREATED {
                    break;
                }
                let Ok(body) = response.json::<serde_json::Value>().await else {
                    break;
                };
                let message = (
                    body["id"].as_str().unwrap_or("").to_owned(),
                    body["seq"].as_i64().unwrap_or(-1),
                );
                acked.lock().expect("lock").insert(txn, message);
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while acked.lock().expect("lock").len() < 100 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    process.kill9();
    for task in tasks {
        task.await.expect("sender task");
    }
    let acked = acked.lock().expect("lock").clone();
    assert!(acked.len() >= 100, "the load ran: {} acked", acked.len());

    let process = ProcessServer::start(&db);
    let server = process.client();
    if db.backend() == Backend::Sqlite {
        let path = db.data_dir().join("hilo.db");
        let options = hilo_store_sqlite::SqliteOptions::default();
        let store = hilo_store_sqlite::SqliteStore::open(&path, options, None)
            .await
            .expect("open");
        let problems = hilo_store_sqlite::integrity_problems(&store)
            .await
            .expect("checks run");
        hilo_store::AdminStore::close(&store).await;
        assert!(
            problems.is_empty(),
            "integrity_check and foreign_key_check: {problems:?}"
        );
    }
    let (status, fetched) = server
        .get(
            &format!("/api/v1/messages/{}", single["id"].as_str().unwrap_or("")),
            &bob,
        )
        .await;
    assert_eq!(
        (status, fetched["text"].as_str()),
        (StatusCode::OK, Some("acknowledged just before the kill"))
    );
    // Every acknowledged message is there with its seq; seqs are 1..=N with no gap.
    let mut stored = BTreeMap::new();
    for message in server.all_messages(&bob, &id).await {
        stored.insert(
            message["seq"].as_i64().unwrap_or(-1),
            (
                message["id"].as_str().unwrap_or("").to_owned(),
                message["client_txn_id"].as_str().unwrap_or("").to_owned(),
            ),
        );
    }
    let seqs: Vec<i64> = stored.keys().copied().collect();
    assert_eq!(
        seqs,
        (1..=stored.len() as i64).collect::<Vec<_>>(),
        "gap-free after the crash"
    );
    for (txn, (id, seq)) in &acked {
        assert_eq!(
            stored.get(seq),
            Some(&(id.clone(), txn.clone())),
            "acknowledged {txn} survived at seq {seq}"
        );
    }
    // A retry of an acknowledged send after the crash returns the original.
    let (txn, (original, _)) = acked.iter().next().expect("one");
    let user = if txn.starts_with("s0")
        || txn.starts_with("s2")
        || txn.starts_with("s4")
        || txn.starts_with("s6")
    {
        &ana
    } else {
        &bob
    };
    let (status, retry) = server
        .post(
            &format!("/api/v1/conversations/{id}/messages"),
            user,
            json!({"client_txn_id": txn, "text": txn}),
        )
        .await;
    assert_eq!(
        (status, retry["id"].as_str()),
        (StatusCode::OK, Some(original.as_str()))
    );
    drop(process);
    assert!(db.count("messages").await > acked.len() as i64);
}

#[tokio::test]
async fn sigterm_closes_streams_with_a_close_frame_and_exits_zero() {
    let db = TestDb::new().await;
    let mut process = ProcessServer::start(&db);
    let server = process.client();
    let ana = server.register("ana").await;
    let mut ws = server.ws(&ana, None).await;
    assert_eq!(next_json(&mut ws).await["type"], "ready");
    // A long poll in flight when the signal comes is answered, not cut.
    let (_, now) = server.get("/api/v1/events?timeout=0", &ana).await;
    let poll = {
        let url = server.url(&format!(
            "/api/v1/events?since={}&timeout=60",
            now["cursor"].as_str().unwrap_or("0")
        ));
        let token = ana.token.clone();
        tokio::spawn(async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .map(|r| r.status())
        })
    };
    server
        .wait_for_streams(2, Duration::from_secs(10), "the long poll never started")
        .await;
    let started = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &process.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    assert_eq!(close_code(&mut ws).await, 1001, "going away");
    let polled = poll
        .await
        .expect("poll task")
        .expect("the in-flight long poll got an answer");
    assert_eq!(polled, reqwest::StatusCode::OK);
    let exit = loop {
        if let Some(exit) = process.child.try_wait().expect("wait") {
            break exit;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "exits within a few seconds"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(exit.success(), "exit status {exit:?}");
}

#[tokio::test]
async fn online_backup_restores_into_a_working_server() {
    let db = TestDb::new().await;
    if db.backend() == Backend::Postgres {
        // PostgreSQL is backed up with its own tools; the CLI says so instead of failing
        // obscurely.
        let target = db.data_dir().join("backup.db");
        let (ok, _, stderr) = admin(&db, &["backup", target.to_str().expect("utf-8")], "");
        assert!(!ok && stderr.contains("pg_dump"), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "one clear line: {stderr}");
        return;
    }
    let process = ProcessServer::start(&db);
    let server = process.client();
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let id = server.direct(&ana, &bob).await;
    for n in 1..=20 {
        server
            .send(&ana, &id, &format!("t{n}"), &format!("backed up {n}"))
            .await;
    }
    let backup = db.data_dir().join("backup.db");
    let (ok, stdout, stderr) = admin(&db, &["backup", backup.to_str().expect("utf-8")], "");
    assert!(ok, "backup while the server runs: {stdout} {stderr}");
    let (ok, _, stderr) = admin(&db, &["backup", backup.to_str().expect("utf-8")], "");
    assert!(
        !ok && stderr.contains("already exists"),
        "never overwrites: {stderr}"
    );
    server.send(&ana, &id, "late", "after the backup").await;
    drop(process);

    // Restore as documented: copy the file into an empty data dir as hilo.db.
    let restored = TestDb::new().await;
    std::fs::copy(&backup, restored.data_dir().join("hilo.db")).expect("copy");
    let process = ProcessServer::start(&restored);
    let server = process.client();
    let history = server.history(&bob, &id, "?limit=200").await;
    let texts: Vec<&str> = history["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["text"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(texts.len(), 20);
    assert_eq!(texts.last(), Some(&"backed up 20"));
    let next = server.send(&bob, &id, "r1", "after restore").await;
    assert_eq!(next["seq"], 21);
}

#[tokio::test]
async fn operators_manage_accounts_from_the_cli() {
    let db = TestDb::new().await;
    let (ok, stdout, stderr) = admin(
        &db,
        &["create-user", "Root", "--admin"],
        "s3cret password\n",
    );
    assert!(ok, "{stdout} {stderr}");
    assert!(stdout.contains("created root"), "{stdout}");
    let (ok, _, _) = admin(&db, &["create-user", "weak"], "short\n");
    assert!(!ok, "password rules apply to the CLI too");
    let (ok, _, stderr) = admin(&db, &["create-user", "root"], "another password\n");
    assert!(!ok && stderr.contains("taken"), "{stderr}");
    let (ok, _, _) = admin(&db, &["create-user", "mia"], "mia's password\n");
    assert!(ok);
    let (ok, stdout, _) = admin(&db, &["make-admin", "mia"], "");
    assert!(ok && stdout.contains("mia is now an admin"), "{stdout}");
    let (ok, _, _) = admin(&db, &["make-admin", "ghost"], "");
    assert!(!ok);
    let (ok, code, _) = admin(&db, &["create-invite"], "");
    assert!(ok);
    let code = code.trim().to_owned();

    let server = TestServer::start_on(&db, |args| args.registration = Some("invite".into())).await;
    let (status, body) = server
        .call(
            "POST",
            "/api/v1/accounts",
            None,
            Some(json!({"username": "newbie", "password": "correct horse", "invite_code": code})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = server
        .call(
            "POST",
            "/api/v1/sessions",
            None,
            Some(json!({"username": "mia", "password": "mia's password"})),
        )
        .await;
    assert_eq!(
        (status, body["user"]["is_admin"].as_bool()),
        (StatusCode::CREATED, Some(true))
    );
    let token = body["token"].as_str().expect("token").to_owned();

    let (ok, stdout, _) = admin(&db, &["reset-password", "mia"], "brand new password\n");
    assert!(ok, "{stdout}");
    let (status, _) = server.call("GET", "/api/v1/me", Some(&token), None).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a reset logs out every session"
    );
    let (status, _) = server
        .call(
            "POST",
            "/api/v1/sessions",
            None,
            Some(json!({"username": "mia", "password": "brand new password"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn settings_come_from_the_file_then_the_environment_then_flags() {
    let db = TestDb::new().await;
    let config = db.data_dir().join("hilo.toml");
    std::fs::write(
        &config,
        "registration = \"closed\"\nmail_domain = \"from-file.example\"\nlog_format = \"json\"\n",
    )
    .expect("write");
    let process = ProcessServer::start_with(
        &db,
        &["--config", config.to_str().expect("utf-8")],
        &[("HILO_MAIL_DOMAIN", "from-env.example")],
    );
    let server = process.client();
    let owner = server.register("owner").await;
    let (_, me) = server.get("/api/v1/me", &owner).await;
    assert_eq!(
        me["email_address"], "owner@from-env.example",
        "the environment beats the file"
    );
    let (status, body) = server
        .call(
            "POST",
            "/api/v1/accounts",
            None,
            Some(json!({"username": "late", "password": "correct horse"})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("registration_closed")),
        "the file's policy applies"
    );
    drop(process);

    let process = ProcessServer::start_with(
        &db,
        &[
            "--config",
            config.to_str().expect("utf-8"),
            "--mail-domain",
            "from-flag.example",
        ],
        &[("HILO_MAIL_DOMAIN", "from-env.example")],
    );
    let (_, me) = process.client().get("/api/v1/me", &owner).await;
    assert_eq!(
        me["email_address"], "owner@from-flag.example",
        "flags beat the environment"
    );
}

#[test]
fn invalid_configuration_is_reported_whole_before_starting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ok, stderr) = super::support::serve_until_exit(
        dir.path(),
        &[
            "--listen",
            "not-an-address",
            "--registration",
            "sometimes",
            "--database",
            "mysql://db",
        ],
    );
    assert!(!ok);
    for field in ["listen", "registration", "database"] {
        assert!(stderr.contains(field), "{field} is reported: {stderr}");
    }
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "lisen = \"127.0.0.1:1\"\n").expect("write");
    let (ok, stderr) = super::support::serve_until_exit(
        dir.path(),
        &["--config", config.to_str().expect("utf-8")],
    );
    assert!(!ok);
    assert!(stderr.contains("lisen"), "unknown keys are named: {stderr}");
}

#[test]
fn help_never_prints_secret_environment_values() {
    for command in ["serve", "admin"] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_hilo"))
            .args([command, "--help"])
            .env("HILO_DATABASE_URL", "postgres://hilo:db-s3cret@db/hilo")
            .env("HILO_NATS_URL", "nats://user:nats-s3cret@nats:4222")
            .env("HILO_SMTP_RELAY", "smtp://me:smtp-s3cret@mail:587")
            .output()
            .expect("hilo runs");
        let help = String::from_utf8_lossy(&output.stdout);
        assert!(help.contains("HILO_DATABASE_URL"), "{help}");
        assert!(!help.contains("s3cret"), "{command} --help: {help}");
    }
}
