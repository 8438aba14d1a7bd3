//! Messages.
//!
//! | route | |
//! |---|---|
//! | POST /api/v1/conversations/{id}/messages | send (idempotent by `client_txn_id`) |
//! | GET /api/v1/conversations/{id}/messages | history page |
//! | GET /api/v1/messages/{id} | one message |
//! | GET /api/v1/messages/{id}/original | a message as it came (a mail's whole text and safe HTML) |
//! | PATCH /api/v1/messages/{id} | edit (sender only) |
//! | DELETE /api/v1/messages/{id}?scope=everyone\|me | delete for everyone (sender only) or for me |
//! | GET /api/v1/messages/{id}/versions | earlier texts (sender only) |
//! | PUT/DELETE /api/v1/messages/{id}/reactions/{emoji} | react, unreact |
//! | POST /api/v1/messages/{id}/forward | copy into another conversation |

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use hilo_core::{ConversationId, MessageId};
use hilo_proto::{
    EditMessageRequest, ErrorBody, ForwardMessageRequest, MessageDto, MessageVersionDto,
    MessageVersionsResponse, MessagesResponse, OriginalDto, SendMessageRequest, rfc3339,
};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::page_limit;
use crate::extract::{AppJson, AppPath, AppQuery, Auth};
use crate::{ApiError, AppState};

pub(super) fn routes(router: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    router
        .routes(routes!(send_message, list_messages))
        .routes(routes!(get_message, edit_message, delete_message))
        .routes(routes!(get_original))
        .routes(routes!(message_versions))
        .routes(routes!(add_reaction, remove_reaction))
        .routes(routes!(forward_message))
}

/// The status of a send: 201 when stored now, 200 for a repeat of its `client_txn_id`.
fn sent(
    state: &AppState,
    (message, created): (hilo_core::Message, bool),
) -> (StatusCode, Json<MessageDto>) {
    if created {
        state.metrics.message_stored();
    }
    (
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        Json(MessageDto::from(&message)),
    )
}

/// POST /api/v1/conversations/{id}/messages
#[utoipa::path(post, path = "/api/v1/conversations/{id}/messages", tag = "messages", security(("bearer" = [])), params(("id" = String, Path)), request_body = SendMessageRequest,
    responses((status = 201, description = "stored durably", body = MessageDto), (status = 200, description = "a repeat of an earlier client_txn_id: the original message", body = MessageDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, description = "`recipient_blocked` (the sender blocks the recipient), `recipient_restricts_messages`, or `read_only` (security notices)", body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, description = "`rate_limited`: the sender sent too many messages this minute; `Retry-After` gives the seconds to wait", body = ErrorBody, headers(("Retry-After" = u64, description = "seconds to wait")))))]
async fn send_message(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<SendMessageRequest>,
) -> Result<(StatusCode, Json<MessageDto>), ApiError> {
    let outcome = state
        .hilo
        .send_message(&caller, &ConversationId::new(id), &body)
        .await?;
    Ok(sent(&state, outcome))
}

/// The history query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct HistoryQuery {
    /// Only messages with a smaller `seq`.
    #[param(minimum = 0)]
    before: Option<i64>,
    /// Only messages with a greater `seq` (the page starts right after it).
    #[param(minimum = 0)]
    after: Option<i64>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

/// GET /api/v1/conversations/{id}/messages
#[utoipa::path(get, path = "/api/v1/conversations/{id}/messages", tag = "messages", security(("bearer" = [])), params(("id" = String, Path), HistoryQuery),
    responses((status = 200, body = MessagesResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_messages(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(id): AppPath<String>,
    AppQuery(query): AppQuery<HistoryQuery>,
) -> Result<Json<MessagesResponse>, ApiError> {
    let limit = page_limit(query.limit)?;
    let page = state
        .hilo
        .messages(
            &caller,
            &ConversationId::new(id),
            query.before,
            query.after,
            limit,
        )
        .await?;
    Ok(Json(MessagesResponse {
        messages: page.messages.iter().map(MessageDto::from).collect(),
        has_more: page.has_more,
    }))
}

/// GET /api/v1/messages/{id}
#[utoipa::path(get, path = "/api/v1/messages/{id}", tag = "messages", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = MessageDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_message(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(id): AppPath<String>,
) -> Result<Json<MessageDto>, ApiError> {
    let message = state.hilo.message(&caller, &MessageId::new(id)).await?;
    Ok(Json(MessageDto::from(&message)))
}

/// GET /api/v1/messages/{id}/original
#[utoipa::path(get, path = "/api/v1/messages/{id}/original", tag = "messages", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = OriginalDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_original(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(id): AppPath<String>,
) -> Result<Json<OriginalDto>, ApiError> {
    let (message, text, html) = state.hilo.original(&caller, &MessageId::new(id)).await?;
    Ok(Json(OriginalDto {
        text,
        html,
        email: MessageDto::from(&message).email,
    }))
}

/// PATCH /api/v1/messages/{id}
#[utoipa::path(patch, path = "/api/v1/messages/{id}", tag = "messages", security(("bearer" = [])), params(("id" = String, Path)), request_body = EditMessageRequest,
    responses((status = 200, description = "the message with its new text and edited_at", body = MessageDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, description = "not the sender", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "the message was deleted", body = ErrorBody)))]
async fn edit_message(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<EditMessageRequest>,
) -> Result<Json<MessageDto>, ApiError> {
    let message = state
        .hilo
        .edit_message(&caller, &MessageId::new(id), &body.text)
        .await?;
    Ok(Json(MessageDto::from(&message)))
}

/// The delete query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct DeleteQuery {
    /// `everyone` (the sender only: a tombstone for all) or `me` (default: hidden for the
    /// caller only).
    #[param(value_type = Option<hilo_proto::vocab::DeleteScope>)]
    scope: Option<String>,
}

/// DELETE /api/v1/messages/{id}
#[utoipa::path(delete, path = "/api/v1/messages/{id}", tag = "messages", security(("bearer" = [])), params(("id" = String, Path), DeleteQuery),
    responses((status = 204, description = "deleted (again: nothing changes)"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, description = "scope=everyone on someone else's message", body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_message(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(id): AppPath<String>,
    AppQuery(query): AppQuery<DeleteQuery>,
) -> Result<StatusCode, ApiError> {
    state
        .hilo
        .delete_message(&caller, &MessageId::new(id), query.scope.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// GET /api/v1/messages/{id}/versions
#[utoipa::path(get, path = "/api/v1/messages/{id}/versions", tag = "messages", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = MessageVersionsResponse), (status = 401, body = ErrorBody), (status = 403, description = "not the sender", body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn message_versions(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(id): AppPath<String>,
) -> Result<Json<MessageVersionsResponse>, ApiError> {
    let versions = state
        .hilo
        .message_versions(&caller, &MessageId::new(id))
        .await?;
    Ok(Json(MessageVersionsResponse {
        versions: versions
            .into_iter()
            .map(|v| MessageVersionDto {
                text: v.text,
                replaced_at: rfc3339(v.replaced_at),
            })
            .collect(),
    }))
}

/// PUT /api/v1/messages/{id}/reactions/{emoji}
#[utoipa::path(put, path = "/api/v1/messages/{id}/reactions/{emoji}", tag = "messages", security(("bearer" = [])), params(("id" = String, Path), ("emoji" = String, Path, description = "one emoji, URL-encoded")),
    responses((status = 200, description = "the message with its reactions (unchanged if the caller had already reacted so)", body = MessageDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "the message was deleted", body = ErrorBody)))]
async fn add_reaction(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath((id, emoji)): AppPath<(String, String)>,
) -> Result<Json<MessageDto>, ApiError> {
    let message = state
        .hilo
        .react(&caller, &MessageId::new(id), &emoji, true)
        .await?;
    Ok(Json(MessageDto::from(&message)))
}

/// DELETE /api/v1/messages/{id}/reactions/{emoji}
#[utoipa::path(delete, path = "/api/v1/messages/{id}/reactions/{emoji}", tag = "messages", security(("bearer" = [])), params(("id" = String, Path), ("emoji" = String, Path, description = "one emoji, URL-encoded")),
    responses((status = 200, description = "the message with its reactions", body = MessageDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "the message was deleted", body = ErrorBody)))]
async fn remove_reaction(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath((id, emoji)): AppPath<(String, String)>,
) -> Result<Json<MessageDto>, ApiError> {
    let message = state
        .hilo
        .react(&caller, &MessageId::new(id), &emoji, false)
        .await?;
    Ok(Json(MessageDto::from(&message)))
}

/// POST /api/v1/messages/{id}/forward
#[utoipa::path(post, path = "/api/v1/messages/{id}/forward", tag = "messages", security(("bearer" = [])), params(("id" = String, Path)), request_body = ForwardMessageRequest,
    responses((status = 201, description = "the new, forwarded message", body = MessageDto), (status = 200, description = "a repeat of an earlier client_txn_id: the original message", body = MessageDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, description = "`recipient_blocked` (the sender blocks the recipient), `recipient_restricts_messages`, or `read_only` (security notices)", body = ErrorBody), (status = 404, description = "no such message or target conversation for the caller", body = ErrorBody), (status = 409, description = "the message was deleted", body = ErrorBody), (status = 429, description = "`rate_limited`: the sender sent too many messages this minute; `Retry-After` gives the seconds to wait", body = ErrorBody, headers(("Retry-After" = u64, description = "seconds to wait")))))]
async fn forward_message(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<ForwardMessageRequest>,
) -> Result<(StatusCode, Json<MessageDto>), ApiError> {
    let outcome = state
        .hilo
        .forward_message(&caller, &MessageId::new(id), &body)
        .await?;
    Ok(sent(&state, outcome))
}
