//! Messages.
//!
//! | route | |
//! |---|---|
//! | POST /api/v1/conversations/{id}/messages | send (idempotent by `client_txn_id`) |
//! | GET /api/v1/conversations/{id}/messages | history page |
//! | GET /api/v1/messages/{id} | one message |

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use hilo_core::{ConversationId, MessageId};
use hilo_proto::{ErrorBody, MessageDto, MessagesResponse, SendMessageRequest};
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
        .routes(routes!(get_message))
}

/// POST /api/v1/conversations/{id}/messages
#[utoipa::path(post, path = "/api/v1/conversations/{id}/messages", tag = "messages", security(("bearer" = [])), params(("id" = String, Path)), request_body = SendMessageRequest,
    responses((status = 201, description = "stored durably", body = MessageDto), (status = 200, description = "a repeat of an earlier client_txn_id: the original message", body = MessageDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn send_message(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<SendMessageRequest>,
) -> Result<(StatusCode, Json<MessageDto>), ApiError> {
    let (message, created) = state
        .hilo
        .send_message(
            &caller,
            &ConversationId::new(id),
            &body.client_txn_id,
            body.text.as_deref(),
        )
        .await?;
    if created {
        state.metrics.message_stored();
    }
    Ok((
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        Json(MessageDto::from(&message)),
    ))
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
