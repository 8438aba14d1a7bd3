//! The event stream, over WebSocket or long polling.
//!
//! | route | |
//! |---|---|
//! | GET /api/v1/events | WebSocket upgrade, or a long poll `?since=&timeout=` |
//!
//! Both transports read the same `EventStream`, so they share replay, ordering and
//! revocation; this file only adds framing, timeouts and close codes.

use std::time::Duration;

use axum::Json;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use hilo_proto::{ClientFrame, ErrorBody, EventsResponse, ReadyFrame, close_code};
use hilo_service::{Caller, EventStream, StreamItem};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{AppQuery, bearer_token};
use crate::{ApiError, AppState};

pub(super) fn routes(router: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    router.routes(routes!(events))
}

/// A browser has this long to send its `auth` frame.
const AUTH_TIMEOUT: Duration = Duration::from_secs(10);
/// A frame that cannot be written in this long means the client stopped reading.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Keep-alive ping interval.
const PING_INTERVAL: Duration = Duration::from_secs(30);
/// How often a stream re-checks that its session is still live and that it has not missed
/// a stored event whose live publish was lost.
const REVALIDATE_INTERVAL: Duration = Duration::from_secs(30);
/// A client that sends nothing (not even a pong) for this long is gone.
const IDLE_TIMEOUT: Duration = Duration::from_secs(75);
/// Largest frame a client may send.
const MAX_CLIENT_FRAME: usize = 64 * 1024;
/// Per-connection read buffer. Clients send only small frames (auth, ping), and the
/// library's default of 128 KiB is zero-filled on the first read, so it would be resident
/// for every idle connection; a larger frame still reads, in several passes.
const READ_BUFFER: usize = 4 * 1024;
/// Frames are written out as soon as they are sent (each send flushes anyway), so the
/// write buffer only ever holds the frame being written.
const WRITE_BUFFER: usize = 0;
/// Longest long poll.
const MAX_POLL_SECONDS: u64 = 120;
/// Most events one long-poll answer carries.
const MAX_POLL_EVENTS: usize = 500;

/// Stream parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct EventsQuery {
    /// Resume after this cursor.
    since: Option<String>,
    /// Long poll: seconds to wait for an event (0–120, default 30).
    #[param(minimum = 0, maximum = 120)]
    timeout: Option<u64>,
}

/// GET /api/v1/events
#[utoipa::path(get, path = "/api/v1/events", tag = "events", security(("bearer" = [])), params(EventsQuery),
    responses((status = 101, description = "WebSocket: `ready`, then events in order; browsers authenticate with a first `auth` frame"), (status = 200, body = EventsResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn events(State(state): State<AppState>, request: Request) -> Result<Response, ApiError> {
    let (mut parts, _body) = request.into_parts();
    let AppQuery(query) = AppQuery::<EventsQuery>::from_request_parts(&mut parts, &state).await?;
    let caller = match bearer_token(&parts) {
        Some(token) => Some(
            state
                .hilo
                .authenticate(token)
                .await?
                .ok_or_else(ApiError::unauthenticated)?,
        ),
        None => None,
    };
    let wants_websocket = parts
        .headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if wants_websocket {
        let upgrade = WebSocketUpgrade::from_request_parts(&mut parts, &state)
            .await
            .map_err(|r| ApiError::bad_request("invalid_upgrade", r.body_text()))?;
        return Ok(upgrade
            .max_message_size(MAX_CLIENT_FRAME)
            .max_frame_size(MAX_CLIENT_FRAME)
            .read_buffer_size(READ_BUFFER)
            .write_buffer_size(WRITE_BUFFER)
            .on_upgrade(move |socket| run_socket(state, socket, caller, query.since))
            .into_response());
    }
    let caller = caller.ok_or_else(ApiError::unauthenticated)?;
    long_poll(state, caller, query)
        .await
        .map(IntoResponse::into_response)
}

async fn long_poll(
    state: AppState,
    caller: Caller,
    query: EventsQuery,
) -> Result<Json<EventsResponse>, ApiError> {
    let seconds = query.timeout.unwrap_or(30);
    if seconds > MAX_POLL_SECONDS {
        return Err(ApiError::bad_request(
            "invalid_timeout",
            format!("timeout is 0 to {MAX_POLL_SECONDS} seconds"),
        ));
    }
    let mut stream = state
        .hilo
        .open_stream(&caller, query.since.as_deref())
        .await?;
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    // Everything already available is returned at once, whatever the timeout; only an
    // empty answer waits, and only until the first event (or the deadline).
    loop {
        let mut finished = false;
        while events.len() < MAX_POLL_EVENTS {
            match stream.try_next().await? {
                Some(item) => finished = take(&mut events, item),
                None => break,
            }
            if finished {
                break;
            }
        }
        if finished || !events.is_empty() || events.len() >= MAX_POLL_EVENTS {
            break;
        }
        tokio::select! {
            item = stream.next() => if take(&mut events, item?) { break },
            () = tokio::time::sleep_until(deadline) => break,
            () = state.shutdown.cancelled() => break,
        }
    }
    Ok(Json(EventsResponse {
        events,
        cursor: stream.cursor(),
    }))
}

/// Adds a stream item to a long-poll answer; true when the stream ended.
fn take(events: &mut Vec<serde_json::Value>, item: StreamItem) -> bool {
    match item {
        StreamItem::Frame(frame) => {
            if let Ok(value) = serde_json::from_str::<serde_json::Value>(&frame) {
                events.push(value);
            }
            false
        }
        StreamItem::ResyncRequired => {
            events.push(serde_json::json!({"type": "resync_required"}));
            false
        }
        StreamItem::Revoked | StreamItem::Closed => true,
    }
}

fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    }))
}

/// Reads the browser's first frame: `{"type":"auth","token":T,"since":C?}`.
async fn first_frame_auth(
    state: &AppState,
    socket: &mut WebSocket,
) -> Result<(Caller, Option<String>), Message> {
    let frame = match tokio::time::timeout(AUTH_TIMEOUT, socket.recv()).await {
        Ok(Some(Ok(Message::Text(text)))) => text,
        Ok(_) | Err(_) => return Err(close(close_code::AUTH_TIMEOUT, "expected an auth frame")),
    };
    let Ok(ClientFrame::Auth { token, since }) = serde_json::from_str::<ClientFrame>(&frame) else {
        return Err(close(
            close_code::AUTH_TIMEOUT,
            "the first frame must be {\"type\":\"auth\",...}",
        ));
    };
    match state.hilo.authenticate(&token).await {
        Ok(Some(caller)) => Ok((caller, since)),
        _ => Err(close(close_code::UNAUTHORIZED, "invalid token")),
    }
}

async fn run_socket(
    state: AppState,
    mut socket: WebSocket,
    caller: Option<Caller>,
    since: Option<String>,
) {
    let (caller, since) = match caller {
        Some(caller) => (caller, since),
        None => match first_frame_auth(&state, &mut socket).await {
            Ok((caller, frame_since)) => (caller, frame_since.or(since)),
            Err(message) => {
                let _ = tokio::time::timeout(SEND_TIMEOUT, socket.send(message)).await;
                return;
            }
        },
    };
    // A cursor that is not even well-formed is as unknown as an expired one: resync.
    let (stream, malformed) = match state.hilo.open_stream(&caller, since.as_deref()).await {
        Ok(stream) => (stream, false),
        Err(hilo_service::Error::BadRequest { .. }) => {
            match state.hilo.open_stream(&caller, None).await {
                Ok(stream) => (stream, true),
                Err(_) => return,
            }
        }
        Err(error) => {
            tracing::warn!(%error, "could not open an event stream");
            let _ = socket.send(close(1011, "server error")).await;
            return;
        }
    };
    serve_socket(state, socket, stream, malformed).await;
}

async fn serve_socket(
    state: AppState,
    socket: WebSocket,
    mut stream: EventStream,
    resync_first: bool,
) {
    let (mut sink, mut incoming) = socket.split();
    macro_rules! send {
        ($message:expr) => {
            match tokio::time::timeout(SEND_TIMEOUT, sink.send($message)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return,
                Err(_) => {
                    let _ = tokio::time::timeout(
                        Duration::from_secs(1),
                        sink.send(close(
                            close_code::SLOW_CONSUMER,
                            "too slow; reconnect with your last cursor",
                        )),
                    )
                    .await;
                    return;
                }
            }
        };
    }
    let ready = ReadyFrame {
        kind: "ready".into(),
        cursor: stream.cursor(),
    };
    send!(Message::Text(
        serde_json::to_string(&ready).unwrap_or_default().into()
    ));
    if resync_first {
        send!(Message::Text(Utf8Bytes::from_static(
            "{\"type\":\"resync_required\"}"
        )));
    }
    let mut ping = tokio::time::interval(PING_INTERVAL);
    let mut revalidate = tokio::time::interval(REVALIDATE_INTERVAL);
    ping.tick().await;
    revalidate.tick().await;
    let mut last_heard = tokio::time::Instant::now();
    // No `biased`: a client flooding frames must not starve its own event delivery or the
    // revalidation, nor the other way round.
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => {
                send!(close(1001, "server shutting down"));
                return;
            }
            message = incoming.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    last_heard = tokio::time::Instant::now();
                    if let Ok(ClientFrame::Ping) = serde_json::from_str::<ClientFrame>(&text) {
                        send!(Message::Text(Utf8Bytes::from_static("{\"type\":\"pong\"}")));
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => last_heard = tokio::time::Instant::now(),
            },
            item = stream.next() => match item {
                Ok(StreamItem::Frame(frame)) => send!(Message::Text(frame.into())),
                Ok(StreamItem::ResyncRequired) => send!(Message::Text(Utf8Bytes::from_static("{\"type\":\"resync_required\"}"))),
                Ok(StreamItem::Revoked) => {
                    send!(close(close_code::UNAUTHORIZED, "session revoked"));
                    return;
                }
                Ok(StreamItem::Closed) => {
                    // The relay between nodes restarted; this node may have missed events.
                    send!(close(1012, "event relay restarted; reconnect with your last cursor"));
                    return;
                }
                Err(error) => {
                    tracing::warn!(%error, "event stream failed");
                    send!(close(1011, "server error; reconnect with your last cursor"));
                    return;
                }
            },
            _ = ping.tick() => {
                if last_heard.elapsed() > IDLE_TIMEOUT {
                    send!(close(close_code::IDLE, "no frame or pong received; reconnect with your last cursor"));
                    return;
                }
                send!(Message::Ping(Default::default()));
            }
            _ = revalidate.tick() => {
                if let Ok(false) = state.hilo.session_is_live(stream.user(), stream.session()).await {
                    send!(close(close_code::UNAUTHORIZED, "session revoked"));
                    return;
                }
                if let Err(error) = stream.refresh_head().await {
                    tracing::debug!(%error, "could not refresh the stream head");
                }
            }
        }
    }
}
