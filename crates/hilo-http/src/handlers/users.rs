//! The caller's own account and other users.
//!
//! | route | |
//! |---|---|
//! | GET /api/v1/me | own account |
//! | PATCH /api/v1/me | change display name / settings |
//! | DELETE /api/v1/me | delete one's account |
//! | GET /api/v1/users/{username} | someone's profile |
//! | GET /api/v1/users?q= | people search |

use axum::Json;
use axum::extract::State;
use hilo_proto::{
    DeleteAccountRequest, ErrorBody, MeDto, UpdateMeRequest, UserDto, UsersResponse, rfc3339,
};
use hilo_service::UserProfile;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{AppJson, AppPath, AppQuery, Auth};
use crate::{ApiError, AppState};

pub(super) fn routes(router: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    router
        .routes(routes!(get_me, update_me, delete_me))
        .routes(routes!(get_user))
        .routes(routes!(search_users))
}

pub(super) fn user_dto(profile: &UserProfile) -> UserDto {
    UserDto {
        id: profile.user.id.to_string(),
        username: profile.user.username.clone(),
        display_name: profile.user.display_name.clone(),
        relationship: profile.relationship.to_owned(),
        online: profile.online,
        last_seen_at: profile.last_seen_at.map(rfc3339),
    }
}

/// DELETE /api/v1/me
#[utoipa::path(delete, path = "/api/v1/me", tag = "users", security(("bearer" = [])), request_body = DeleteAccountRequest,
    responses((status = 204, description = "deleted: every session ends; the account's messages stay for the others, from a \"Deleted user\""), (status = 401, body = ErrorBody),
        (status = 403, description = "`invalid_password`", body = ErrorBody), (status = 429, description = "`rate_limited`: ten wrong passwords in 15 minutes; `Retry-After` gives the seconds to wait", body = ErrorBody, headers(("Retry-After" = u64, description = "seconds to wait")))))]
async fn delete_me(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppJson(body): AppJson<DeleteAccountRequest>,
) -> Result<axum::http::StatusCode, ApiError> {
    state.hilo.delete_account(&caller, &body.password).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// GET /api/v1/me
#[utoipa::path(get, path = "/api/v1/me", tag = "users", security(("bearer" = [])), responses((status = 200, body = MeDto), (status = 401, body = ErrorBody)))]
async fn get_me(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> Result<Json<MeDto>, ApiError> {
    let user = state.hilo.me(&caller).await?;
    Ok(Json(MeDto::new(&user, &state.hilo.config().mail_domain)))
}

/// PATCH /api/v1/me
#[utoipa::path(patch, path = "/api/v1/me", tag = "users", security(("bearer" = [])), request_body = UpdateMeRequest,
    responses((status = 200, body = MeDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn update_me(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppJson(body): AppJson<UpdateMeRequest>,
) -> Result<Json<MeDto>, ApiError> {
    let user = state
        .hilo
        .update_me(
            &caller,
            body.display_name.as_deref(),
            body.settings.as_ref(),
        )
        .await?;
    Ok(Json(MeDto::new(&user, &state.hilo.config().mail_domain)))
}

/// GET /api/v1/users/{username}
#[utoipa::path(get, path = "/api/v1/users/{username}", tag = "users", security(("bearer" = [])), params(("username" = String, Path)),
    responses((status = 200, body = UserDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_user(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(username): AppPath<String>,
) -> Result<Json<UserDto>, ApiError> {
    Ok(Json(user_dto(
        &state.hilo.user_profile(&caller, &username).await?,
    )))
}

/// The people-search query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct SearchQuery {
    /// Part of a username or display name: 1–64 characters, not only spaces.
    #[param(min_length = 1, max_length = 64)]
    q: String,
}

/// GET /api/v1/users?q=
#[utoipa::path(get, path = "/api/v1/users", tag = "users", security(("bearer" = [])), params(SearchQuery),
    responses((status = 200, body = UsersResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn search_users(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppQuery(query): AppQuery<SearchQuery>,
) -> Result<Json<UsersResponse>, ApiError> {
    let profiles = state.hilo.search_users(&caller, &query.q).await?;
    Ok(Json(UsersResponse {
        users: profiles.iter().map(user_dto).collect(),
    }))
}
