//! Friends and blocks.
//!
//! | route | |
//! |---|---|
//! | POST /api/v1/friends | ask someone to be friends, or accept their request |
//! | GET /api/v1/friends | the caller's friends |
//! | GET /api/v1/friends/requests | requests to and from the caller |
//! | DELETE /api/v1/friends/{username} | unfriend, cancel or decline |
//! | PUT /api/v1/blocks/{username} | block (an account, an email address: one with `@`, or a phone number: one starting with `+`) |
//! | DELETE /api/v1/blocks/{username} | unblock |
//! | GET /api/v1/blocks | who and which addresses the caller blocks |
//! | GET /api/v1/me/emails | the caller's own outside addresses |
//! | POST /api/v1/me/emails | add one; a code is mailed to it |
//! | POST /api/v1/me/emails/verify | enter the code (`{address, code}`) |
//! | POST /api/v1/me/emails/{address}/verify | the same, the address in the path |
//! | PATCH /api/v1/me/emails/{address} | whether it gets digests |
//! | DELETE /api/v1/me/emails/{address} | remove one |

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use hilo_core::Timestamp;
use hilo_proto::{
    AddEmailRequest, BlockedAddressDto, BlocksResponse, EmailsResponse, ErrorBody, FriendDto,
    FriendRequestBody, FriendRequestDto, FriendRequestsResponse, FriendStatusResponse,
    FriendsResponse, OwnEmailDto, UpdateEmailRequest, VerifyEmailRequest, rfc3339,
};
use hilo_service::UserProfile;
use hilo_store::UserEmail;
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
        .routes(routes!(list_emails, add_email))
        .routes(routes!(verify_email))
        .routes(routes!(verify_email_by_body))
        .routes(routes!(remove_email, update_email))
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
#[utoipa::path(put, path = "/api/v1/blocks/{username}", tag = "friends", security(("bearer" = [])), params(("username" = String, Path, description = "a username, or an email address (with `@`): its mail is then taken and dropped")),
    responses((status = 204, description = "blocked (also when already)"), (status = 400, description = "`invalid_address`", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, description = "unknown username", body = ErrorBody),
        (status = 409, description = "`too_many_blocks`: the limit of blocked addresses", body = ErrorBody)))]
async fn block(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(username): AppPath<String>,
) -> Result<StatusCode, ApiError> {
    if username.contains('@') || username.starts_with('+') {
        state.hilo.block_address(&caller, &username).await?;
    } else {
        state.hilo.block(&caller, &username).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// DELETE /api/v1/blocks/{username}
#[utoipa::path(delete, path = "/api/v1/blocks/{username}", tag = "friends", security(("bearer" = [])), params(("username" = String, Path, description = "a username, an email address (with `@`) or a phone number (E.164, with `+`)")),
    responses((status = 204, description = "unblocked (also when not blocked)"), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, description = "unknown username", body = ErrorBody)))]
async fn unblock(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(username): AppPath<String>,
) -> Result<StatusCode, ApiError> {
    if username.contains('@') || username.starts_with('+') {
        state.hilo.unblock_address(&caller, &username).await?;
    } else {
        state.hilo.unblock(&caller, &username).await?;
    }
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
    let addresses = state.hilo.blocked_addresses(&caller).await?;
    Ok(Json(BlocksResponse {
        blocked: blocked.iter().map(user_dto).collect(),
        addresses: addresses
            .into_iter()
            .map(|b| BlockedAddressDto {
                address: b.address,
                blocked_at: rfc3339(b.created_at),
                dropped: b.dropped,
            })
            .collect(),
    }))
}

fn email_dto(email: UserEmail) -> OwnEmailDto {
    OwnEmailDto {
        address: email.address,
        verified: email.verified_at.is_some(),
        added_at: rfc3339(email.created_at),
        verified_at: email.verified_at.map(rfc3339),
        digest: email.digest,
    }
}

/// GET /api/v1/me/emails
#[utoipa::path(get, path = "/api/v1/me/emails", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = EmailsResponse), (status = 401, body = ErrorBody)))]
async fn list_emails(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> Result<Json<EmailsResponse>, ApiError> {
    let emails = state.hilo.emails(&caller).await?;
    Ok(Json(EmailsResponse {
        emails: emails.into_iter().map(email_dto).collect(),
    }))
}

/// POST /api/v1/me/emails
#[utoipa::path(post, path = "/api/v1/me/emails", tag = "accounts", security(("bearer" = [])), request_body = AddEmailRequest,
    responses((status = 201, description = "added, waiting for the code just mailed to it (a new code when it already waited)", body = OwnEmailDto),
        (status = 400, description = "`invalid_address` (also one of this server's), `undeliverable_address` (the relay refused it for good; nothing is kept)", body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 409, description = "`email_already_verified`, `email_taken` (another account verified it), `too_many_emails`", body = ErrorBody),
        (status = 429, description = "`rate_limited`: too many codes asked for", body = ErrorBody, headers(("Retry-After" = u64, description = "seconds to wait"))),
        (status = 503, description = "`mail_unavailable` (no relay) or `mail_failed` (the relay could not be reached or asked to try later); nothing is kept", body = ErrorBody)))]
async fn add_email(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppJson(body): AppJson<AddEmailRequest>,
) -> Result<(StatusCode, Json<OwnEmailDto>), ApiError> {
    let email = state.hilo.add_email(&caller, &body.address).await?;
    Ok((StatusCode::CREATED, Json(email_dto(email))))
}

/// POST /api/v1/me/emails/{address}/verify
#[utoipa::path(post, path = "/api/v1/me/emails/{address}/verify", tag = "accounts", security(("bearer" = [])), params(("address" = String, Path)), request_body = VerifyEmailRequest,
    responses((status = 200, description = "verified (also when it already was)", body = OwnEmailDto),
        (status = 400, description = "`invalid_code`, `code_expired`, `code_exhausted` (five wrong codes: ask for a new one)", body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, description = "not one of the caller's addresses", body = ErrorBody),
        (status = 409, description = "`email_taken`: another account verified it first", body = ErrorBody)))]
async fn verify_email(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(address): AppPath<String>,
    AppJson(body): AppJson<VerifyEmailRequest>,
) -> Result<Json<OwnEmailDto>, ApiError> {
    let email = state
        .hilo
        .verify_email(&caller, &address, &body.code)
        .await?;
    Ok(Json(email_dto(email)))
}

/// POST /api/v1/me/emails/verify
#[utoipa::path(post, path = "/api/v1/me/emails/verify", tag = "accounts", security(("bearer" = [])), request_body = VerifyEmailRequest,
    responses((status = 200, description = "verified (also when it already was)", body = OwnEmailDto),
        (status = 400, description = "`invalid_code`, `code_expired`, `code_exhausted` (five wrong codes: ask for a new one), `invalid_address` (no address given)", body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, description = "not one of the caller's addresses", body = ErrorBody),
        (status = 409, description = "`email_taken`: another account verified it first", body = ErrorBody)))]
async fn verify_email_by_body(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppJson(body): AppJson<VerifyEmailRequest>,
) -> Result<Json<OwnEmailDto>, ApiError> {
    let Some(address) = body.address.as_deref() else {
        return Err(ApiError::bad_request(
            "invalid_address",
            "address is required: the address the code was mailed to",
        ));
    };
    let email = state
        .hilo
        .verify_email(&caller, address, &body.code)
        .await?;
    Ok(Json(email_dto(email)))
}

/// PATCH /api/v1/me/emails/{address}
#[utoipa::path(patch, path = "/api/v1/me/emails/{address}", tag = "accounts", security(("bearer" = [])), params(("address" = String, Path)), request_body = UpdateEmailRequest,
    responses((status = 200, body = OwnEmailDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, description = "not one of the caller's addresses", body = ErrorBody)))]
async fn update_email(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(address): AppPath<String>,
    AppJson(body): AppJson<UpdateEmailRequest>,
) -> Result<Json<OwnEmailDto>, ApiError> {
    let email = state
        .hilo
        .set_email_digest(&caller, &address, body.digest)
        .await?;
    Ok(Json(email_dto(email)))
}

/// DELETE /api/v1/me/emails/{address}
#[utoipa::path(delete, path = "/api/v1/me/emails/{address}", tag = "accounts", security(("bearer" = [])), params(("address" = String, Path)),
    responses((status = 204, description = "removed: its mail is a contact's again"), (status = 401, body = ErrorBody),
        (status = 404, description = "not one of the caller's addresses", body = ErrorBody)))]
async fn remove_email(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(address): AppPath<String>,
) -> Result<StatusCode, ApiError> {
    state.hilo.remove_email(&caller, &address).await?;
    Ok(StatusCode::NO_CONTENT)
}
