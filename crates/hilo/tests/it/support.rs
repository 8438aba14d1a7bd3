//! Test harness: a database of the backend under test, an in-process server on a random
//! loopback port, a JSON client, WebSocket helpers, and the real binary as a child process.
//!
//! The suite runs once per backend: `tests/sqlite.rs` and `tests/postgres.rs` are two test
//! binaries over these same modules, each naming its backend in `crate::BACKEND`. On
//! PostgreSQL every [`TestDb`] is a database of its own, created on the server that
//! `HILO_TEST_DATABASE_URL` names and dropped when the test ends.

use std::io::{BufRead, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use hilo::app::{self, BuildOptions};
use hilo::config::{Config, ServeArgs};
pub use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_util::sync::CancellationToken;

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// With `HILO_TEST_LOG_DIR` set (`.ci/run` sets it), every in-process server logs at the
/// most verbose level into `server-<pid>.jsonl` there, and every secret the tests send or
/// receive (passwords, tokens, 2FA secrets and recovery codes; 10 characters or more, so a
/// short one cannot match by chance) goes into `secrets-<pid>.txt`. After the whole run,
/// `.ci/run` greps the logs for the secrets: none may appear (issue 8, TESTING.md).
pub(super) mod capture {
    use std::fs::{File, OpenOptions};
    use std::io::Write;
    use std::sync::{Mutex, OnceLock};

    fn open(name: &str) -> Option<File> {
        let dir = std::env::var_os("HILO_TEST_LOG_DIR")?;
        std::fs::create_dir_all(&dir).ok()?;
        let path = std::path::Path::new(&dir).join(format!("{name}-{}", std::process::id()));
        OpenOptions::new().create(true).append(true).open(path).ok()
    }

    /// Installs the log capture once per test binary.
    pub fn install() {
        static INSTALLED: OnceLock<()> = OnceLock::new();
        INSTALLED.get_or_init(|| {
            if !enabled() {
                return;
            }
            // Asked for and not working would let the grep pass on nothing: fail instead.
            let file = open("server.jsonl").expect("HILO_TEST_LOG_DIR is writable");
            tracing_subscriber::fmt()
                .json()
                .with_env_filter(hilo::cli::log_filter("trace"))
                .with_writer(Mutex::new(file))
                .try_init()
                .expect("the log capture is the test binary's only subscriber");
        });
    }

    /// Appends a log line of a server process.
    pub fn process_line(line: &str) {
        static FILE: OnceLock<Option<Mutex<File>>> = OnceLock::new();
        if let Some(file) = FILE.get_or_init(|| open("process.jsonl").map(Mutex::new)) {
            let mut file = file
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let _ = writeln!(file, "{line}");
        }
    }

    /// Whether logs are being captured.
    pub fn enabled() -> bool {
        std::env::var_os("HILO_TEST_LOG_DIR").is_some()
    }

    /// Records a secret the tests used.
    pub fn secret(value: &str) {
        static FILE: OnceLock<Option<Mutex<File>>> = OnceLock::new();
        if value.chars().count() < 10 || value.contains('\n') {
            return;
        }
        if let Some(file) = FILE.get_or_init(|| open("secrets.txt").map(Mutex::new)) {
            let mut file = file
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let _ = writeln!(file, "{value}");
        }
    }

    /// Fields of a request body that carry a secret.
    pub const SENT: &[&str] = &[
        "password",
        "current_password",
        "new_password",
        "token",
        "totp_code",
        "code",
    ];
    /// Fields of an answer that carry one (an error's `code` is no secret).
    pub const RECEIVED: &[&str] = &["token", "secret", "otpauth_uri", "recovery_codes"];

    /// Records the secrets in a body: the values of the `fields` that carry one, at any
    /// depth.
    pub fn secrets_in(value: &serde_json::Value, fields: &[&str]) {
        match value {
            serde_json::Value::Object(object) => {
                for (name, field) in object {
                    if fields.contains(&name.as_str()) {
                        match field {
                            serde_json::Value::String(text) => secret(text),
                            serde_json::Value::Array(items) => {
                                items.iter().filter_map(|i| i.as_str()).for_each(secret)
                            }
                            _ => {}
                        }
                    }
                    secrets_in(field, fields);
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|i| secrets_in(i, fields)),
            _ => {}
        }
    }
}

/// Which store the suite runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded SQLite file in the data dir.
    Sqlite,
    /// A database on the PostgreSQL server of `HILO_TEST_DATABASE_URL`.
    Postgres,
}

/// The PostgreSQL server for tests, from `HILO_TEST_DATABASE_URL`. When it is unset, the
/// PostgreSQL run of the suite is skipped as a whole with a notice on the terminal (the
/// test binary exits successfully before running anything else); under `CI=true` that is
/// a failure instead, so a missing service never passes silently.
fn postgres_server_url() -> String {
    match std::env::var("HILO_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("HILO_TEST_DATABASE_URL must be set under CI=true (.ci/run sets it)")
        }
        _ => {
            // Straight to the terminal: the test harness captures `eprintln!`.
            let _ = writeln!(
                std::io::stderr(),
                "\nNOTICE: HILO_TEST_DATABASE_URL is unset: skipping the PostgreSQL run of the test suite \
                 (set it to e.g. postgres://postgres@127.0.0.1:5432/postgres, or run .ci/run)\n"
            );
            std::process::exit(0);
        }
    }
}

/// Where a test's data lives: a temporary data dir and, on PostgreSQL, a database of its
/// own (dropped on drop).
pub struct TestDb {
    dir: tempfile::TempDir,
    postgres: Option<PgDatabase>,
}

struct PgDatabase {
    server_url: String,
    name: String,
    url: String,
}

static DATABASES: AtomicU32 = AtomicU32::new(0);

impl TestDb {
    pub async fn new() -> Arc<TestDb> {
        let dir = tempfile::tempdir().expect("a temporary directory can be made");
        let postgres = match crate::BACKEND {
            Backend::Sqlite => None,
            Backend::Postgres => Some(PgDatabase::create().await),
        };
        Arc::new(TestDb { dir, postgres })
    }

    pub fn backend(&self) -> Backend {
        crate::BACKEND
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The `--database` URL, on PostgreSQL.
    pub fn database_url(&self) -> Option<&str> {
        self.postgres.as_ref().map(|pg| pg.url.as_str())
    }

    /// Points server settings at this data dir and database.
    pub fn configure(&self, args: &mut ServeArgs) {
        args.store.data_dir = Some(self.data_dir().to_owned());
        args.store.database = self.database_url().map(str::to_owned);
    }

    /// The same as command-line flags.
    pub fn flags(&self) -> Vec<String> {
        let mut flags = vec![
            "--data-dir".to_owned(),
            self.data_dir().display().to_string(),
        ];
        if let Some(url) = self.database_url() {
            flags.extend(["--database".to_owned(), url.to_owned()]);
        }
        flags
    }

    /// Number of rows in a table, read straight from the database.
    pub async fn count(&self, table: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        match &self.postgres {
            None => count_rows(&self.data_dir().join("hilo.db"), table).await,
            Some(pg) => {
                let mut conn = pg.connect().await;
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .fetch_one(&mut conn)
                    .await
                    .expect("count")
            }
        }
    }

    /// Runs one statement straight on the database (SQL both dialects accept): for state no
    /// API sets yet.
    pub async fn execute(&self, sql: &'static str) {
        match &self.postgres {
            None => {
                let mut conn = sqlite_connection(&self.data_dir().join("hilo.db"), false).await;
                sqlx::query(sql)
                    .execute(&mut conn)
                    .await
                    .expect("statement");
            }
            Some(pg) => {
                let mut conn = pg.connect().await;
                sqlx::query(sql)
                    .execute(&mut conn)
                    .await
                    .expect("statement");
            }
        }
    }

    /// One text value read straight from the database (SQL both dialects accept).
    pub async fn text(&self, sql: &'static str) -> String {
        match &self.postgres {
            None => scalar(&self.data_dir().join("hilo.db"), sql).await,
            Some(pg) => {
                let mut conn = pg.connect().await;
                sqlx::query_scalar(sql)
                    .fetch_one(&mut conn)
                    .await
                    .expect("query")
            }
        }
    }

    /// Whether `needle` appears anywhere in the stored data: in the SQLite files' bytes, or
    /// in the text of any row of any table on PostgreSQL.
    pub async fn contains(&self, needle: &str) -> bool {
        match &self.postgres {
            None => {
                let mut raw = Vec::new();
                for file in ["hilo.db", "hilo.db-wal"] {
                    raw.extend(std::fs::read(self.data_dir().join(file)).unwrap_or_default());
                }
                raw.windows(needle.len()).any(|w| w == needle.as_bytes())
            }
            Some(pg) => {
                let mut conn = pg.connect().await;
                let tables: Vec<String> = sqlx::query_scalar(
                    "SELECT tablename::TEXT FROM pg_tables WHERE schemaname = 'public'",
                )
                .fetch_all(&mut conn)
                .await
                .expect("tables");
                for table in tables {
                    let sql = format!(
                        "SELECT EXISTS (SELECT 1 FROM \"{table}\" t WHERE position($1 IN t::TEXT) > 0)"
                    );
                    let found: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                        .bind(needle)
                        .fetch_one(&mut conn)
                        .await
                        .expect("search");
                    if found {
                        return true;
                    }
                }
                false
            }
        }
    }
}

impl PgDatabase {
    async fn create() -> PgDatabase {
        let server_url = postgres_server_url();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "hilo_test_{}_{}_{nanos:x}",
            std::process::id(),
            DATABASES.fetch_add(1, Ordering::Relaxed)
        );
        let (base, query) = match server_url.split_once('?') {
            Some((base, query)) => (base, format!("?{query}")),
            None => (server_url.as_str(), String::new()),
        };
        let (server, _) = base
            .rsplit_once('/')
            .filter(|(server, _)| server.contains("://") && !server.ends_with('/'))
            .unwrap_or((base, ""));
        let url = format!("{server}/{name}{query}");
        let database = PgDatabase {
            server_url: server_url.clone(),
            name,
            url,
        };
        let mut conn = connect_pg(&server_url).await;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE \"{}\"",
            database.name
        )))
        .execute(&mut conn)
        .await
        .expect("the test database can be created");
        database
    }

    async fn connect(&self) -> sqlx::PgConnection {
        connect_pg(&self.url).await
    }
}

async fn connect_pg(url: &str) -> sqlx::PgConnection {
    use sqlx::Connection;
    sqlx::PgConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {url} answers: {e}"))
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        // Drop runs outside any async context: a thread with its own runtime drops the
        // database, closing what the test's servers left connected.
        let (server_url, name) = (self.server_url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async move {
                let mut conn = connect_pg(&server_url).await;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await
                .map(|_| ())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) && !std::thread::panicking() {
            panic!("the test database {} could not be dropped", self.name);
        }
    }
}

/// A server running in this process.
pub struct TestServer {
    pub base: String,
    /// Where the server takes mail (SMTP).
    pub smtp: Option<std::net::SocketAddr>,
    pub shutdown: CancellationToken,
    pub db: Arc<TestDb>,
    http: reqwest::Client,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// A registered user.
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub username: String,
    pub token: String,
    pub session_id: String,
}

pub fn serve_args(db: &TestDb) -> ServeArgs {
    let mut args = ServeArgs {
        listen: Some("127.0.0.1:0".into()),
        smtp_listen: Some("127.0.0.1:0".into()),
        // Tests ask no resolver: only loopback is ever a target.
        mail_dns: Some("none".into()),
        ..Default::default()
    };
    db.configure(&mut args);
    args
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(configure: impl FnOnce(&mut ServeArgs)) -> TestServer {
        Self::start_on(&TestDb::new().await, configure).await
    }

    /// A server on an existing database (a restart, or a second node).
    pub async fn start_on(db: &Arc<TestDb>, configure: impl FnOnce(&mut ServeArgs)) -> TestServer {
        capture::install();
        let mut args = serve_args(db);
        configure(&mut args);
        let config = Config::load(&args).expect("test config is valid");
        let app = app::build(
            &config,
            BuildOptions {
                fast_password_hashing: true,
            },
        )
        .await
        .expect("the app builds");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port is free");
        let base = format!("http://{}", listener.local_addr().expect("bound"));
        let smtp = TcpListener::bind(config.smtp_listen)
            .await
            .expect("the SMTP port is free");
        let smtp_address = smtp.local_addr().expect("bound");
        app.serve_mail(smtp).expect("mail is served");
        let shutdown = app.shutdown.clone();
        let task = tokio::spawn(app::serve(app, listener));
        TestServer {
            base,
            smtp: Some(smtp_address),
            shutdown,
            db: db.clone(),
            http: reqwest::Client::new(),
            task: Some(task),
        }
    }

    /// Shuts down and waits until the store is closed.
    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            task.await
                .expect("server task")
                .expect("server stops cleanly");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends a JSON request; returns the status and the parsed body (Null when empty).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let (status, _, body) = self.call_with(method, path, token, body, &[]).await;
        (status, body)
    }

    /// [`TestServer::call`] with extra request headers; the answer's headers too.
    pub async fn call_with(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = token {
            capture::secret(token);
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            capture::secrets_in(&body, capture::SENT);
            request = request.json(&body);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        capture::secrets_in(&value, capture::RECEIVED);
        (status, headers, value)
    }

    /// Sends raw bytes with a content type.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.http.request(method, self.url(path)).body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn get(&self, path: &str, user: &User) -> (StatusCode, Value) {
        self.call("GET", path, Some(&user.token), None).await
    }

    pub async fn post(&self, path: &str, user: &User, body: Value) -> (StatusCode, Value) {
        self.call("POST", path, Some(&user.token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, user: &User, body: Value) -> (StatusCode, Value) {
        self.call("PATCH", path, Some(&user.token), Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, user: &User) -> (StatusCode, Value) {
        self.call("DELETE", path, Some(&user.token), None).await
    }

    /// Posts a multipart form with or without a token; the status and the parsed body.
    pub async fn post_form(
        &self,
        path: &str,
        token: Option<&str>,
        form: reqwest::multipart::Form,
    ) -> (StatusCode, Value) {
        let mut request = self.http.post(self.url(path)).multipart(form);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Uploads `bytes` as one part `file` named `name` and declared as `declared`.
    pub async fn upload(
        &self,
        token: Option<&str>,
        name: &str,
        declared: &str,
        bytes: Vec<u8>,
    ) -> (StatusCode, Value) {
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(name.to_owned())
            .mime_str(declared)
            .expect("a type");
        let form = reqwest::multipart::Form::new().part("file", part);
        self.post_form("/api/v1/attachments", token, form).await
    }

    pub async fn register(&self, username: &str) -> User {
        let (status, body) = self
            .call(
                "POST",
                "/api/v1/accounts",
                None,
                Some(json!({"username": username, "password": "correct horse battery"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "register {username}: {body}");
        user_from(&body)
    }

    pub async fn login(&self, username: &str) -> User {
        let (status, body) = self.call("POST", "/api/v1/sessions", None, Some(json!({"username": username, "password": "correct horse battery", "device_name": "second device"}))).await;
        assert_eq!(status, StatusCode::CREATED, "login {username}: {body}");
        user_from(&body)
    }

    /// Makes `a` and `b` friends (a request and its acceptance), so what one opens or
    /// sends lands in the other's inbox rather than their message requests.
    pub async fn make_friends(&self, a: &User, b: &User) {
        for (from, to, status) in [(a, b, "request_sent"), (b, a, "friends")] {
            let (code, body) = self
                .post("/api/v1/friends", from, json!({"username": to.username}))
                .await;
            assert_eq!(
                (code, body["status"].as_str()),
                (StatusCode::CREATED, Some(status)),
                "{body}"
            );
        }
    }

    /// Opens the direct conversation between `a` and `b`; returns its id.
    pub async fn direct(&self, a: &User, b: &User) -> String {
        let (status, body) = self
            .post(
                "/api/v1/conversations",
                a,
                json!({"kind": "direct", "with": b.username}),
            )
            .await;
        assert!(
            status == StatusCode::CREATED || status == StatusCode::OK,
            "{status} {body}"
        );
        body["id"].as_str().expect("id").to_owned()
    }

    pub async fn group(&self, owner: &User, name: &str, members: &[&User]) -> String {
        let names: Vec<&str> = members.iter().map(|m| m.username.as_str()).collect();
        let (status, body) = self
            .post(
                "/api/v1/conversations",
                owner,
                json!({"kind": "group", "name": name, "members": names}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().expect("id").to_owned()
    }

    pub async fn send(&self, user: &User, conversation: &str, txn: &str, text: &str) -> Value {
        let (status, body) = self
            .post(
                &format!("/api/v1/conversations/{conversation}/messages"),
                user,
                json!({"client_txn_id": txn, "text": text}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "send: {body}");
        body
    }

    pub async fn history(&self, user: &User, conversation: &str, query: &str) -> Value {
        let (status, body) = self
            .get(
                &format!("/api/v1/conversations/{conversation}/messages{query}"),
                user,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "history: {body}");
        body
    }

    /// Every message of a conversation as `user` reads it, oldest first (pages of 200).
    pub async fn all_messages(&self, user: &User, conversation: &str) -> Vec<Value> {
        let mut out: Vec<Value> = Vec::new();
        loop {
            let after = out.last().and_then(|m| m["seq"].as_i64()).unwrap_or(0);
            let page = self
                .history(user, conversation, &format!("?after={after}&limit=200"))
                .await;
            out.extend(
                page["messages"]
                    .as_array()
                    .expect("messages")
                    .iter()
                    .cloned(),
            );
            if page["has_more"] != true {
                return out;
            }
        }
    }

    /// A WebSocket on the events stream, authenticated by header.
    pub async fn ws(&self, user: &User, since: Option<&str>) -> Ws {
        let request = events_request(&self.base, &user.token, since);
        let (socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("websocket connects");
        socket
    }

    /// A WebSocket authenticated by its first frame, as browsers do.
    pub async fn ws_first_frame(&self, frame: Value) -> Ws {
        let url = format!("{}/api/v1/events", self.base.replace("http://", "ws://"));
        let (mut socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket connects");
        socket
            .send(WsMessage::Text(frame.to_string().into()))
            .await
            .expect("send auth");
        socket
    }

    /// Waits (up to `within`) until this node reports `count` open event streams; panics
    /// with `what` otherwise.
    pub async fn wait_for_streams(&self, count: usize, within: Duration, what: &str) {
        let deadline = std::time::Instant::now() + within;
        let line = format!("hilo_event_streams_open {count}\n");
        loop {
            let (_, metrics) = self.raw("GET", "/metrics", None, None, Vec::new()).await;
            if metrics.as_str().is_some_and(|m| m.contains(&line)) {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "{what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Number of rows in a table, read straight from the database.
    pub async fn count(&self, table: &str) -> i64 {
        self.db.count(table).await
    }
}

/// A connection straight to a SQLite database file, beside the server's own (it waits for
/// the server's writer rather than failing while that holds the write lock).
async fn sqlite_connection(db: &Path, read_only: bool) -> sqlx::SqliteConnection {
    use sqlx::ConnectOptions;
    sqlx::sqlite::SqliteConnectOptions::new()
        .filename(db)
        .read_only(read_only)
        .busy_timeout(Duration::from_secs(10))
        .connect()
        .await
        .expect("the database opens")
}

/// Number of rows in a table of a SQLite database file.
pub async fn count_rows(db: &Path, table: &str) -> i64 {
    let mut conn = sqlite_connection(db, true).await;
    let sql = format!("SELECT COUNT(*) FROM {table}");
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_one(&mut conn)
        .await
        .expect("count")
}

/// One value read straight from a SQLite database file.
pub async fn scalar<T>(db: &Path, sql: &'static str) -> T
where
    T: for<'r> sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite> + Send + Unpin,
{
    let mut conn = sqlite_connection(db, true).await;
    sqlx::query_scalar(sql)
        .fetch_one(&mut conn)
        .await
        .expect("query")
}

pub fn user_from(body: &Value) -> User {
    User {
        id: body["user"]["id"].as_str().expect("user.id").to_owned(),
        username: body["user"]["username"]
            .as_str()
            .expect("username")
            .to_owned(),
        token: body["token"].as_str().expect("token").to_owned(),
        session_id: body["session_id"].as_str().expect("session_id").to_owned(),
    }
}

/// The WebSocket upgrade request for the event stream of the server at `base`
/// (`http://host:port`), authenticated by header, resuming after `since`.
pub fn events_request(
    base: &str,
    token: &str,
    since: Option<&str>,
) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    let mut url = format!("{}/api/v1/events", base.replacen("http://", "ws://", 1));
    if let Some(since) = since {
        url.push_str(&format!("?since={since}"));
    }
    let mut request = url.into_client_request().expect("request");
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    request
}

/// An event stream over a socket with a 4 KiB receive buffer, so that a client which stops
/// reading fills the server's send buffer within a few megabytes (a default buffer grows to
/// several megabytes and could swallow a whole test's traffic).
pub async fn small_buffer_ws(base: &str, token: &str) -> Ws {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("buffer");
    let address: std::net::SocketAddr =
        base.trim_start_matches("http://").parse().expect("address");
    let stream = socket.connect(address).await.expect("connect");
    let (socket, _) = tokio_tungstenite::client_async(
        events_request(base, token, None),
        tokio_tungstenite::MaybeTlsStream::Plain(stream),
    )
    .await
    .expect("handshake");
    socket
}

/// Next JSON text frame (skipping pings), within 10 s.
pub async fn next_json(socket: &mut Ws) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a frame within 10 s")
            .expect("stream open")
            .expect("frame ok");
        match message {
            WsMessage::Text(text) => return serde_json::from_str(&text).expect("JSON frame"),
            WsMessage::Ping(_) | WsMessage::Pong(_) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// A WebSocket of `user` past its `ready` frame.
pub async fn stream(server: &TestServer, user: &User) -> Ws {
    let mut ws = server.ws(user, None).await;
    assert_eq!(next_json(&mut ws).await["type"], "ready");
    ws
}

/// The next event of `kind`, skipping others.
pub async fn next_of(ws: &mut Ws, kind: &str) -> Value {
    loop {
        let event = next_json(ws).await;
        if event["type"] == kind {
            return event;
        }
    }
}

/// Waits for a close frame and returns its code.
pub async fn close_code(socket: &mut Ws) -> u16 {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a frame within 10 s");
        match message {
            Some(Ok(WsMessage::Close(Some(frame)))) => return frame.code.into(),
            Some(Ok(WsMessage::Close(None))) | None => return 1005,
            Some(Ok(_)) => continue,
            Some(Err(error)) => panic!("socket error instead of a close frame: {error}"),
        }
    }
}

/// Asserts that no text frame arrives within `millis`.
pub async fn assert_quiet(socket: &mut Ws, millis: u64) {
    if let Ok(Some(Ok(WsMessage::Text(text)))) =
        tokio::time::timeout(Duration::from_millis(millis), socket.next()).await
    {
        panic!("unexpected frame {text}");
    }
}

/// Asserts that within `millis` no text frame arrives except events of the `ignored`
/// types (receipts and presence come on their own schedule).
pub async fn assert_quiet_but(socket: &mut Ws, millis: u64, ignored: &[&str]) {
    for event in frames_within(socket, millis).await {
        let kind = event["type"].as_str().unwrap_or_default();
        assert!(ignored.contains(&kind), "unexpected frame {event}");
    }
}

/// Every JSON text frame that arrives within `millis`.
pub async fn frames_within(socket: &mut Ws, millis: u64) -> Vec<Value> {
    let until = tokio::time::Instant::now() + Duration::from_millis(millis);
    let mut frames = Vec::new();
    while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(until, socket.next()).await {
        if let WsMessage::Text(text) = frame {
            frames.push(serde_json::from_str(&text).unwrap_or_default());
        }
    }
    frames
}

/// The real `hilo` binary running as a child process.
pub struct ProcessServer {
    pub child: Child,
    pub base: String,
    pub db: Arc<TestDb>,
    /// Every line the process has logged so far.
    pub log: Arc<std::sync::Mutex<Vec<String>>>,
    /// Where it takes mail, once it logged it (before its HTTP address).
    pub smtp: Arc<std::sync::Mutex<Option<std::net::SocketAddr>>>,
}

impl ProcessServer {
    pub fn start(db: &Arc<TestDb>) -> ProcessServer {
        Self::start_with(db, &[], &[])
    }

    /// Starts with extra flags and environment variables; logs must be JSON (the default
    /// here) so the harness can read the listening address.
    pub fn start_with(db: &Arc<TestDb>, args: &[&str], env: &[(&str, &str)]) -> ProcessServer {
        let mut command = Command::new(env!("CARGO_BIN_EXE_hilo"));
        if capture::enabled() {
            command.env("HILO_LOG", "trace");
        }
        let mut child = command
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--smtp-listen",
                "127.0.0.1:0",
                "--mail-dns",
                "none",
            ])
            .args(db.flags())
            .args(args)
            .env("HILO_LOG_FORMAT", "json")
            .env_remove("HILO_CONFIG")
            .env_remove("HILO_MAIL_DOMAIN")
            .env_remove("HILO_MAIL_DNS")
            .env_remove("HILO_REGISTRATION")
            .env_remove("HILO_DATABASE_URL")
            .env_remove("HILO_NATS_URL")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the hilo binary starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (sender, receiver) = std::sync::mpsc::channel();
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let lines = log.clone();
        let smtp: Arc<std::sync::Mutex<Option<std::net::SocketAddr>>> = Arc::default();
        let smtp_seen = smtp.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                capture::process_line(&line);
                lines
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(line.clone());
                let Ok(value) = serde_json::from_str::<Value>(&line) else {
                    // Not a log line: a panic message, say. Shown with a failing test.
                    eprintln!("server: {line}");
                    continue;
                };
                if let Some(address) = value["fields"]["address"].as_str() {
                    let _ = sender.send(address.to_owned());
                }
                if let Some(address) = value["fields"]["smtp_address"].as_str() {
                    *smtp_seen
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = address.parse().ok();
                }
                // The server's warnings and errors are shown with a failing test's output.
                if matches!(value["level"].as_str(), Some("WARN" | "ERROR")) {
                    eprintln!("server: {line}");
                }
            }
        });
        let address = receiver
            .recv_timeout(Duration::from_secs(30))
            .expect("the server logs its address");
        ProcessServer {
            child,
            smtp,
            base: format!("http://{address}"),
            db: db.clone(),
            log,
        }
    }

    pub fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }

    /// A client of this process with the harness's helpers.
    pub fn client(&self) -> TestServer {
        TestServer {
            base: self.base.clone(),
            smtp: *self
                .smtp
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            shutdown: CancellationToken::new(),
            db: self.db.clone(),
            http: reqwest::Client::new(),
            task: None,
        }
    }
}

impl Drop for ProcessServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `hilo serve …` with a data dir and no inherited config, expecting it to exit (a
/// refused start); returns (success, stderr).
pub fn serve_until_exit(data_dir: &Path, args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_hilo"))
        .arg("serve")
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("HILO_CONFIG")
        .env_remove("HILO_NATS_URL")
        .env_remove("HILO_DATABASE_URL")
        .output()
        .expect("the hilo binary runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Runs `hilo admin …` against a test database, feeding `stdin`; returns (success,
/// stdout, stderr).
pub fn admin(db: &TestDb, args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hilo"))
        .arg("admin")
        .args(db.flags())
        .args(args)
        .env_remove("HILO_CONFIG")
        .env_remove("HILO_DATABASE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the hilo binary starts");
    if let Some(mut input) = child.stdin.take() {
        let _ = input.write_all(stdin.as_bytes());
    }
    let output = child.wait_with_output().expect("hilo admin finishes");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Mails a sink took: each one's envelope recipients and bytes, in order.
type Taken = Arc<std::sync::Mutex<Vec<(Vec<String>, Vec<u8>)>>>;

/// An SMTP server (hilo's own listener) that takes every mail and keeps it: the relay of
/// a test server whose mail goes to the world outside, which tests cannot reach.
pub struct MailSink {
    /// Where it listens.
    pub address: std::net::SocketAddr,
    /// Every mail taken, in order: its envelope recipients and bytes.
    pub mails: Taken,
    shutdown: CancellationToken,
}

struct SinkBox(Taken);

impl hilo_mail::Mailbox for SinkBox {
    async fn check_sender(&self, _: &hilo_mail::Envelope) -> Result<(), hilo_mail::Reply> {
        Ok(())
    }

    async fn check_recipient(
        &self,
        _: &hilo_mail::Envelope,
        _: &str,
    ) -> Result<(), hilo_mail::Reply> {
        Ok(())
    }

    async fn deliver(
        &self,
        envelope: hilo_mail::Envelope,
        message: Vec<u8>,
    ) -> Result<(), hilo_mail::Reply> {
        self.0
            .lock()
            .expect("sink")
            .push((envelope.recipients, message));
        Ok(())
    }
}

impl MailSink {
    pub async fn start() -> MailSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("sink binds");
        let address = listener.local_addr().expect("address");
        let mails = Arc::default();
        let shutdown = CancellationToken::new();
        tokio::spawn(hilo_mail::smtp::serve(
            listener,
            hilo_mail::smtp::SmtpConfig::new("sink.test"),
            Arc::new(SinkBox(Arc::clone(&mails))),
            shutdown.clone(),
        ));
        MailSink {
            address,
            mails,
            shutdown,
        }
    }

    /// The relay URL of `--smtp-relay`.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.address)
    }

    /// The text of the last mail taken.
    pub fn last(&self) -> Option<String> {
        let mails = self.mails.lock().expect("sink");
        mails
            .last()
            .map(|(_, bytes)| String::from_utf8_lossy(bytes).into_owned())
    }
}

impl Drop for MailSink {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
