//! SMS: the providers' webhooks and the caller's own phone numbers.
//!
//! | route | |
//! |---|---|
//! | POST /api/v1/sms/{provider_id}/inbound | a text to one of the server's numbers (the provider's signed form) |
//! | POST /api/v1/sms/{provider_id}/status | what became of a text the server sent (signed form) |
//! | GET /api/v1/me/phones | the caller's own phone numbers |
//! | POST /api/v1/me/phones | add one; a code is texted to it |
//! | POST /api/v1/me/phones/verify | enter the code |
//! | DELETE /api/v1/me/phones/{number} | remove one |

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use hilo_proto::{
    AddPhoneRequest, ErrorBody, OwnPhoneDto, PhonesResponse, VerifyPhoneRequest, rfc3339,
};
use hilo_service::SmsWebhook;
use hilo_store::UserEmail;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{AppJson, AppPath, Auth};
use crate::{ApiError, AppState};

/// Largest webhook body read; the provider's forms are a few kilobytes.
const WEBHOOK_MAX: usize = 64 * 1024;

pub(super) fn routes(router: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    router
        .routes(routes!(inbound_text))
        .routes(routes!(text_status))
        .routes(routes!(list_phones, add_phone))
        .routes(routes!(verify_phone))
        .routes(routes!(remove_phone))
}

/// The body of a webhook, at most [`WEBHOOK_MAX`] bytes.
async fn webhook_body(body: Body) -> Result<bytes::Bytes, ApiError> {
    axum::body::to_bytes(body, WEBHOOK_MAX).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "webhook_too_large",
            "a webhook's body is at most 64 KiB",
        )
    })
}

/// What the webhook was posted to, as the provider signed it, and the headers the
/// provider's signature may be in (`x-…`, names in lower case).
fn signed(state: &AppState, headers: &HeaderMap, uri: &Uri) -> (String, Vec<(String, String)>) {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let url = state.hilo.sms_webhook_url(host, path);
    let extra = headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("x-"))
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    (url, extra)
}

/// POST /api/v1/sms/{provider_id}/inbound
#[utoipa::path(post, path = "/api/v1/sms/{provider_id}/inbound", tag = "sms",
    params(("provider_id" = String, Path, description = "`[[sms.providers]] id`")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "Twilio's inbound-message webhook, signed with `X-Twilio-Signature`"),
    responses((status = 200, description = "taken (also a repeat of a text already stored, or one nobody takes): TwiML, with a reply to HELP", content_type = "text/xml", body = String),
        (status = 400, description = "`invalid_webhook`: signed, but not the provider's form", body = ErrorBody),
        (status = 401, description = "`invalid_signature`: unsigned, or the signature does not match the URL and form", body = ErrorBody),
        (status = 404, description = "no such provider", body = ErrorBody),
        (status = 413, description = "`webhook_too_large`: over 64 KiB", body = ErrorBody)))]
async fn inbound_text(
    State(state): State<AppState>,
    AppPath(provider): AppPath<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Result<Response, ApiError> {
    let body = webhook_body(body).await?;
    let (url, headers) = signed(&state, &headers, &uri);
    let (content_type, reply) = state
        .hilo
        .sms_inbound_webhook(SmsWebhook {
            provider: &provider,
            url: &url,
            headers: &headers,
            body: &body,
        })
        .await?;
    Ok(([(header::CONTENT_TYPE, content_type)], reply).into_response())
}

/// POST /api/v1/sms/{provider_id}/status
#[utoipa::path(post, path = "/api/v1/sms/{provider_id}/status", tag = "sms",
    params(("provider_id" = String, Path, description = "`[[sms.providers]] id`")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "Twilio's status callback, signed with `X-Twilio-Signature`"),
    responses((status = 204, description = "taken: the text's message moved forward, or already was further (never back)"),
        (status = 400, description = "`invalid_webhook`: signed, but not the provider's form", body = ErrorBody),
        (status = 401, description = "`invalid_signature`", body = ErrorBody),
        (status = 404, description = "no such provider", body = ErrorBody),
        (status = 413, description = "`webhook_too_large`", body = ErrorBody)))]
async fn text_status(
    State(state): State<AppState>,
    AppPath(provider): AppPath<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let body = webhook_body(body).await?;
    let (url, headers) = signed(&state, &headers, &uri);
    state
        .hilo
        .sms_status_webhook(SmsWebhook {
            provider: &provider,
            url: &url,
            headers: &headers,
            body: &body,
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

fn phone_dto(phone: UserEmail) -> OwnPhoneDto {
    OwnPhoneDto {
        number: phone.address,
        verified: phone.verified_at.is_some(),
        added_at: rfc3339(phone.created_at),
        verified_at: phone.verified_at.map(rfc3339),
    }
}

/// GET /api/v1/me/phones
#[utoipa::path(get, path = "/api/v1/me/phones", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = PhonesResponse), (status = 401, body = ErrorBody)))]
async fn list_phones(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> Result<Json<PhonesResponse>, ApiError> {
    let phones = state.hilo.phones(&caller).await?;
    Ok(Json(PhonesResponse {
        phones: phones.into_iter().map(phone_dto).collect(),
        available: state.hilo.sms_available(),
    }))
}

/// POST /api/v1/me/phones
#[utoipa::path(post, path = "/api/v1/me/phones", tag = "accounts", security(("bearer" = [])), request_body = AddPhoneRequest,
    responses((status = 201, description = "added, waiting for the code just texted to it (a new code when it already waited)", body = OwnPhoneDto),
        (status = 400, description = "`invalid_number`, `undeliverable_number` (the provider refused it for good), `sms_opted_out` (it texted STOP to the server's number); nothing is kept", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 409, description = "`phone_already_verified`, `phone_taken` (another account verified it), `too_many_phones`", body = ErrorBody),
        (status = 429, description = "`rate_limited`: too many codes asked for", body = ErrorBody, headers(("Retry-After" = u64, description = "seconds to wait"))),
        (status = 503, description = "`sms_unavailable` (no provider) or `sms_failed` (the provider could not be reached); nothing is kept", body = ErrorBody)))]
async fn add_phone(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppJson(body): AppJson<AddPhoneRequest>,
) -> Result<(StatusCode, Json<OwnPhoneDto>), ApiError> {
    let phone = state.hilo.add_phone(&caller, &body.number).await?;
    Ok((StatusCode::CREATED, Json(phone_dto(phone))))
}

/// POST /api/v1/me/phones/verify
#[utoipa::path(post, path = "/api/v1/me/phones/verify", tag = "accounts", security(("bearer" = [])), request_body = VerifyPhoneRequest,
    responses((status = 200, description = "verified (also when it already was): texts from it are the caller's", body = OwnPhoneDto),
        (status = 400, description = "`invalid_code`, `code_expired`, `code_exhausted` (five wrong codes: ask for a new one)", body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, description = "not one of the caller's numbers", body = ErrorBody),
        (status = 409, description = "`phone_taken`: another account verified it first", body = ErrorBody)))]
async fn verify_phone(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppJson(body): AppJson<VerifyPhoneRequest>,
) -> Result<Json<OwnPhoneDto>, ApiError> {
    let phone = state
        .hilo
        .verify_phone(&caller, &body.number, &body.code)
        .await?;
    Ok(Json(phone_dto(phone)))
}

/// DELETE /api/v1/me/phones/{number}
#[utoipa::path(delete, path = "/api/v1/me/phones/{number}", tag = "accounts", security(("bearer" = [])), params(("number" = String, Path, description = "E.164, `+` as is or as `%2B`")),
    responses((status = 204, description = "removed: texts from it are a contact's again"), (status = 401, body = ErrorBody),
        (status = 404, description = "not one of the caller's numbers", body = ErrorBody)))]
async fn remove_phone(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(number): AppPath<String>,
) -> Result<StatusCode, ApiError> {
    state.hilo.remove_phone(&caller, &number).await?;
    Ok(StatusCode::NO_CONTENT)
}
