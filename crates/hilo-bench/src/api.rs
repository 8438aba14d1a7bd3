//! The clients the scenarios drive, as real clients use them: HTTP with bearer tokens, and
//! either hilo's WebSocket event stream or Matrix's `/sync` long poll. Every call reports a
//! non-2xx answer as an error. Scenarios see one interface, so the same scenario measures
//! hilo and Synapse.

use anyhow::{Context, bail};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const PASSWORD: &str = "hilo-bench password";

/// Which API the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    /// hilo's API v1.
    Hilo,
    /// The Matrix client-server API (Synapse).
    Matrix,
}

/// A server to drive.
#[derive(Clone)]
pub struct Api {
    base: String,
    protocol: Protocol,
    http: reqwest::Client,
    /// Which processes' CPU time a measured window counts.
    cpu: crate::cpu::CpuProbe,
}

/// A registered account.
#[derive(Debug, Clone)]
pub struct Account {
    /// Its username (Matrix: the localpart).
    pub username: String,
    /// Matrix only: the full user id.
    user_id: String,
    /// Its bearer token.
    pub token: String,
}

/// A delivered message, whatever the protocol.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Its text.
    pub text: String,
}

/// One page of history, newest last.
#[derive(Debug)]
pub struct Page {
    /// Messages on the page.
    pub messages: usize,
    /// Where the next (older) page starts; `None` at the beginning of the conversation.
    pub older: Option<String>,
}

/// A live event stream of one account.
pub enum Events {
    /// hilo's WebSocket.
    Hilo(Box<Socket>),
    /// Matrix `/sync`, long-polled from `since`, with deliveries not yet handed out.
    Matrix {
        /// The server.
        api: Api,
        /// The account.
        me: Account,
        /// The next batch token.
        since: String,
        /// Deliveries from the last sync not yet returned.
        pending: std::collections::VecDeque<Delivery>,
    },
}

impl Api {
    /// A client of the server at `base` (`http://host:port`).
    pub fn new(base: &str, protocol: Protocol) -> Api {
        Api {
            base: base.trim_end_matches('/').to_owned(),
            protocol,
            http: reqwest::Client::new(),
            cpu: crate::cpu::CpuProbe::default(),
        }
    }

    /// The same client, with the server's CPU measured by `probe`.
    pub fn with_cpu(mut self, probe: crate::cpu::CpuProbe) -> Api {
        self.cpu = probe;
        self
    }

    /// Starts a measured window of the server's CPU time.
    pub fn cpu_window(&self) -> crate::cpu::CpuWindow {
        self.cpu.start()
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let (status, body) = self.call_status(method, path, token, body).await?;
        if !status.is_success() {
            bail!("{path}: {status} {body}");
        }
        Ok(body)
    }

    async fn call_status(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> anyhow::Result<(reqwest::StatusCode, Value)> {
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
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    /// GETs `path` without credentials; any 2xx is success.
    pub async fn get(&self, path: &str) -> anyhow::Result<()> {
        let response = self.http.get(format!("{}{path}", self.base)).send().await?;
        let status = response.status();
        // Read the whole body, as a client does.
        response.bytes().await?;
        anyhow::ensure!(status.is_success(), "{path}: {status}");
        Ok(())
    }

    /// hilo only: logs in to an account a run registered earlier (`register`'s password).
    pub async fn login(&self, username: &str) -> anyhow::Result<Account> {
        anyhow::ensure!(
            self.protocol == Protocol::Hilo,
            "logging in again is for hilo's own API"
        );
        self.hilo_account("/api/v1/sessions", username).await
    }

    /// hilo: an account and its token from `path` (registration or login) with the
    /// benchmark's password.
    async fn hilo_account(&self, path: &str, username: &str) -> anyhow::Result<Account> {
        let body = self
            .call(
                reqwest::Method::POST,
                path,
                None,
                Some(json!({"username": username, "password": PASSWORD})),
            )
            .await?;
        Ok(Account {
            username: username.to_owned(),
            user_id: String::new(),
            token: body["token"].as_str().context("token")?.to_owned(),
        })
    }

    /// Registers `username` (the server must allow open registration).
    pub async fn register(&self, username: &str) -> anyhow::Result<Account> {
        match self.protocol {
            Protocol::Hilo => self.hilo_account("/api/v1/accounts", username).await,
            Protocol::Matrix => {
                // User-interactive auth: the first request names the flows and a session,
                // the second completes the dummy stage.
                let path = "/_matrix/client/v3/register";
                let mut request =
                    json!({"username": username, "password": PASSWORD, "inhibit_login": false});
                let (status, first) = self
                    .call_status(reqwest::Method::POST, path, None, Some(request.clone()))
                    .await?;
                let body = if status.is_success() {
                    first
                } else {
                    let session = first["session"].as_str().context("no UIA session")?;
                    request["auth"] = json!({"type": "m.login.dummy", "session": session});
                    self.call(reqwest::Method::POST, path, None, Some(request))
                        .await?
                };
                Ok(Account {
                    username: username.to_owned(),
                    user_id: body["user_id"].as_str().context("user_id")?.to_owned(),
                    token: body["access_token"].as_str().context("token")?.to_owned(),
                })
            }
        }
    }

    /// Opens the direct conversation of `me` with `other`; returns its id.
    pub async fn direct(&self, me: &Account, other: &Account) -> anyhow::Result<String> {
        match self.protocol {
            Protocol::Hilo => {
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
            Protocol::Matrix => {
                let body = self
                    .call(
                        reqwest::Method::POST,
                        "/_matrix/client/v3/createRoom",
                        Some(&me.token),
                        Some(json!({"preset": "trusted_private_chat", "is_direct": true, "invite": [other.user_id]})),
                    )
                    .await?;
                let room = body["room_id"].as_str().context("room_id")?.to_owned();
                self.matrix_join(other, &room).await?;
                Ok(room)
            }
        }
    }

    async fn matrix_join(&self, me: &Account, room: &str) -> anyhow::Result<()> {
        self.call(
            reqwest::Method::POST,
            &format!("/_matrix/client/v3/join/{}", encode(room)),
            Some(&me.token),
            Some(json!({})),
        )
        .await
        .map(drop)
    }

    /// Creates a group of `owner` and `members`; returns its id.
    pub async fn group(
        &self,
        owner: &Account,
        name: &str,
        members: &[Account],
    ) -> anyhow::Result<String> {
        // Created with a first batch, grown in batches: every server caps one request.
        const BATCH: usize = 100;
        let first = &members[..members.len().min(BATCH)];
        match self.protocol {
            Protocol::Hilo => {
                let usernames = |accounts: &[Account]| {
                    accounts
                        .iter()
                        .map(|a| a.username.clone())
                        .collect::<Vec<_>>()
                };
                let body = self
                    .call(
                        reqwest::Method::POST,
                        "/api/v1/conversations",
                        Some(&owner.token),
                        Some(json!({"kind": "group", "name": name, "members": usernames(first)})),
                    )
                    .await?;
                let id = body["id"].as_str().context("id")?.to_owned();
                for batch in members[first.len()..].chunks(BATCH) {
                    self.call(
                        reqwest::Method::POST,
                        &format!("/api/v1/conversations/{id}/members"),
                        Some(&owner.token),
                        Some(json!({"usernames": usernames(batch)})),
                    )
                    .await?;
                }
                Ok(id)
            }
            Protocol::Matrix => {
                // A public room everyone joins: no invite round trips, same membership.
                let body = self
                    .call(
                        reqwest::Method::POST,
                        "/_matrix/client/v3/createRoom",
                        Some(&owner.token),
                        Some(json!({"preset": "public_chat", "name": name})),
                    )
                    .await?;
                let room = body["room_id"].as_str().context("room_id")?.to_owned();
                for member in members {
                    self.matrix_join(member, &room).await?;
                }
                Ok(room)
            }
        }
    }

    /// Sends a message with the idempotency key `txn`.
    pub async fn send(
        &self,
        me: &Account,
        conversation: &str,
        txn: &str,
        text: &str,
    ) -> anyhow::Result<()> {
        match self.protocol {
            Protocol::Hilo => self
                .call(
                    reqwest::Method::POST,
                    &format!("/api/v1/conversations/{conversation}/messages"),
                    Some(&me.token),
                    Some(json!({"client_txn_id": txn, "text": text})),
                )
                .await
                .map(drop),
            Protocol::Matrix => self
                .call(
                    reqwest::Method::PUT,
                    &format!(
                        "/_matrix/client/v3/rooms/{}/send/m.room.message/{}",
                        encode(conversation),
                        encode(txn)
                    ),
                    Some(&me.token),
                    Some(json!({"msgtype": "m.text", "body": text})),
                )
                .await
                .map(drop),
        }
    }

    /// hilo only: an authenticated request; the answer's body, or an error for a non-2xx
    /// status (the `users` scenario drives the API directly, action by action).
    pub async fn hilo_call(
        &self,
        method: reqwest::Method,
        path: &str,
        me: &Account,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        anyhow::ensure!(
            self.protocol == Protocol::Hilo,
            "this scenario drives hilo's own API"
        );
        self.call(method, path, Some(&me.token), body).await
    }

    /// The API paths the server's OpenAPI document lists (`/api/v1/openapi.json`).
    pub async fn api_paths(&self) -> anyhow::Result<Vec<String>> {
        let body = self
            .call(reqwest::Method::GET, "/api/v1/openapi.json", None, None)
            .await?;
        Ok(body["paths"]
            .as_object()
            .context("paths")?
            .keys()
            .cloned()
            .collect())
    }

    /// One page of history older than `older` (the newest page without it).
    pub async fn history(
        &self,
        me: &Account,
        conversation: &str,
        older: Option<&str>,
        limit: usize,
    ) -> anyhow::Result<Page> {
        match self.protocol {
            Protocol::Hilo => {
                let before = older
                    .map(|seq| format!("&before={seq}"))
                    .unwrap_or_default();
                let body = self
                    .call(
                        reqwest::Method::GET,
                        &format!(
                            "/api/v1/conversations/{conversation}/messages?limit={limit}{before}"
                        ),
                        Some(&me.token),
                        None,
                    )
                    .await?;
                let messages = body["messages"].as_array().context("messages")?;
                let first = messages.first().and_then(|m| m["seq"].as_i64());
                Ok(Page {
                    messages: messages.len(),
                    older: match (body["has_more"].as_bool(), first) {
                        (Some(true), Some(seq)) => Some(seq.to_string()),
                        _ => None,
                    },
                })
            }
            Protocol::Matrix => {
                let from = older
                    .map(|token| format!("&from={}", encode(token)))
                    .unwrap_or_default();
                let body = self
                    .call(
                        reqwest::Method::GET,
                        &format!(
                            "/_matrix/client/v3/rooms/{}/messages?dir=b&limit={limit}{from}",
                            encode(conversation)
                        ),
                        Some(&me.token),
                        None,
                    )
                    .await?;
                let chunk = body["chunk"].as_array().context("chunk")?;
                Ok(Page {
                    messages: chunk
                        .iter()
                        .filter(|e| e["type"] == "m.room.message")
                        .count(),
                    older: body["end"].as_str().map(str::to_owned),
                })
            }
        }
    }

    /// Opens `me`'s event stream, positioned at "now".
    pub async fn events(&self, me: &Account) -> anyhow::Result<Events> {
        match self.protocol {
            Protocol::Hilo => {
                let url = format!("{}/api/v1/events", self.base.replacen("http", "ws", 1));
                let mut request = url.into_client_request()?;
                request
                    .headers_mut()
                    .insert("authorization", format!("Bearer {}", me.token).parse()?);
                // Small buffers: the idle scenario holds 10,000 of these in one process.
                let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
                    .read_buffer_size(8 * 1024)
                    .write_buffer_size(0);
                let (mut socket, _) =
                    tokio_tungstenite::connect_async_with_config(request, Some(config), true)
                        .await?;
                let ready = next_frame(&mut socket).await?;
                if ready["type"] != "ready" {
                    bail!("expected a ready frame, got {ready}");
                }
                Ok(Events::Hilo(Box::new(socket)))
            }
            Protocol::Matrix => {
                // An initial sync without timeline gives the position to stream from.
                let filter = encode(r#"{"room":{"timeline":{"limit":0}}}"#);
                let body = self
                    .call(
                        reqwest::Method::GET,
                        &format!("/_matrix/client/v3/sync?filter={filter}"),
                        Some(&me.token),
                        None,
                    )
                    .await?;
                Ok(Events::Matrix {
                    api: self.clone(),
                    me: me.clone(),
                    since: body["next_batch"]
                        .as_str()
                        .context("next_batch")?
                        .to_owned(),
                    pending: Default::default(),
                })
            }
        }
    }
}

impl Events {
    /// The next delivered message; an error when the stream ends.
    pub async fn next_message(&mut self) -> anyhow::Result<Delivery> {
        match self {
            Events::Hilo(socket) => loop {
                let event = next_frame(socket).await?;
                if event["type"] == "message.created" {
                    return Ok(Delivery {
                        text: event["message"]["text"].as_str().unwrap_or("").to_owned(),
                    });
                }
            },
            Events::Matrix {
                api,
                me,
                since,
                pending,
            } => loop {
                if let Some(delivery) = pending.pop_front() {
                    return Ok(delivery);
                }
                // Synapse cuts a room's timeline to 10 events per sync by default (and
                // marks it `limited`); a client that keeps up asks for more.
                let filter = encode(r#"{"room":{"timeline":{"limit":1000}}}"#);
                let body = api
                    .call(
                        reqwest::Method::GET,
                        &format!(
                            "/_matrix/client/v3/sync?timeout=30000&filter={filter}&since={}",
                            encode(since)
                        ),
                        Some(&me.token),
                        None,
                    )
                    .await?;
                *since = body["next_batch"]
                    .as_str()
                    .context("next_batch")?
                    .to_owned();
                if let Some(rooms) = body["rooms"]["join"].as_object() {
                    for joined in rooms.values() {
                        for event in joined["timeline"]["events"]
                            .as_array()
                            .into_iter()
                            .flatten()
                        {
                            if event["type"] == "m.room.message" {
                                pending.push_back(Delivery {
                                    text: event["content"]["body"]
                                        .as_str()
                                        .unwrap_or("")
                                        .to_owned(),
                                });
                            }
                        }
                    }
                }
            },
        }
    }
}

/// The next JSON frame of a hilo WebSocket (pings skipped); an error when it closes.
pub(crate) async fn next_frame(socket: &mut Socket) -> anyhow::Result<Value> {
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

/// Percent-encodes a path segment or query value (Matrix ids hold `!`, `:`, `@`, `$`).
pub(crate) fn encode(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for byte in raw.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::encode;

    #[test]
    fn matrix_ids_are_percent_encoded() {
        assert_eq!(encode("!abc:bench.local"), "%21abc%3Abench.local");
        assert_eq!(encode(r#"{"a":1}"#), "%7B%22a%22%3A1%7D");
        assert_eq!(encode("s1_2~x"), "s1_2~x");
    }
}
