//! Accounts, sessions and invites.
//!
//! | route | |
//! |---|---|
//! | POST /api/v1/accounts | register |
//! | POST /api/v1/sessions | log in |
//! | GET /api/v1/sessions | list own sessions |
//! | DELETE /api/v1/sessions/{id} | revoke one (`current`: log out; `others`: all but this one) |
//! | POST /api/v1/admin/invites | make an invite code |

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use hilo_core::SessionId;
use hilo_proto::{
    AuthResponse, CreateAccountRequest, ErrorBody, InviteResponse, LoginRequest, MeDto, SessionDto,
    SessionsResponse, rfc3339,
};
use hilo_service::{LoginAttempt, Registration};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{AppJson, AppPath, Auth, ClientInfo};
use crate::{ApiError, AppState};

pub(super) fn routes(router: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    router
        .routes(routes!(create_account))
        .routes(routes!(login, list_sessions))
        .routes(routes!(revoke_session))
        .routes(routes!(create_invite))
}

/// The 201 answer of registration and login: the account, the token (shown once) and its
/// session.
fn authenticated(
    state: &AppState,
    user: &hilo_core::User,
    session: &hilo_core::Session,
    token: String,
) -> (StatusCode, Json<AuthResponse>) {
    let user = MeDto::new(user, &state.hilo.config().mail_domain);
    let session_id = session.id.to_string();
    (
        StatusCode::CREATED,
        Json(AuthResponse {
            user,
            token,
            session_id,
        }),
    )
}

/// POST /api/v1/accounts
#[utoipa::path(post, path = "/api/v1/accounts", tag = "accounts", request_body = CreateAccountRequest,
    responses((status = 201, body = AuthResponse), (status = 400, body = ErrorBody), (status = 403, description = "registration closed or invite required", body = ErrorBody), (status = 409, description = "username taken", body = ErrorBody), (status = 429, description = "`rate_limited`: too many accounts created from this address; `Retry-After` gives the seconds to wait", body = ErrorBody, headers(("Retry-After" = u64, description = "seconds to wait")))))]
async fn create_account(
    State(state): State<AppState>,
    ClientInfo(client): ClientInfo,
    AppJson(body): AppJson<CreateAccountRequest>,
) -> Result<(StatusCode, Json<AuthResponse>), ApiError> {
    let registration = Registration {
        username: body.username,
        password: body.password,
        display_name: body.display_name,
        invite_code: body.invite_code,
        device_name: body.device_name,
        client,
    };
    let (user, session, token) = state.hilo.register(registration).await?;
    Ok(authenticated(&state, &user, &session, token))
}

/// POST /api/v1/sessions
#[utoipa::path(post, path = "/api/v1/sessions", tag = "accounts", request_body = LoginRequest,
    responses((status = 201, body = AuthResponse), (status = 401, description = "`invalid_credentials`, or `totp_required`: 2FA is on and the login has no valid `totp_code`", body = ErrorBody), (status = 403, description = "account_suspended", body = ErrorBody), (status = 429, description = "`rate_limited`: too many failed logins from this address, or for this username from it; `Retry-After` gives the seconds to wait", body = ErrorBody, headers(("Retry-After" = u64, description = "seconds to wait")))))]
async fn login(
    State(state): State<AppState>,
    ClientInfo(client): ClientInfo,
    AppJson(body): AppJson<LoginRequest>,
) -> Result<(StatusCode, Json<AuthResponse>), ApiError> {
    let attempt = LoginAttempt {
        username: body.username,
        password: body.password,
        totp_code: body.totp_code,
        device_name: body.device_name,
        client,
    };
    let (user, session, token) = state.hilo.login(attempt).await?;
    Ok(authenticated(&state, &user, &session, token))
}

/// GET /api/v1/sessions
#[utoipa::path(get, path = "/api/v1/sessions", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = SessionsResponse), (status = 401, body = ErrorBody)))]
async fn list_sessions(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> Result<Json<SessionsResponse>, ApiError> {
    let sessions = state.hilo.sessions(&caller).await?;
    let sessions = sessions
        .iter()
        .map(|s| SessionDto::new(s, s.id == caller.session_id))
        .collect();
    Ok(Json(SessionsResponse { sessions }))
}

/// DELETE /api/v1/sessions/{id}
#[utoipa::path(delete, path = "/api/v1/sessions/{id}", tag = "accounts", security(("bearer" = [])),
    params(("id" = String, Path, description = "a session id, `current` to log out, or `others` for every session but the caller's")),
    responses((status = 204, description = "revoked; its token stops working and its streams close"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn revoke_session(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(id): AppPath<String>,
) -> Result<StatusCode, ApiError> {
    let id = match id.as_str() {
        "current" => caller.session_id.clone(),
        "others" => {
            state.hilo.revoke_other_sessions(&caller).await?;
            return Ok(StatusCode::NO_CONTENT);
        }
        _ => SessionId::new(id),
    };
    state.hilo.revoke_session(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// POST /api/v1/admin/invites
#[utoipa::path(post, path = "/api/v1/admin/invites", tag = "admin", security(("bearer" = [])),
    responses((status = 201, body = InviteResponse), (status = 401, body = ErrorBody), (status = 403, description = "not an admin", body = ErrorBody)))]
async fn create_invite(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> Result<(StatusCode, Json<InviteResponse>), ApiError> {
    let (code, expires_at) = state.hilo.create_invite(Some(&caller)).await?;
    Ok((
        StatusCode::CREATED,
        Json(InviteResponse {
            code,
            expires_at: rfc3339(expires_at),
        }),
    ))
}
