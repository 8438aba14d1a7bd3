//! Fan-out between nodes over NATS core pub/sub.
//!
//! Every node publishes the envelopes it commits to one subject (`<prefix>.events.v1`) and
//! subscribes to it; each node hands what it receives to its own [`LocalBus`], which drops
//! envelopes for users with no connection there. The publishing node delivers to its own
//! connections directly and asks NATS not to echo its messages back.
//!
//! Why plain pub/sub and not JetStream: the database already holds every event with a
//! gap-free per-user cursor, and a stream that sees a gap reads the database. NATS only has
//! to be fast, not durable. When the link to NATS drops, this node may miss envelopes, so it
//! closes every local stream (warning in the log); clients reconnect with their cursor and
//! replay from the database.
//!
//! The wire format is versioned (`v`) and private to this module, its only writer and reader.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use hilo_core::{SessionId, UserId};
use serde::{Deserialize, Serialize};

use crate::{Bus, Envelope, LocalBus, Subscription};

/// Wire format version; a node drops batches of a version it does not know.
const WIRE_VERSION: u32 = 1;

/// One NATS message: envelopes whose bodies are kept once in `bodies` and referenced by
/// index, so a message to a group of 500 carries its JSON once.
#[derive(Debug, Serialize, Deserialize)]
struct WireBatch {
    v: u32,
    bodies: Vec<String>,
    items: Vec<WireItem>,
}

#[derive(Debug, Serialize, Deserialize)]
struct WireItem {
    /// Recipient user id.
    u: String,
    /// Cursor, absent for ephemeral events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    c: Option<i64>,
    /// Revoked session, on `session.revoked`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    r: Option<String>,
    /// Index into `bodies`.
    b: usize,
}

/// Splits envelopes into serialised batches no larger than `max_bytes` each (an envelope
/// that alone exceeds it is dropped with a warning: its recipients read it from the store).
fn encode(envelopes: &[Envelope], max_bytes: usize) -> Vec<Vec<u8>> {
    // Sizes are over-estimated: an item's fields take well under 96 bytes plus the user id,
    // and a body embedded as a JSON string grows by its escaped quotes, never past double.
    const BATCH_OVERHEAD: usize = 64;
    let mut out = Vec::new();
    let mut batch = WireBatch {
        v: WIRE_VERSION,
        bodies: Vec::new(),
        items: Vec::new(),
    };
    let mut index: HashMap<*const u8, usize> = HashMap::new();
    let mut size = BATCH_OVERHEAD;
    for envelope in envelopes {
        let item_cost = 96 + envelope.user_id.as_str().len();
        let body_cost = 2 * envelope.body.len() + 8;
        if BATCH_OVERHEAD + item_cost + body_cost > max_bytes {
            tracing::warn!(
                bytes = envelope.body.len(),
                "an event is larger than the NATS payload limit; its recipients will read it from the database"
            );
            continue;
        }
        let key = envelope.body.as_ptr();
        let cost = item_cost
            + if index.contains_key(&key) {
                0
            } else {
                body_cost
            };
        if size + cost > max_bytes {
            out.extend(serde_json::to_vec(&batch).ok());
            batch = WireBatch {
                v: WIRE_VERSION,
                bodies: Vec::new(),
                items: Vec::new(),
            };
            index.clear();
            size = BATCH_OVERHEAD;
        }
        let body = match index.get(&key) {
            Some(body) => *body,
            None => {
                batch.bodies.push(envelope.body.to_string());
                index.insert(key, batch.bodies.len() - 1);
                size += body_cost;
                batch.bodies.len() - 1
            }
        };
        size += item_cost;
        batch.items.push(WireItem {
            u: envelope.user_id.to_string(),
            c: envelope.cursor,
            r: envelope.revoked_session.as_ref().map(ToString::to_string),
            b: body,
        });
    }
    if !batch.items.is_empty() {
        out.extend(serde_json::to_vec(&batch).ok());
    }
    out
}

fn decode(payload: &[u8]) -> Result<Vec<Envelope>, String> {
    let batch: WireBatch = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
    if batch.v != WIRE_VERSION {
        return Err(format!("unknown wire version {}", batch.v));
    }
    let bodies: Vec<Arc<str>> = batch.bodies.into_iter().map(Arc::from).collect();
    batch
        .items
        .into_iter()
        .map(|item| {
            let body = bodies
                .get(item.b)
                .cloned()
                .ok_or("body index out of range")?;
            Ok(Envelope {
                user_id: UserId::new(item.u),
                cursor: item.c,
                revoked_session: item.r.map(SessionId::new),
                body,
            })
        })
        .collect()
}

/// The NATS-backed [`Bus`].
#[derive(Clone)]
pub struct NatsBus {
    client: async_nats::Client,
    local: LocalBus,
    subject: String,
}

impl NatsBus {
    /// Connects to `url` and starts relaying `<prefix>.events.v1` to local connections.
    /// Fails fast (5 s) when NATS is unreachable, so a misconfigured node does not start.
    pub async fn connect(url: &str, prefix: &str) -> Result<NatsBus, String> {
        let local = LocalBus::new();
        let on_event = local.clone();
        let client = async_nats::ConnectOptions::new()
            .name("hilo")
            .no_echo()
            .connection_timeout(Duration::from_secs(5))
            .event_callback(move |event| {
                let local = on_event.clone();
                async move {
                    match event {
                        async_nats::Event::Disconnected => {
                            tracing::warn!("lost the connection to NATS: closing local event streams so clients replay from the database");
                            local.close_all();
                        }
                        async_nats::Event::Connected => tracing::info!("connected to NATS"),
                        other => tracing::debug!(event = %other, "NATS event"),
                    }
                }
            })
            .connect(url)
            .await
            .map_err(|e| format!("cannot connect to NATS: {e}"))?;
        let subject = format!("{prefix}.events.v1");
        let mut subscriber = client
            .subscribe(subject.clone())
            .await
            .map_err(|e| format!("cannot subscribe to {subject}: {e}"))?;
        let relay = local.clone();
        tokio::spawn(async move {
            while let Some(message) = subscriber.next().await {
                match decode(&message.payload) {
                    Ok(envelopes) => relay.publish(envelopes).await,
                    Err(error) => tracing::warn!(%error, "dropped an undecodable NATS message"),
                }
            }
        });
        Ok(NatsBus {
            client,
            local,
            subject,
        })
    }
}

#[async_trait]
impl Bus for NatsBus {
    async fn publish(&self, envelopes: Vec<Envelope>) {
        let max_bytes = self.client.server_info().max_payload.max(4096);
        let batches = encode(&envelopes, max_bytes);
        self.local.publish(envelopes).await;
        for batch in batches {
            if let Err(error) = self
                .client
                .publish(self.subject.clone(), batch.into())
                .await
            {
                // Other nodes' streams notice the gap (or refresh their head) and read the store.
                tracing::warn!(%error, "could not publish to NATS");
            }
        }
    }

    fn subscribe(&self, user: &UserId) -> Subscription {
        self.local.subscribe(user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(user: &str, cursor: i64, body: &Arc<str>) -> Envelope {
        Envelope {
            user_id: UserId::new(user),
            cursor: Some(cursor),
            revoked_session: None,
            body: body.clone(),
        }
    }

    #[test]
    fn shared_bodies_travel_once_and_round_trip() {
        let shared: Arc<str> = Arc::from(r#"{"type":"message.created"}"#);
        let other: Arc<str> = Arc::from(r#"{"type":"conversation.updated"}"#);
        let mut envelopes: Vec<Envelope> = (0..50)
            .map(|n| envelope(&format!("u{n}"), n, &shared))
            .collect();
        envelopes.push(Envelope {
            revoked_session: Some(SessionId::new("s1")),
            ..envelope("u0", 99, &other)
        });
        let batches = encode(&envelopes, 1 << 20);
        assert_eq!(batches.len(), 1);
        let text = String::from_utf8(batches[0].clone()).unwrap_or_default();
        assert_eq!(text.matches("message.created").count(), 1, "{text}");
        let decoded = decode(&batches[0]).unwrap_or_default();
        assert_eq!(decoded.len(), 51);
        assert_eq!(decoded[7].user_id, UserId::new("u7"));
        assert_eq!(decoded[7].cursor, Some(7));
        assert_eq!(&*decoded[7].body, &*shared);
        assert_eq!(decoded[50].revoked_session, Some(SessionId::new("s1")));
    }

    #[test]
    fn batches_respect_the_payload_limit() {
        // Distinct bodies full of quotes (the worst case for escaping), and shared ones.
        let quoted: Arc<str> = Arc::from("\"".repeat(300));
        let envelopes: Vec<Envelope> = (0..200)
            .map(|n| {
                if n % 2 == 0 {
                    envelope(
                        &format!("user-{n}"),
                        n,
                        &Arc::from("x".repeat(200 + n as usize)),
                    )
                } else {
                    envelope(&format!("user-{n}"), n, &quoted)
                }
            })
            .collect();
        let batches = encode(&envelopes, 4096);
        assert!(batches.len() > 1);
        assert!(
            batches.iter().all(|b| b.len() <= 4096),
            "{:?}",
            batches.iter().map(Vec::len).collect::<Vec<_>>()
        );
        let total: usize = batches
            .iter()
            .map(|b| decode(b).map(|e| e.len()).unwrap_or(0))
            .sum();
        assert_eq!(total, 200, "nothing lost in the split");
        let huge = vec![envelope("u", 1, &Arc::from("y".repeat(10_000)))];
        assert!(
            encode(&huge, 4096).is_empty(),
            "an oversized event is left to the store"
        );
        assert!(decode(br#"{"v":2,"bodies":[],"items":[]}"#).is_err());
    }
}
