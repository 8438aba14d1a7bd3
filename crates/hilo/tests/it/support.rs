//! Test harness: an in-process server on a random loopback port, a JSON client, WebSocket
//! helpers, and the real binary as a child process.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use hilo::app::{self, BuildOptions};
use hilo::config::{Config, ServeArgs, StoreArgs};
pub use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_util::sync::CancellationToken;

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A server running in this process.
pub struct TestServer {
    pub base: String,
    pub shutdown: CancellationToken,
    pub data_dir: PathBuf,
    http: reqwest::Client,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _dir: Option<tempfile::TempDir>,
}

/// A registered user.
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub username: String,
    pub token: String,
    pub session_id: String,
}

pub fn serve_args(data_dir: &Path) -> ServeArgs {
    ServeArgs {
        store: StoreArgs {
            data_dir: Some(data_dir.to_owned()),
            ..Default::default()
        },
        listen: Some("127.0.0.1:0".into()),
        ..Default::default()
    }
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(configure: impl FnOnce(&mut ServeArgs)) -> TestServer {
        let dir = tempfile::tempdir().expect("a temporary directory can be made");
        let mut server = Self::start_in(dir.path(), configure).await;
        server._dir = Some(dir);
        server
    }

    pub async fn start_in(data_dir: &Path, configure: impl FnOnce(&mut ServeArgs)) -> TestServer {
        let mut args = serve_args(data_dir);
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
        let shutdown = app.shutdown.clone();
        let task = tokio::spawn(app::serve(app, listener));
        TestServer {
            base,
            shutdown,
            data_dir: data_dir.to_owned(),
            http: reqwest::Client::new(),
            task: Some(task),
            _dir: None,
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
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let text = response.text().await.expect("a body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
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

    /// A WebSocket on the events stream, authenticated by header.
    pub async fn ws(&self, user: &User, since: Option<&str>) -> Ws {
        let mut url = format!("{}/api/v1/events", self.base.replace("http://", "ws://"));
        if let Some(since) = since {
            url.push_str(&format!("?since={since}"));
        }
        let mut request = url.into_client_request().expect("request");
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {}", user.token).parse().expect("header"),
        );
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

    /// Number of rows in a table, read straight from the database file.
    pub async fn count(&self, table: &str) -> i64 {
        count_rows(&self.data_dir.join("hilo.db"), table).await
    }
}

pub async fn count_rows(db: &Path, table: &str) -> i64 {
    use sqlx::ConnectOptions;
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(db)
        .read_only(true);
    let mut conn = options.connect().await.expect("the database opens");
    let sql = format!("SELECT COUNT(*) FROM {table}");
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_one(&mut conn)
        .await
        .expect("count")
}

/// One value read straight from the database file.
pub async fn scalar<T>(db: &Path, sql: &'static str) -> T
where
    T: for<'r> sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite> + Send + Unpin,
{
    use sqlx::ConnectOptions;
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(db)
        .read_only(true);
    let mut conn = options.connect().await.expect("the database opens");
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

/// The real `hilo` binary running as a child process.
pub struct ProcessServer {
    pub child: Child,
    pub base: String,
    pub data_dir: PathBuf,
}

impl ProcessServer {
    pub fn start(data_dir: &Path) -> ProcessServer {
        Self::start_with(data_dir, &[], &[])
    }

    /// Starts with extra flags and environment variables; logs must be JSON (the default
    /// here) so the harness can read the listening address.
    pub fn start_with(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> ProcessServer {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hilo"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(args)
            .env("HILO_LOG_FORMAT", "json")
            .env_remove("HILO_CONFIG")
            .env_remove("HILO_MAIL_DOMAIN")
            .env_remove("HILO_REGISTRATION")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the hilo binary starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if let Ok(value) = serde_json::from_str::<Value>(&line)
                    && let Some(address) = value["fields"]["address"].as_str()
                {
                    let _ = sender.send(address.to_owned());
                }
            }
        });
        let address = receiver
            .recv_timeout(Duration::from_secs(30))
            .expect("the server logs its address");
        ProcessServer {
            child,
            base: format!("http://{address}"),
            data_dir: data_dir.to_owned(),
        }
    }

    pub fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }

    /// The same data dir served through the in-process harness, for assertions.
    pub fn client(&self) -> TestServer {
        TestServer {
            base: self.base.clone(),
            shutdown: CancellationToken::new(),
            data_dir: self.data_dir.clone(),
            http: reqwest::Client::new(),
            task: None,
            _dir: None,
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

/// Runs `hilo admin …` against a data dir, feeding `stdin`; returns (success, stdout, stderr).
pub fn admin(data_dir: &Path, args: &[&str], stdin: &str) -> (bool, String, String) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_hilo"))
        .arg("admin")
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("HILO_CONFIG")
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
