//! Search.
//!
//! | route | |
//! |---|---|
//! | GET /api/v1/search/messages | messages the caller may read that match a query |

use axum::Json;
use axum::extract::State;
use hilo_proto::{ErrorBody, MessageDto, SearchResponse, SearchResultDto, parse_rfc3339};
use hilo_service::SearchRequest;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{AppQuery, Auth};
use crate::{ApiError, AppState};

pub(super) fn routes(router: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    router.routes(routes!(search_messages))
}

/// The message search query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct MessageSearchQuery {
    /// The words to find (1–256 characters, at most 12 words), all of them, in any order;
    /// case and accents do not matter, a word finds its other forms ("mensaje" finds
    /// "mensajes") and words it begins ("reserv" finds "reservamos").
    #[param(min_length = 1, max_length = 256)]
    q: String,
    /// Only in this conversation (404 unless the caller is a member).
    conversation_id: Option<String>,
    /// Only sent by this username.
    sender: Option<String>,
    /// Only sent at or after this time (RFC 3339).
    after: Option<String>,
    /// Only sent before this time (RFC 3339).
    before: Option<String>,
    /// Only messages with (true) or without (false) attachments.
    has_attachment: Option<bool>,
    /// Page size, 1–50 (default 20).
    #[param(minimum = 1, maximum = 50)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

fn time(name: &str, value: Option<&str>) -> Result<Option<hilo_core::Timestamp>, ApiError> {
    value
        .map(|text| {
            parse_rfc3339(text).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_field",
                    format!("{name} is a time in RFC 3339 form, e.g. 2026-01-31T12:00:00Z"),
                )
            })
        })
        .transpose()
}

/// GET /api/v1/search/messages
#[utoipa::path(get, path = "/api/v1/search/messages", tag = "messages", security(("bearer" = [])), params(MessageSearchQuery),
    responses((status = 200, description = "most relevant first, then most recent", body = SearchResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, description = "conversation_id names a conversation the caller is not in", body = ErrorBody)))]
async fn search_messages(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppQuery(query): AppQuery<MessageSearchQuery>,
) -> Result<Json<SearchResponse>, ApiError> {
    let request = SearchRequest {
        after: time("after", query.after.as_deref())?,
        before: time("before", query.before.as_deref())?,
        q: query.q,
        conversation_id: query.conversation_id,
        sender: query.sender,
        has_attachment: query.has_attachment,
        limit: query.limit,
        cursor: query.cursor,
    };
    let results = state.hilo.search_messages(&caller, &request).await?;
    Ok(Json(SearchResponse {
        results: results
            .hits
            .iter()
            .map(|hit| SearchResultDto {
                message: MessageDto::from(&hit.message),
                highlight: hit.highlight.clone(),
            })
            .collect(),
        next_cursor: results.next_cursor,
    }))
}
