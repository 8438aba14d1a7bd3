//! A small client of hilo's public API, as a real client uses it: HTTP with bearer tokens
//! and the WebSocket event stream. Every call reports a non-2xx answer as an error.

use anyhow::{Context, bail};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// A WebSocket on `/api/v1/events`.
pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const PASSWORD: &str = "hilo-bench password";

/// A server to drive.
#[derive(Clone)]
pub struct Api {
    base: String,
    http: reqwest::Client,
}

/// A registered account.
#[derive(Debug, Clone)]
pub struct Account {
    /// Its username.
    pub username: String,
    /// Its bearer token.
    pub token: String,
}

impl Api {
    /// A client of the server at `base` (`http://host:port`).
    pub fn new(base: &str) -> Api {
        Api {
            base: base.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.with_context(|| path.to_owned())?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("{path}: {status} {text}");
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Registers `username` (the server must allow open registration).
    pub async fn register(&self, username: &str) -> anyhow::Result<Account> {
        let body = self
            .call(
                reqwest::Method::POST,
                "/api/v1/accounts",
                None,
                Some(json!({"username": username, "password": PASSWORD})),
            )
            .await?;
        Ok(Account {
            username: username.to_owned(),
            token: body["token"].as_str().context("token")?.to_owned(),
        })
    }

    /// Opens the direct conversation of `me` with `other`; returns its id.
    pub async fn direct(&self, me: &Account, other: &Account) -> anyhow::Result<String> {
        let body = self
            .call(
                reqwest::Method::POST,
                "/api/v1/conversations",
                Some(&me.token),
                Some(json!({"kind": "direct", "with": other.username})),
            )
            .await?;
        Ok(body["id"].as_str().context("id")?.to_owned())
    }

    /// Sends a message; returns the stored message.
    pub async fn send(
        &self,
        me: &Account,
        conversation: &str,
        txn: &str,
        text: &str,
    ) -> anyhow::Result<Value> {
        self.call(
            reqwest::Method::POST,
            &format!("/api/v1/conversations/{conversation}/messages"),
            Some(&me.token),
            Some(json!({"client_txn_id": txn, "text": text})),
        )
        .await
    }

    /// Opens `me`'s event stream and waits for its `ready` frame.
    pub async fn events(&self, me: &Account) -> anyhow::Result<Socket> {
        let url = format!("{}/api/v1/events", self.base.replacen("http", "ws", 1));
        let mut request = url.into_client_request()?;
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {}", me.token).parse()?);
        let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
        let ready = next_event(&mut socket).await?;
        if ready["type"] != "ready" {
            bail!("expected a ready frame, got {ready}");
        }
        Ok(socket)
    }
}

/// The next JSON event of a stream (pings skipped); an error when it closes.
pub async fn next_event(socket: &mut Socket) -> anyhow::Result<Value> {
    loop {
        match socket.next().await {
            Some(Ok(Frame::Text(text))) => return Ok(serde_json::from_str(&text)?),
            Some(Ok(Frame::Close(frame))) => bail!("the stream closed: {frame:?}"),
            Some(Ok(_)) => continue,
            Some(Err(error)) => return Err(error.into()),
            None => bail!("the stream ended"),
        }
    }
}
