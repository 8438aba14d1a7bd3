//! Account security and user administration.
//!
//! | route | |
//! |---|---|
//! | POST /api/v1/me/2fa | start TOTP enrolment |
//! | POST /api/v1/me/2fa/confirm | turn 2FA on with a first code |
//! | DELETE /api/v1/me/2fa | turn 2FA off (password and code) |
//! | POST /api/v1/me/password | change password; revokes every other session |
//! | GET /api/v1/me/audit | own security events |
//! | GET /api/v1/me/export | all one's data as a zip archive |
//! | GET /api/v1/admin/audit | everyone's security events (admins) |
//! | GET /api/v1/admin/users | list and search accounts (admins) |
//! | POST /api/v1/admin/users/{username}/suspend | suspend; revokes their sessions (admins) |
//! | POST /api/v1/admin/users/{username}/unsuspend | reinstate (admins) |
//! | POST /api/v1/admin/users/{username}/logout | revoke all their sessions (admins) |
//! | DELETE /api/v1/admin/users/{username} | delete an account (admins) |

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use hilo_proto::{
    AdminUserDto, AdminUsersResponse, AuditEventDto, AuditResponse, ChangePasswordRequest,
    ConfirmTwoFactorRequest, DisableTwoFactorRequest, ErrorBody, RecoveryCodesResponse,
    RevokedResponse, TwoFactorEnrolment, TwoFactorStatus, rfc3339,
};
use hilo_store::AuditEvent;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::page_limit;
use crate::extract::{AppJson, AppPath, AppQuery, Auth};
use crate::{ApiError, AppState};

pub(super) fn routes(router: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    router
        .routes(routes!(
            two_factor_status,
            start_two_factor,
            disable_two_factor
        ))
        .routes(routes!(confirm_two_factor))
        .routes(routes!(change_password))
        .routes(routes!(my_audit))
        .routes(routes!(export))
        .routes(routes!(admin_audit))
        .routes(routes!(admin_users))
        .routes(routes!(suspend))
        .routes(routes!(unsuspend))
        .routes(routes!(force_logout))
        .routes(routes!(delete_user))
}

/// GET /api/v1/me/2fa
#[utoipa::path(get, path = "/api/v1/me/2fa", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, description = "whether 2FA is on, and the recovery codes left", body = TwoFactorStatus), (status = 401, body = ErrorBody)))]
async fn two_factor_status(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> Result<Json<TwoFactorStatus>, ApiError> {
    let (enabled, recovery_codes_left) = state.hilo.two_factor_status(&caller).await?;
    Ok(Json(TwoFactorStatus {
        enabled,
        recovery_codes_left,
    }))
}

/// POST /api/v1/me/2fa
#[utoipa::path(post, path = "/api/v1/me/2fa", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, description = "a new secret to scan; confirm it with a first code", body = TwoFactorEnrolment), (status = 401, body = ErrorBody),
        (status = 409, description = "`totp_enabled`: 2FA is already on", body = ErrorBody)))]
async fn start_two_factor(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> Result<Json<TwoFactorEnrolment>, ApiError> {
    let enrolment = state.hilo.start_two_factor(&caller).await?;
    Ok(Json(TwoFactorEnrolment {
        secret: enrolment.secret,
        otpauth_uri: enrolment.otpauth_uri,
        qr_svg: enrolment.qr_svg,
    }))
}

/// POST /api/v1/me/2fa/confirm
#[utoipa::path(post, path = "/api/v1/me/2fa/confirm", tag = "accounts", security(("bearer" = [])), request_body = ConfirmTwoFactorRequest,
    responses((status = 200, description = "2FA is on; ten single-use recovery codes, shown once", body = RecoveryCodesResponse), (status = 400, description = "`invalid_code`", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 409, description = "`totp_not_started` or `totp_enabled`", body = ErrorBody)))]
async fn confirm_two_factor(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppJson(body): AppJson<ConfirmTwoFactorRequest>,
) -> Result<Json<RecoveryCodesResponse>, ApiError> {
    let recovery_codes = state.hilo.confirm_two_factor(&caller, &body.code).await?;
    Ok(Json(RecoveryCodesResponse { recovery_codes }))
}

/// DELETE /api/v1/me/2fa
#[utoipa::path(delete, path = "/api/v1/me/2fa", tag = "accounts", security(("bearer" = [])), request_body = DisableTwoFactorRequest,
    responses((status = 204, description = "2FA is off; the recovery codes are void"), (status = 400, description = "`invalid_code`", body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "`invalid_password`", body = ErrorBody), (status = 409, description = "`totp_not_enabled`", body = ErrorBody), (status = 429, description = "`rate_limited`: ten wrong passwords or codes in 15 minutes; `Retry-After` gives the seconds to wait", body = ErrorBody, headers(("Retry-After" = u64, description = "seconds to wait")))))]
async fn disable_two_factor(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppJson(body): AppJson<DisableTwoFactorRequest>,
) -> Result<StatusCode, ApiError> {
    state
        .hilo
        .disable_two_factor(&caller, &body.password, &body.code)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// POST /api/v1/me/password
#[utoipa::path(post, path = "/api/v1/me/password", tag = "accounts", security(("bearer" = [])), request_body = ChangePasswordRequest,
    responses((status = 204, description = "changed; every other session is revoked"), (status = 400, description = "`weak_password` or `invalid_password`: the new password breaks a rule", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, description = "`invalid_password`: the current password is wrong", body = ErrorBody), (status = 429, description = "`rate_limited`: ten wrong passwords in 15 minutes; `Retry-After` gives the seconds to wait", body = ErrorBody, headers(("Retry-After" = u64, description = "seconds to wait")))))]
async fn change_password(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppJson(body): AppJson<ChangePasswordRequest>,
) -> Result<StatusCode, ApiError> {
    state
        .hilo
        .change_password(&caller, &body.current_password, &body.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A page of the audit log.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    /// Entries older than this one (an entry id).
    before: Option<String>,
    /// 1–200, default 50.
    limit: Option<i64>,
}

fn audit_dto(event: AuditEvent, with_subject: bool) -> AuditEventDto {
    AuditEventDto {
        id: event.id,
        kind: event.kind,
        at: rfc3339(event.at),
        ip: event.ip,
        device: event.device,
        detail: event.detail,
        username: event.username.filter(|_| with_subject),
        actor_id: event.actor_id.map(|id| id.to_string()),
    }
}

/// GET /api/v1/me/audit
#[utoipa::path(get, path = "/api/v1/me/audit", tag = "accounts", security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, description = "the caller's security events, newest first", body = AuditResponse), (status = 401, body = ErrorBody)))]
async fn my_audit(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppQuery(query): AppQuery<AuditQuery>,
) -> Result<Json<AuditResponse>, ApiError> {
    let limit = page_limit(query.limit)?;
    let events = state
        .hilo
        .my_audit(&caller, query.before.as_deref(), limit)
        .await?;
    Ok(Json(AuditResponse {
        events: events.into_iter().map(|e| audit_dto(e, false)).collect(),
    }))
}

/// GET /api/v1/admin/audit
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin", security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, description = "everyone's security events, newest first", body = AuditResponse), (status = 401, body = ErrorBody),
        (status = 403, description = "not an administrator", body = ErrorBody)))]
async fn admin_audit(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppQuery(query): AppQuery<AuditQuery>,
) -> Result<Json<AuditResponse>, ApiError> {
    let limit = page_limit(query.limit)?;
    let events = state
        .hilo
        .admin_audit(&caller, query.before.as_deref(), limit)
        .await?;
    Ok(Json(AuditResponse {
        events: events.into_iter().map(|e| audit_dto(e, true)).collect(),
    }))
}

/// The administrators' user list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct UsersQuery {
    /// Part of a username or display name.
    q: Option<String>,
    /// Usernames after this one.
    after: Option<String>,
    /// 1–200, default 50.
    limit: Option<i64>,
}

/// GET /api/v1/admin/users
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin", security(("bearer" = [])), params(UsersQuery),
    responses((status = 200, description = "accounts by username, suspended ones included", body = AdminUsersResponse), (status = 401, body = ErrorBody),
        (status = 403, description = "not an administrator", body = ErrorBody)))]
async fn admin_users(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppQuery(query): AppQuery<UsersQuery>,
) -> Result<Json<AdminUsersResponse>, ApiError> {
    let limit = page_limit(query.limit)?;
    let users = state
        .hilo
        .admin_users(&caller, query.q.as_deref(), query.after.as_deref(), limit)
        .await?;
    Ok(Json(AdminUsersResponse {
        users: users.iter().map(AdminUserDto::from).collect(),
    }))
}

/// POST /api/v1/admin/users/{username}/suspend
#[utoipa::path(post, path = "/api/v1/admin/users/{username}/suspend", tag = "admin", security(("bearer" = [])), params(("username" = String, Path)),
    responses((status = 200, description = "suspended: sessions revoked, logins refused with `account_suspended`", body = AdminUserDto), (status = 400, description = "oneself", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, description = "not an administrator", body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn suspend(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(username): AppPath<String>,
) -> Result<Json<AdminUserDto>, ApiError> {
    let user = state
        .hilo
        .admin_set_suspended(&caller, &username, true)
        .await?;
    Ok(Json(AdminUserDto::from(&user)))
}

/// POST /api/v1/admin/users/{username}/unsuspend
#[utoipa::path(post, path = "/api/v1/admin/users/{username}/unsuspend", tag = "admin", security(("bearer" = [])), params(("username" = String, Path)),
    responses((status = 200, description = "reinstated: they can log in again", body = AdminUserDto), (status = 400, description = "oneself", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, description = "not an administrator", body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn unsuspend(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(username): AppPath<String>,
) -> Result<Json<AdminUserDto>, ApiError> {
    let user = state
        .hilo
        .admin_set_suspended(&caller, &username, false)
        .await?;
    Ok(Json(AdminUserDto::from(&user)))
}

/// POST /api/v1/admin/users/{username}/logout
#[utoipa::path(post, path = "/api/v1/admin/users/{username}/logout", tag = "admin", security(("bearer" = [])), params(("username" = String, Path)),
    responses((status = 200, description = "every session of theirs revoked; their streams close", body = RevokedResponse), (status = 401, body = ErrorBody),
        (status = 403, description = "not an administrator", body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn force_logout(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(username): AppPath<String>,
) -> Result<Json<RevokedResponse>, ApiError> {
    let revoked = state.hilo.admin_force_logout(&caller, &username).await?;
    Ok(Json(RevokedResponse { revoked }))
}

/// DELETE /api/v1/admin/users/{username}
#[utoipa::path(delete, path = "/api/v1/admin/users/{username}", tag = "admin", security(("bearer" = [])), params(("username" = String, Path)),
    responses((status = 204, description = "deleted, as by its owner"), (status = 400, description = "oneself (use DELETE /api/v1/me)", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, description = "not an administrator", body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_user(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(username): AppPath<String>,
) -> Result<StatusCode, ApiError> {
    state.hilo.admin_delete_user(&caller, &username).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// GET /api/v1/me/export
#[utoipa::path(get, path = "/api/v1/me/export", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, description = "a zip archive: profile.json, sessions.json, friends.json, blocked.json, security-log.json, conversations/{id}.json (every message the caller can see) and files/ (the files they sent)", content_type = "application/zip"),
        (status = 401, body = ErrorBody), (status = 429, description = "`rate_limited`: five exports an hour", body = ErrorBody, headers(("Retry-After" = u64, description = "seconds to wait")))))]
async fn export(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> Result<axum::response::Response, ApiError> {
    use axum::http::header;
    let export = state.hilo.export(&caller).await?;
    let file = tokio::fs::File::from_std(export.file);
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(file));
    let disposition = format!("attachment; filename=\"{}\"", export.name);
    let mut response = axum::response::Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/zip"),
    );
    headers.insert(
        header::CONTENT_LENGTH,
        axum::http::HeaderValue::from(export.size),
    );
    if let Ok(value) = axum::http::HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}
