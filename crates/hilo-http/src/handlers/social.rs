//! Friends and blocks.
//!
//! | route | |
//! |---|---|
//! | POST /api/v1/friends | ask someone to be friends, or accept their request |
//! | GET /api/v1/friends | the caller's friends |
//! | GET /api/v1/friends/requests | requests to and from the caller |
//! | DELETE /api/v1/friends/{username} | unfriend, cancel or decline |
//! | PUT /api/v1/blocks/{username} | block |
//! | DELETE /api/v1/blocks/{username} | unblock |
//! | GET /api/v1/blocks | who the caller blocks |

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use hilo_core::Timestamp;
use hilo_proto::{
    BlocksResponse, ErrorBody, FriendDto, FriendRequestBody, FriendRequestDto,
    FriendRequestsResponse, FriendStatusResponse, FriendsResponse, rfc3339,
};
use hilo_service::UserProfile;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::users::user_dto;
use crate::extract::{AppJson, AppPath, Auth};
use crate::{ApiError, AppState};

pub(super) fn routes(router: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    router
        .routes(routes!(request_friend, list_friends))
        .routes(routes!(friend_requests))
        .routes(routes!(remove_friend))
        .routes(routes!(block, unblock))
        .routes(routes!(list_blocks))
}

/// POST /api/v1/friends
#[utoipa::path(post, path = "/api/v1/friends", tag = "friends", security(("bearer" = [])), request_body = FriendRequestBody,
    responses((status = 201, description = "sent, or accepted (they had asked first); also when it already was", body = FriendStatusResponse),
        (status = 400, description = "yourself", body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "a block between you refuses it", body = ErrorBody), (status = 404, description = "unknown username", body = ErrorBody)))]
async fn request_friend(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppJson(body): AppJson<FriendRequestBody>,
) -> Result<(StatusCode, Json<FriendStatusResponse>), ApiError> {
    let status = state.hilo.request_friend(&caller, &body.username).await?;
    Ok((
        StatusCode::CREATED,
        Json(FriendStatusResponse {
            status: status.as_str().to_owned(),
        }),
    ))
}

fn request_dto((profile, at): &(UserProfile, Timestamp)) -> FriendRequestDto {
    FriendRequestDto {
        user: user_dto(profile),
        created_at: rfc3339(*at),
    }
}

/// GET /api/v1/friends
#[utoipa::path(get, path = "/api/v1/friends", tag = "friends", security(("bearer" = [])),
    responses((status = 200, body = FriendsResponse), (status = 401, body = ErrorBody)))]
async fn list_friends(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> Result<Json<FriendsResponse>, ApiError> {
    let friends = state.hilo.friends(&caller).await?;
    Ok(Json(FriendsResponse {
        friends: friends
            .iter()
            .map(|(profile, since)| FriendDto {
                user: user_dto(profile),
                since: rfc3339(*since),
            })
            .collect(),
    }))
}

/// GET /api/v1/friends/requests
#[utoipa::path(get, path = "/api/v1/friends/requests", tag = "friends", security(("bearer" = [])),
    responses((status = 200, body = FriendRequestsResponse), (status = 401, body = ErrorBody)))]
async fn friend_requests(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> Result<Json<FriendRequestsResponse>, ApiError> {
    let (incoming, outgoing) = state.hilo.friend_requests(&caller).await?;
    Ok(Json(FriendRequestsResponse {
        incoming: incoming.iter().map(request_dto).collect(),
        outgoing: outgoing.iter().map(request_dto).collect(),
    }))
}

/// DELETE /api/v1/friends/{username}
#[utoipa::path(delete, path = "/api/v1/friends/{username}", tag = "friends", security(("bearer" = [])), params(("username" = String, Path)),
    responses((status = 204, description = "unfriended, cancelled or declined (also when there was nothing)"), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, description = "unknown username", body = ErrorBody)))]
async fn remove_friend(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(username): AppPath<String>,
) -> Result<StatusCode, ApiError> {
    state.hilo.remove_friend(&caller, &username).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// PUT /api/v1/blocks/{username}
#[utoipa::path(put, path = "/api/v1/blocks/{username}", tag = "friends", security(("bearer" = [])), params(("username" = String, Path)),
    responses((status = 204, description = "blocked (also when already)"), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, description = "unknown username", body = ErrorBody)))]
async fn block(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(username): AppPath<String>,
) -> Result<StatusCode, ApiError> {
    state.hilo.block(&caller, &username).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// DELETE /api/v1/blocks/{username}
#[utoipa::path(delete, path = "/api/v1/blocks/{username}", tag = "friends", security(("bearer" = [])), params(("username" = String, Path)),
    responses((status = 204, description = "unblocked (also when not blocked)"), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, description = "unknown username", body = ErrorBody)))]
async fn unblock(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(username): AppPath<String>,
) -> Result<StatusCode, ApiError> {
    state.hilo.unblock(&caller, &username).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// GET /api/v1/blocks
#[utoipa::path(get, path = "/api/v1/blocks", tag = "friends", security(("bearer" = [])),
    responses((status = 200, body = BlocksResponse), (status = 401, body = ErrorBody)))]
async fn list_blocks(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> Result<Json<BlocksResponse>, ApiError> {
    let blocked = state.hilo.blocks(&caller).await?;
    Ok(Json(BlocksResponse {
        blocked: blocked.iter().map(user_dto).collect(),
    }))
}
