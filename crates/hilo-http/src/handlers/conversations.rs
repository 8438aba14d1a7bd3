//! Conversations.
//!
//! | route | |
//! |---|---|
//! | POST /api/v1/conversations | open a direct conversation or create a group |
//! | GET /api/v1/conversations | list by folder |
//! | GET /api/v1/conversations/{id} | one conversation |
//! | PATCH /api/v1/conversations/{id} | rename a group |
//! | POST /api/v1/conversations/{id}/members | add to a group |
//! | DELETE /api/v1/conversations/{id}/members/{username} | remove (yourself: leave) |
//! | PATCH /api/v1/conversations/{id}/settings | own folder, mute, notify |
//! | POST /api/v1/conversations/{id}/read | move the read marker |
//! | GET /api/v1/conversations/{id}/receipts | the other members' read markers |
//! | POST /api/v1/conversations/{id}/typing | typing indicator |
//! | POST /api/v1/conversations/{id}/accept | accept a message request |
//! | POST /api/v1/conversations/{id}/decline | decline a message request |
//! | POST /api/v1/conversations/{id}/spam | mark as spam (moves it, teaches the filter) |
//! | POST /api/v1/conversations/{id}/not_spam | not spam (back to requests, teaches the filter) |
//! | DELETE /api/v1/conversations/{id} | delete the conversation for yourself |

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hilo_core::ConversationId;
use hilo_proto::{
    AddMembersRequest, ConversationDto, ConversationSettingsRequest, ConversationsResponse,
    CreateConversationRequest, ErrorBody, ReadRequest, ReadResponse, ReceiptDto, ReceiptsResponse,
    RenameConversationRequest, TypingRequest,
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
        .routes(routes!(create_conversation, list_conversations))
        .routes(routes!(
            get_conversation,
            rename_conversation,
            delete_conversation
        ))
        .routes(routes!(add_members))
        .routes(routes!(remove_member))
        .routes(routes!(update_settings))
        .routes(routes!(mark_read))
        .routes(routes!(receipts))
        .routes(routes!(typing))
        .routes(routes!(accept))
        .routes(routes!(decline))
        .routes(routes!(mark_spam))
        .routes(routes!(mark_not_spam))
}

/// POST /api/v1/conversations
#[utoipa::path(post, path = "/api/v1/conversations", tag = "conversations", security(("bearer" = [])), request_body = CreateConversationRequest,
    responses((status = 201, description = "created", body = ConversationDto), (status = 200, description = "the existing direct conversation", body = ConversationDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, description = "someone named does not take messages from the caller", body = ErrorBody), (status = 404, description = "unknown username", body = ErrorBody), (status = 429, description = "too many new email addresses this hour", body = ErrorBody)))]
async fn create_conversation(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppJson(body): AppJson<CreateConversationRequest>,
) -> Result<Response, ApiError> {
    let foreign = match body.kind.as_str() {
        "direct" if body.name.is_some() || body.members.is_some() => Some("`name` and `members`"),
        "direct" if body.with.is_some() && body.with_address.is_some() => {
            Some("`with` and `with_address` together")
        }
        "group" if body.with.is_some() || body.with_address.is_some() => {
            Some("`with` and `with_address`")
        }
        _ => None,
    };
    if let Some(fields) = foreign {
        return Err(ApiError::bad_request(
            "invalid_field",
            format!("{fields} do not apply to a {} conversation", body.kind),
        ));
    }
    match body.kind.as_str() {
        "direct" => {
            let (view, created) = match (body.with.as_deref(), body.with_address.as_deref()) {
                (_, Some(address)) => state.hilo.open_with_address(&caller, address).await?,
                (Some(with), None) if !with.is_empty() => {
                    state.hilo.open_direct(&caller, with).await?
                }
                _ => {
                    return Err(ApiError::bad_request(
                        "missing_field",
                        "a direct conversation needs `with` (a username) or `with_address`",
                    ));
                }
            };
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok((status, Json(ConversationDto::from(&view))).into_response())
        }
        "group" => {
            let name = body
                .name
                .as_deref()
                .ok_or_else(|| ApiError::bad_request("missing_field", "a group needs a `name`"))?;
            let view = state
                .hilo
                .create_group(
                    &caller,
                    name,
                    body.members.as_deref().unwrap_or(&[]),
                    body.addresses.as_deref().unwrap_or(&[]),
                )
                .await?;
            Ok((StatusCode::CREATED, Json(ConversationDto::from(&view))).into_response())
        }
        _ => Err(ApiError::bad_request(
            "invalid_kind",
            "kind is direct or group",
        )),
    }
}

/// The conversation list query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// `inbox` (default), `requests`, `archived` or `spam`.
    #[param(value_type = Option<hilo_proto::vocab::Folder>)]
    folder: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

/// GET /api/v1/conversations
#[utoipa::path(get, path = "/api/v1/conversations", tag = "conversations", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = ConversationsResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn list_conversations(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppQuery(query): AppQuery<ListQuery>,
) -> Result<Json<ConversationsResponse>, ApiError> {
    let limit = page_limit(query.limit)?;
    let (views, next_cursor) = state
        .hilo
        .conversations(
            &caller,
            query.folder.as_deref().unwrap_or("inbox"),
            query.cursor.as_deref(),
            limit,
        )
        .await?;
    Ok(Json(ConversationsResponse {
        conversations: views.iter().map(ConversationDto::from).collect(),
        next_cursor,
    }))
}

/// GET /api/v1/conversations/{id}
#[utoipa::path(get, path = "/api/v1/conversations/{id}", tag = "conversations", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = ConversationDto), (status = 401, body = ErrorBody), (status = 404, description = "unknown, or the caller is not a member", body = ErrorBody)))]
async fn get_conversation(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(id): AppPath<String>,
) -> Result<Json<ConversationDto>, ApiError> {
    let view = state
        .hilo
        .conversation(&caller, &ConversationId::new(id))
        .await?;
    Ok(Json(ConversationDto::from(&view)))
}

/// PATCH /api/v1/conversations/{id}
#[utoipa::path(patch, path = "/api/v1/conversations/{id}", tag = "conversations", security(("bearer" = [])), params(("id" = String, Path)), request_body = RenameConversationRequest,
    responses((status = 200, body = ConversationDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn rename_conversation(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<RenameConversationRequest>,
) -> Result<Json<ConversationDto>, ApiError> {
    let view = state
        .hilo
        .rename_group(&caller, &ConversationId::new(id), &body.name)
        .await?;
    Ok(Json(ConversationDto::from(&view)))
}

/// POST /api/v1/conversations/{id}/members
#[utoipa::path(post, path = "/api/v1/conversations/{id}/members", tag = "conversations", security(("bearer" = [])), params(("id" = String, Path)), request_body = AddMembersRequest,
    responses((status = 200, body = ConversationDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, description = "someone named does not take messages from the caller", body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, description = "too many new email addresses this hour", body = ErrorBody)))]
async fn add_members(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<AddMembersRequest>,
) -> Result<Json<ConversationDto>, ApiError> {
    let view = state
        .hilo
        .add_members(
            &caller,
            &ConversationId::new(id),
            &body.usernames,
            &body.addresses,
        )
        .await?;
    Ok(Json(ConversationDto::from(&view)))
}

/// DELETE /api/v1/conversations/{id}/members/{username}: an address (with `@`) removes an
/// email contact.
#[utoipa::path(delete, path = "/api/v1/conversations/{id}/members/{username}", tag = "conversations", security(("bearer" = [])), params(("id" = String, Path), ("username" = String, Path)),
    responses((status = 204, description = "removed"), (status = 401, body = ErrorBody), (status = 403, description = "only group admins remove others", body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn remove_member(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath((id, username)): AppPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state
        .hilo
        .remove_member(&caller, &ConversationId::new(id), &username)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// PATCH /api/v1/conversations/{id}/settings
#[utoipa::path(patch, path = "/api/v1/conversations/{id}/settings", tag = "conversations", security(("bearer" = [])), params(("id" = String, Path)), request_body = ConversationSettingsRequest,
    responses((status = 200, body = ConversationDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn update_settings(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<ConversationSettingsRequest>,
) -> Result<Json<ConversationDto>, ApiError> {
    let view = state
        .hilo
        .update_conversation_settings(&caller, &ConversationId::new(id), &body)
        .await?;
    Ok(Json(ConversationDto::from(&view)))
}

/// POST /api/v1/conversations/{id}/read
#[utoipa::path(post, path = "/api/v1/conversations/{id}/read", tag = "conversations", security(("bearer" = [])), params(("id" = String, Path)), request_body = ReadRequest,
    responses((status = 200, body = ReadResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn mark_read(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<ReadRequest>,
) -> Result<Json<ReadResponse>, ApiError> {
    let id = ConversationId::new(id);
    let (last_read_seq, unread_count) = state.hilo.mark_read(&caller, &id, body.seq).await?;
    Ok(Json(ReadResponse {
        conversation_id: id.to_string(),
        last_read_seq,
        unread_count,
    }))
}

/// GET /api/v1/conversations/{id}/receipts
#[utoipa::path(get, path = "/api/v1/conversations/{id}/receipts", tag = "conversations", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = ReceiptsResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn receipts(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(id): AppPath<String>,
) -> Result<Json<ReceiptsResponse>, ApiError> {
    let receipts = state
        .hilo
        .receipts(&caller, &ConversationId::new(id))
        .await?;
    Ok(Json(ReceiptsResponse {
        receipts: receipts
            .into_iter()
            .map(|(user, delivered_seq, last_read_seq)| ReceiptDto {
                user_id: user.to_string(),
                delivered_seq,
                last_read_seq,
            })
            .collect(),
    }))
}

/// POST /api/v1/conversations/{id}/typing
#[utoipa::path(post, path = "/api/v1/conversations/{id}/typing", tag = "conversations", security(("bearer" = [])), params(("id" = String, Path)), request_body = TypingRequest,
    responses((status = 204, description = "sent to the other members' connected devices"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn typing(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<TypingRequest>,
) -> Result<StatusCode, ApiError> {
    state
        .hilo
        .typing(&caller, &ConversationId::new(id), body.typing)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// POST /api/v1/conversations/{id}/accept
#[utoipa::path(post, path = "/api/v1/conversations/{id}/accept", tag = "conversations", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, description = "in the caller's inbox now (also when it already was)", body = ConversationDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn accept(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(id): AppPath<String>,
) -> Result<Json<ConversationDto>, ApiError> {
    let view = state
        .hilo
        .accept_conversation(&caller, &ConversationId::new(id))
        .await?;
    Ok(Json(ConversationDto::from(&view)))
}

/// POST /api/v1/conversations/{id}/spam
#[utoipa::path(post, path = "/api/v1/conversations/{id}/spam", tag = "conversations", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, description = "in the caller's spam folder now (also when it already was); the others' newest messages taught the filter", body = ConversationDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn mark_spam(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(id): AppPath<String>,
) -> Result<Json<ConversationDto>, ApiError> {
    let view = state
        .hilo
        .mark_spam(&caller, &ConversationId::new(id))
        .await?;
    Ok(Json(ConversationDto::from(&view)))
}

/// POST /api/v1/conversations/{id}/not_spam
#[utoipa::path(post, path = "/api/v1/conversations/{id}/not_spam", tag = "conversations", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, description = "in the caller's message requests now; the others' newest messages taught the filter", body = ConversationDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "not in the caller's spam folder", body = ErrorBody)))]
async fn mark_not_spam(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(id): AppPath<String>,
) -> Result<Json<ConversationDto>, ApiError> {
    let view = state
        .hilo
        .mark_not_spam(&caller, &ConversationId::new(id))
        .await?;
    Ok(Json(ConversationDto::from(&view)))
}

/// POST /api/v1/conversations/{id}/decline
#[utoipa::path(post, path = "/api/v1/conversations/{id}/decline", tag = "conversations", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204, description = "hidden from the caller until someone writes again; nobody is told"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "not a message request", body = ErrorBody)))]
async fn decline(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(id): AppPath<String>,
) -> Result<StatusCode, ApiError> {
    state
        .hilo
        .clear_conversation(&caller, &ConversationId::new(id), true)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// DELETE /api/v1/conversations/{id}
#[utoipa::path(delete, path = "/api/v1/conversations/{id}", tag = "conversations", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204, description = "its history so far is hidden from the caller, and it leaves their lists until someone writes again"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_conversation(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(id): AppPath<String>,
) -> Result<StatusCode, ApiError> {
    state
        .hilo
        .clear_conversation(&caller, &ConversationId::new(id), false)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
