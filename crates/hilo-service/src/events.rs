//! Publishing committed events, and the resumable per-user event stream that WebSocket and
//! long-polling clients read.
//!
//! A stream is "store first, bus for speed": it subscribes to the bus, then reads the store
//! for everything after the client's cursor, then follows the bus. Each stored event has a
//! gap-free cursor, so the stream can tell a duplicate (cursor ≤ last: skip), the next event
//! (last + 1: deliver the bus copy) and a gap (> last + 1: read the store) without any
//! coordination between nodes. That is the whole no-loss, no-duplicate, same-order argument.

use std::collections::VecDeque;
use std::sync::Arc;

use hilo_bus::{Envelope, Received, Subscription};
use hilo_core::{EventKind, SessionId, StoredEvent, UserId};
use hilo_proto::{ConversationDto, Event, MessageDto, with_cursor};
use hilo_store::Delivery;

use crate::presence::PresenceGuard;
use crate::{Caller, Error, Hilo, Result};

/// How many stored events one catch-up read fetches.
const CATCH_UP_BATCH: i64 = 200;

/// `event` with its message marked collapsed.
fn collapsed(event: &Event) -> Event {
    let mut event = event.clone();
    if let Event::MessageCreated { message, .. } | Event::MessageUpdated { message, .. } =
        &mut event
    {
        message.collapsed = true;
    }
    event
}

fn body(event: &Event) -> Arc<str> {
    Arc::from(serde_json::to_string(event).unwrap_or_else(|_| "{}".to_owned()))
}

/// How long a node's word that a user has a stream open holds without renewal (a node
/// that dies takes its users offline after this long).
pub const PRESENCE_TTL: std::time::Duration = std::time::Duration::from_secs(60);
/// How long a person's last stream may be gone before they count as offline.
pub const OFFLINE_GRACE: std::time::Duration = std::time::Duration::from_secs(3);
/// How often a node renews it.
const PRESENCE_RENEW: std::time::Duration = std::time::Duration::from_secs(20);

/// How often the messages handed to streams are recorded as delivered.
pub const DELIVERY_FLUSH: std::time::Duration = std::time::Duration::from_millis(500);

impl Hilo {
    /// Publishes one event, rendered once, to every delivery's user.
    /// A message event goes to recipients who block its sender with the message marked
    /// `collapsed` (rendered a second time, for them only).
    pub(crate) async fn publish(&self, deliveries: &[Delivery], event: &Event) {
        if deliveries.is_empty() {
            return;
        }
        let blockers = self.blockers_among(deliveries, event).await;
        let folded = (!blockers.is_empty()).then(|| body(&collapsed(event)));
        let body = body(event);
        let envelopes = deliveries
            .iter()
            .map(|d| Envelope {
                user_id: d.user_id.clone(),
                cursor: Some(d.cursor),
                revoked_session: None,
                body: match &folded {
                    Some(folded) if blockers.contains(&d.user_id) => folded.clone(),
                    _ => body.clone(),
                },
            })
            .collect();
        self.inner.bus.publish(envelopes).await;
    }

    /// The recipients of a message event who block the message's sender. A failed read
    /// leaves the message unfolded rather than the event unsent.
    async fn blockers_among(&self, deliveries: &[Delivery], event: &Event) -> Vec<UserId> {
        let (Event::MessageCreated { message, .. } | Event::MessageUpdated { message, .. }) = event
        else {
            return Vec::new();
        };
        let Some(sender) = message.sender.as_ref().filter(|s| s.kind == "user") else {
            return Vec::new();
        };
        match self
            .inner
            .store
            .blockers_of(&UserId::new(sender.id.as_str()))
            .await
        {
            Ok(blockers) => blockers
                .into_iter()
                .filter(|b| deliveries.iter().any(|d| d.user_id == *b))
                .collect(),
            Err(error) => {
                tracing::warn!(%error, "could not read who blocks a sender; message not folded");
                Vec::new()
            }
        }
    }

    /// Publishes `session.revoked` events, marked so the revoked session's streams close.
    pub(crate) async fn publish_revocations(
        &self,
        revoked: Vec<(SessionId, Delivery)>,
        event: &Event,
    ) {
        let body = body(event);
        let envelopes = revoked
            .into_iter()
            .map(|(session, d)| Envelope {
                user_id: d.user_id,
                cursor: Some(d.cursor),
                revoked_session: Some(session),
                body: body.clone(),
            })
            .collect();
        self.inner.bus.publish(envelopes).await;
    }

    /// Publishes a conversation event, rendered for each recipient (the conversation object
    /// carries the recipient's own folder, unread count and settings).
    pub(crate) async fn publish_conversation_events(
        &self,
        deliveries: &[Delivery],
        kind: EventKind,
        conversation: &hilo_core::ConversationId,
        removed: Option<&UserId>,
    ) {
        let mut envelopes = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
            let view = match self.view(conversation, &delivery.user_id).await {
                Ok(view) => view,
                Err(error) => {
                    // The stored event is still there: the client gets it on catch-up.
                    tracing::warn!(%error, "could not render a conversation event for live delivery");
                    continue;
                }
            };
            let event = conversation_event(kind, conversation, visible(&view), removed);
            envelopes.push(Envelope {
                user_id: delivery.user_id.clone(),
                cursor: Some(delivery.cursor),
                revoked_session: None,
                body: body(&event),
            });
        }
        self.inner.bus.publish(envelopes).await;
    }

    /// Publishes an ephemeral event (never stored, never replayed) to these users.
    pub(crate) async fn publish_ephemeral(&self, users: &[UserId], event: &Event) {
        let body = body(event);
        let envelopes = users
            .iter()
            .map(|user| Envelope {
                user_id: user.clone(),
                cursor: None,
                revoked_session: None,
                body: body.clone(),
            })
            .collect();
        self.inner.bus.publish(envelopes).await;
    }

    /// Renders a stored event for its recipient, from the current state of what it refers
    /// to. `None` when the referenced object is gone.
    pub(crate) async fn render(&self, stored: &StoredEvent) -> Result<Option<Event>> {
        let record = &stored.record;
        let conversation_id = record.conversation_id.as_ref();
        Ok(match record.kind {
            EventKind::MessageCreated | EventKind::MessageUpdated => {
                let Some(id) = &record.message_id else {
                    return Ok(None);
                };
                let Some(mut message) = self.inner.store.message(id, None).await? else {
                    return Ok(None);
                };
                self.collapse_blocked(&stored.user_id, std::slice::from_mut(&mut message))
                    .await?;
                let (conversation_id, message) = (
                    message.conversation_id.to_string(),
                    MessageDto::from(&message),
                );
                Some(if record.kind == EventKind::MessageCreated {
                    Event::MessageCreated {
                        conversation_id,
                        message,
                    }
                } else {
                    Event::MessageUpdated {
                        conversation_id,
                        message,
                    }
                })
            }
            EventKind::ConversationCreated | EventKind::ConversationUpdated => {
                let Some(conversation) = conversation_id else {
                    return Ok(None);
                };
                let view = self.view(conversation, &stored.user_id).await?;
                Some(conversation_event(
                    record.kind,
                    conversation,
                    visible(&view),
                    record.subject_user_id.as_ref(),
                ))
            }
            EventKind::Read => match (conversation_id, &record.subject_user_id, record.number) {
                (Some(conversation), Some(reader), Some(seq)) => Some(Event::Read {
                    conversation_id: conversation.to_string(),
                    user_id: reader.to_string(),
                    seq,
                }),
                _ => None,
            },
            EventKind::MessageHidden => match (conversation_id, &record.message_id) {
                (Some(conversation), Some(message)) => Some(Event::MessageHidden {
                    conversation_id: conversation.to_string(),
                    message_id: message.to_string(),
                }),
                _ => None,
            },
            EventKind::UserUpdated => {
                let Some(subject) = &record.subject_user_id else {
                    return Ok(None);
                };
                let Some(user) = self.inner.store.user(subject).await? else {
                    return Ok(None);
                };
                let me = (stored.user_id == user.id)
                    .then(|| hilo_proto::MeDto::new(&user, &self.inner.config.mail_domain));
                Some(Event::UserUpdated {
                    user: hilo_proto::PartyDto::from(&user),
                    me,
                })
            }
            EventKind::Delivered => match (conversation_id, &record.subject_user_id, record.number)
            {
                (Some(conversation), Some(recipient), Some(seq)) => Some(Event::Delivered {
                    conversation_id: conversation.to_string(),
                    user_id: recipient.to_string(),
                    seq,
                }),
                _ => None,
            },
            EventKind::FriendRequest
            | EventKind::FriendAccepted
            | EventKind::FriendRemoved
            | EventKind::BlockUpdated => {
                let Some(subject) = &record.subject_user_id else {
                    return Ok(None);
                };
                let Some(other) = self.inner.store.user(subject).await? else {
                    return Ok(None);
                };
                let user = hilo_proto::PartyDto::from(&other);
                Some(match record.kind {
                    EventKind::FriendRequest => Event::FriendRequest {
                        user,
                        direction: if record.number == Some(1) {
                            "incoming"
                        } else {
                            "outgoing"
                        }
                        .to_owned(),
                    },
                    EventKind::FriendAccepted => Event::FriendAccepted { user },
                    EventKind::FriendRemoved => Event::FriendRemoved { user },
                    _ => Event::BlockUpdated {
                        user,
                        blocked: record.number == Some(1),
                    },
                })
            }
            EventKind::ReportResolved => {
                let Some(id) = &record.report_id else {
                    return Ok(None);
                };
                self.inner
                    .store
                    .report(id)
                    .await?
                    .map(|report| Event::ReportResolved {
                        report_id: id.to_string(),
                        status: report.status.as_str().to_owned(),
                    })
            }
            EventKind::SessionRevoked => {
                record.session_id.as_ref().map(|s| Event::SessionRevoked {
                    session_id: s.to_string(),
                })
            }
        })
    }

    /// Turns presence transitions into `presence` events for the people who share a
    /// conversation with the person and whom their `last_seen_visibility` allows, and
    /// records when the last stream of a person closed (their last seen). Runs for as long
    /// as the service does, when a tokio runtime is there to run it.
    pub(crate) fn announce_presence(
        &self,
        mut transitions: tokio::sync::mpsc::UnboundedReceiver<crate::presence::Transition>,
    ) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let inner = std::sync::Arc::downgrade(&self.inner);
        runtime.spawn(async move {
            while let Some(transition) = transitions.recv().await {
                let Some(inner) = inner.upgrade() else { return };
                let hilo = Hilo { inner };
                // The last stream out counts only if no new one comes within a grace
                // period: a long poll between two polls, or a WebSocket reconnecting after
                // a network blip, does not flap the person offline and online again.
                tokio::spawn(async move {
                    tokio::time::sleep(OFFLINE_GRACE).await;
                    if let Err(error) = hilo.announce(&transition).await {
                        tracing::warn!(%error, "could not announce a presence change");
                    }
                });
            }
        });
    }

    /// Renews, every [`PRESENCE_RENEW`], this node's word that its users have streams
    /// open (see [`PRESENCE_TTL`]).
    pub(crate) fn renew_presence(&self) {
        let renew = std::sync::Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(PRESENCE_RENEW);
            loop {
                tick.tick().await;
                let Some(inner) = renew.upgrade() else { return };
                let now = inner.clock.now();
                let users = inner.presence.online_users();
                let until = now.plus_millis(PRESENCE_TTL.as_millis() as i64);
                let forget = now.plus_millis(-(24 * 60 * 60 * 1000));
                if let Err(error) = inner
                    .store
                    .streams_alive(&inner.node, &users, until, forget)
                    .await
                {
                    tracing::warn!(%error, "could not renew this node's presence");
                }
            }
        });
    }

    async fn announce(&self, transition: &crate::presence::Transition) -> Result<()> {
        let now = self.inner.clock.now();
        let store = &self.inner.store;
        let node = &self.inner.node;
        // The shared table says whether another node has a stream of theirs: only the
        // first stream anywhere makes them online, only the last one anywhere offline.
        let elsewhere = if transition.online {
            let until = now.plus_millis(PRESENCE_TTL.as_millis() as i64);
            store
                .stream_opened(node, &transition.user, until, now)
                .await?
        } else {
            store.touch_session(&transition.session, now).await?;
            // Reconnected here since: still online, and the row stays.
            if self.inner.presence.is_online(&transition.user) {
                return Ok(());
            }
            store.stream_closed(node, &transition.user, now).await?
        };
        if elsewhere {
            return Ok(());
        }
        let Some(user) = store.user(&transition.user).await? else {
            return Ok(());
        };
        let audience: Vec<hilo_core::UserId> = match user.settings.last_seen_visibility {
            hilo_core::LastSeenVisibility::Nobody => return Ok(()),
            hilo_core::LastSeenVisibility::Friends => store
                .friends(&user.id)
                .await?
                .into_iter()
                .map(|friend| friend.user.id)
                .collect(),
            hilo_core::LastSeenVisibility::Everyone => store.presence_audience(&user.id).await?,
        };
        let event = Event::Presence {
            user_id: user.id.to_string(),
            online: transition.online,
            last_seen_at: (!transition.online).then(|| hilo_proto::rfc3339(now)),
        };
        self.publish_ephemeral(&audience, &event).await;
        Ok(())
    }

    /// Records, every [`DELIVERY_FLUSH`], the messages handed to streams since the last
    /// time (one write per person and conversation, whatever the number of messages), and
    /// tells their senders with `delivered` events.
    pub(crate) fn record_deliveries(&self) {
        let inner = std::sync::Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(DELIVERY_FLUSH);
            loop {
                tick.tick().await;
                let Some(inner) = inner.upgrade() else { return };
                let hilo = Hilo { inner };
                for ((conversation, user), seq) in hilo.inner.deliveries.take() {
                    let now = hilo.inner.clock.now();
                    match hilo
                        .inner
                        .store
                        .mark_delivered(&conversation, &user, seq, now)
                        .await
                    {
                        Ok(deliveries) => {
                            let event = Event::Delivered {
                                conversation_id: conversation.to_string(),
                                user_id: user.to_string(),
                                seq,
                            };
                            hilo.publish(&deliveries, &event).await;
                        }
                        Err(error) => {
                            tracing::warn!(%error, "could not record a delivery");
                        }
                    }
                }
            }
        });
    }

    /// Notes that a stream of `user` handed out `body` (an event frame): a message from
    /// someone else has reached one of their devices.
    fn note_delivery(&self, user: &UserId, body: &str) {
        #[derive(serde::Deserialize)]
        struct Probe {
            message: ProbeMessage,
        }
        #[derive(serde::Deserialize)]
        struct ProbeMessage {
            conversation_id: String,
            seq: i64,
            sender: Option<ProbeSender>,
        }
        #[derive(serde::Deserialize)]
        struct ProbeSender {
            id: String,
        }
        if !body.contains("\"type\":\"message.created\"") {
            return;
        }
        if let Ok(probe) = serde_json::from_str::<Probe>(body) {
            let sender = probe.message.sender.map(|s| s.id);
            self.note_delivered(
                user,
                probe.message.conversation_id,
                probe.message.seq,
                sender,
            );
        }
    }

    /// Notes that `user` received message `seq` of a conversation, unless they sent it.
    fn note_delivered(
        &self,
        user: &UserId,
        conversation: String,
        seq: i64,
        sender: Option<String>,
    ) {
        if sender.as_deref() != Some(user.as_str()) {
            self.inner.deliveries.note(
                hilo_core::ConversationId::new(conversation),
                user.clone(),
                seq,
            );
        }
    }

    /// Opens the caller's event stream, resuming after `since` when given.
    pub async fn open_stream(&self, caller: &Caller, since: Option<&str>) -> Result<EventStream> {
        let since = since
            .map(|text| {
                text.trim().parse::<i64>().map_err(|_| {
                    Error::bad_request(
                        "invalid_cursor",
                        "since must be a cursor returned by the server",
                    )
                })
            })
            .transpose()?;
        // Subscribe before reading the bounds: anything committed from here on is either
        // in the store read below or arrives on the subscription (or both; dedup by cursor).
        let subscription = self.inner.bus.subscribe(&caller.user.id);
        let (presence, first_here) = self
            .inner
            .presence
            .enter(&caller.user.id, &caller.session_id);
        if first_here {
            // Recorded before the stream starts: a close that follows is processed after it.
            let transition = crate::presence::Transition {
                user: caller.user.id.clone(),
                session: caller.session_id.clone(),
                online: true,
            };
            if let Err(error) = self.announce(&transition).await {
                tracing::warn!(%error, "could not record a stream's presence");
            }
        }
        let (floor, head) = self.inner.store.event_bounds(&caller.user.id).await?;
        let (last, resync) = match since {
            None => (head, false),
            Some(cursor) if cursor < floor || cursor > head => (head, true),
            Some(cursor) => (cursor, false),
        };
        Ok(EventStream {
            hilo: self.clone(),
            user: caller.user.id.clone(),
            session: caller.session_id.clone(),
            subscription,
            last,
            known_head: head,
            delivered: last,
            pending: VecDeque::new(),
            lagged: false,
            resync,
            revoked: false,
            _presence: presence,
        })
    }

    /// Whether a session is still live (streams re-check this periodically, in case a
    /// revocation's bus message was lost).
    pub async fn session_is_live(&self, user: &UserId, session: &SessionId) -> Result<bool> {
        Ok(self
            .inner
            .store
            .sessions(user)
            .await?
            .iter()
            .any(|s| &s.id == session))
    }
}

/// A conversation as its events show it: null once the recipient is no longer a member,
/// or deleted it for themselves (until a newer message shows it again).
fn visible(view: &Option<hilo_core::ConversationView>) -> Option<ConversationDto> {
    view.as_ref()
        .filter(|view| !view.hidden())
        .map(ConversationDto::from)
}

fn conversation_event(
    kind: EventKind,
    id: &hilo_core::ConversationId,
    conversation: Option<ConversationDto>,
    removed: Option<&UserId>,
) -> Event {
    if kind == EventKind::ConversationCreated {
        Event::ConversationCreated {
            conversation_id: id.to_string(),
            conversation,
        }
    } else {
        Event::ConversationUpdated {
            conversation_id: id.to_string(),
            conversation,
            removed_user_id: removed.map(|u| u.to_string()),
        }
    }
}

/// What an [`EventStream`] yields next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamItem {
    /// A JSON event frame.
    Frame(String),
    /// The client's cursor is unknown here (too old, or from another database): it must
    /// fetch state again and reconnect without a cursor.
    ResyncRequired,
    /// This stream's session was revoked; the `session.revoked` frame was delivered first.
    Revoked,
    /// The server is shutting down.
    Closed,
}

/// One client's view of its user's events, resumable by cursor.
pub struct EventStream {
    hilo: Hilo,
    user: UserId,
    session: SessionId,
    subscription: Subscription,
    last: i64,
    known_head: i64,
    /// Cursor of the last event handed out; `last` may be ahead of it while read-ahead
    /// events wait in `pending`.
    delivered: i64,
    /// Stored events read ahead, rendered one at a time as they are handed out: a client
    /// catching up gets its first frame after one read, not after a whole batch's.
    pending: VecDeque<StoredEvent>,
    /// The bus dropped envelopes for this stream (it fell more than a queue behind): the
    /// store's head must be re-read before the stream can call itself caught up.
    lagged: bool,
    resync: bool,
    revoked: bool,
    _presence: PresenceGuard,
}

impl EventStream {
    /// The cursor of the last event handed out (or the starting position).
    pub fn cursor(&self) -> String {
        self.delivered.to_string()
    }

    /// The user this stream belongs to.
    pub fn user(&self) -> &UserId {
        &self.user
    }

    /// The session this stream belongs to.
    pub fn session(&self) -> &SessionId {
        &self.session
    }

    /// The next item, waiting for one if necessary. Cancel-safe: dropping the future loses
    /// nothing that a later call would not return.
    pub async fn next(&mut self) -> Result<StreamItem> {
        loop {
            if let Some(item) = self.ready_item().await? {
                return Ok(item);
            }
            let received = self.subscription.recv().await;
            if let Some(item) = self.accept(received) {
                return Ok(item);
            }
        }
    }

    /// The next item if one is available without waiting (stored events after the cursor
    /// count as available); `None` when the stream is caught up.
    pub async fn try_next(&mut self) -> Result<Option<StreamItem>> {
        loop {
            if let Some(item) = self.ready_item().await? {
                return Ok(Some(item));
            }
            let Some(received) = self.subscription.try_recv() else {
                return Ok(None);
            };
            if let Some(item) = self.accept(received) {
                return Ok(Some(item));
            }
        }
    }

    /// What can be handed out without the bus: a resync notice, a rendered stored event, or
    /// the end after a revocation. Reads the store while the cursor is behind the head.
    async fn ready_item(&mut self) -> Result<Option<StreamItem>> {
        loop {
            if self.resync {
                self.resync = false;
                return Ok(Some(StreamItem::ResyncRequired));
            }
            if let Some(stored) = self.pending.front() {
                // Render first, then pop: if this future is dropped during the await, the
                // event stays first in line and the next call renders it again.
                let rendered = self.hilo.render(stored).await?;
                let cursor = stored.cursor;
                self.pending.pop_front();
                // Nothing to show for an event whose subject is gone: the client's position
                // still moves past it.
                self.delivered = cursor;
                if let Some(event) = rendered {
                    if let Event::MessageCreated { message, .. } = &event {
                        // Rendered here: no need to read the frame back.
                        let sender = message.sender.as_ref().map(|s| s.id.clone());
                        self.hilo.note_delivered(
                            &self.user,
                            message.conversation_id.clone(),
                            message.seq,
                            sender,
                        );
                    }
                    let body = serde_json::to_string(&event).unwrap_or_else(|_| "{}".to_owned());
                    return Ok(Some(StreamItem::Frame(with_cursor(&body, Some(cursor)))));
                }
                continue;
            }
            if self.revoked {
                return Ok(Some(StreamItem::Revoked));
            }
            if self.lagged {
                // Cleared only once the head is known: a cancelled read retries.
                self.refresh_head().await?;
                self.lagged = false;
            }
            if self.last >= self.known_head {
                return Ok(None);
            }
            self.catch_up().await?;
        }
    }

    /// Applies one bus delivery: the next event is handed out, a duplicate is dropped, a gap
    /// raises the known head so the next call reads the store. A lag (the bus dropped
    /// envelopes because this stream fell a whole queue behind) is a gap of unknown size:
    /// the next call re-reads the head and catches up from the store, so a reader that is
    /// merely slower than a burst keeps its connection and loses nothing. A reader that
    /// stops reading altogether is cut off by the transport's send timeout instead.
    fn accept(&mut self, received: Received) -> Option<StreamItem> {
        match received {
            Received::Envelope(envelope) => match envelope.cursor {
                None => Some(StreamItem::Frame(envelope.body.to_string())),
                Some(cursor) if cursor <= self.last => None,
                Some(cursor) if cursor == self.last + 1 => {
                    self.last = cursor;
                    self.delivered = cursor;
                    self.known_head = self.known_head.max(cursor);
                    if envelope.revoked_session.as_ref() == Some(&self.session) {
                        self.revoked = true;
                    }
                    self.hilo.note_delivery(&self.user, &envelope.body);
                    Some(StreamItem::Frame(with_cursor(&envelope.body, Some(cursor))))
                }
                Some(cursor) => {
                    self.known_head = cursor;
                    None
                }
            },
            Received::Lagged => {
                self.lagged = true;
                None
            }
            Received::Closed => Some(StreamItem::Closed),
        }
    }

    /// Re-reads the head of the user's stream from the store. Live delivery relies on the
    /// bus; if a publish was lost (a request cancelled between commit and publish, a bus
    /// hiccup), the stream would otherwise notice only at the next event. Connections call
    /// this periodically so such an event arrives at most one period late.
    pub async fn refresh_head(&mut self) -> Result<()> {
        let (_, head) = self.hilo.inner.store.event_bounds(&self.user).await?;
        self.known_head = self.known_head.max(head);
        Ok(())
    }

    /// Reads the next batch of stored events after `last` into `pending`.
    async fn catch_up(&mut self) -> Result<()> {
        let events = self
            .hilo
            .inner
            .store
            .events_after(&self.user, self.last, CATCH_UP_BATCH)
            .await?;
        if events.is_empty() {
            self.known_head = self.last;
            return Ok(());
        }
        for stored in events {
            let revokes_me = stored.record.kind == EventKind::SessionRevoked
                && stored.record.session_id.as_ref() == Some(&self.session);
            self.last = stored.cursor;
            self.pending.push_back(stored);
            if revokes_me {
                self.revoked = true;
                break;
            }
        }
        Ok(())
    }
}
