//! hilo's HTTP and WebSocket API (`/api/v1`, see `shared/api-v1.md`).
//!
//! Key design decision: the router is built with `utoipa-axum`, so each route is registered
//! together with its OpenAPI operation and `/api/v1/openapi.json` is generated from the same
//! table that serves requests; a route cannot exist undocumented.
//!
//! Handlers extract, call one `Hilo` method and map the result to `hilo-proto` types; they
//! hold no business rules. Error mapping lives only in [`error`].
#![forbid(unsafe_code)]

pub mod error;
pub mod extract;
mod handlers;
pub mod metrics;
mod web;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hilo_service::Hilo;
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;

pub use error::ApiError;
pub use metrics::Metrics;

/// Largest request body accepted (attachments will have their own route and limit).
pub const BODY_LIMIT: usize = 1024 * 1024;

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    /// The service.
    pub hilo: Hilo,
    /// Metrics registry.
    pub metrics: Arc<Metrics>,
    /// Cancelled when the server shuts down: streams close with a close frame.
    pub shutdown: CancellationToken,
    openapi: Arc<String>,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "hilo", description = "hilo HTTP API v1: accounts, conversations, messages and real-time events."),
    modifiers(&BearerAuth),
    // Schemas no body refers to (a query parameter's vocabulary names its schema only by
    // reference, so it must be registered here).
    components(schemas(hilo_proto::Event, hilo_proto::ClientFrame, hilo_proto::ReadyFrame, hilo_proto::vocab::DeleteScope)),
    tags((name = "server"), (name = "accounts"), (name = "users"), (name = "friends"), (name = "conversations"), (name = "messages"), (name = "attachments"), (name = "events"), (name = "admin"), (name = "sms"))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Builds the full router: API routes, `/healthz`, `/metrics` and the OpenAPI document.
pub fn router(hilo: Hilo, metrics: Arc<Metrics>, shutdown: CancellationToken) -> Router {
    let routes = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(utoipa_axum::routes!(openapi_json))
        .routes(utoipa_axum::routes!(metrics_text));
    let upload_max = hilo.config().attachment_max_bytes;
    let (api, mut openapi) = handlers::routes(routes, upload_max).split_for_parts();
    document_shared_answers(&mut openapi);
    let openapi = Arc::new(openapi.to_pretty_json().unwrap_or_else(|_| "{}".to_owned()));
    let state = AppState {
        hilo,
        metrics,
        shutdown,
        openapi,
    };
    api.merge(web::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn(harden))
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Adds to every operation the error answers it shares with the others, so the document
/// lists every status a route can give (schemathesis checks that it does) without each
/// handler repeating them: what the body extractor refuses (400, 413, 415), what the
/// query and path extractors refuse (400), a missing or dead token (401), and the store
/// being unreachable (503). An answer a handler documents itself keeps its description.
fn document_shared_answers(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{Content, Ref, ResponseBuilder};
    for (path, item) in openapi.paths.paths.iter_mut() {
        let uses_store = path.starts_with("/api/v1/") && path != "/api/v1/openapi.json";
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            let mut shared: Vec<(&str, &str)> = Vec::new();
            if operation.request_body.is_some() {
                shared.push((
                    "400",
                    "the body is not a JSON object of the documented shape, or breaks a rule",
                ));
                shared.push(("413", "the body is larger than 1 MiB"));
                shared.push(("415", "the body is not sent as application/json"));
            }
            if operation.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
                shared.push(("400", "a path or query parameter is not valid"));
            }
            if operation.security.as_ref().is_some_and(|s| !s.is_empty()) {
                shared.push((
                    "401",
                    "no bearer token, or one that is not (or no longer) valid",
                ));
            }
            if uses_store {
                shared.push(("503", "the store is unreachable for now; retry shortly"));
            }
            for (status, description) in shared {
                operation
                    .responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(|| {
                        ResponseBuilder::new()
                            .description(description)
                            .content(
                                "application/json",
                                Content::new(Some(Ref::from_schema_name("ErrorBody"))),
                            )
                            .build()
                            .into()
                    });
            }
        }
    }
}

/// GET /api/v1/openapi.json
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "server", responses((status = 200, description = "this OpenAPI 3 document", content_type = "application/json")))]
async fn openapi_json(State(state): State<AppState>) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        state.openapi.as_str().to_owned(),
    )
        .into_response()
}

/// GET /metrics
#[utoipa::path(get, path = "/metrics", tag = "server", responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain")))]
async fn metrics_text(State(state): State<AppState>) -> Response {
    let text = state.metrics.render(state.hilo.open_streams());
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        text,
    )
        .into_response()
}

/// The security headers every answer carries unless its handler chose its own (an
/// attachment sets `Content-Security-Policy: sandbox` and a cache lifetime):
/// - a Content-Security-Policy that allows nothing (an API answer is never a document to
///   render) and forbids framing (`frame-ancestors 'none'`, with `X-Frame-Options` for
///   older browsers);
/// - `nosniff`, `Referrer-Policy: no-referrer`, and `Cache-Control: no-store`, so a token
///   or a message in an answer is not kept by a shared cache;
/// - no `Access-Control-*` header: CORS is closed, so another site's scripts cannot read
///   answers (the web client is served from the same origin).
const SECURITY_HEADERS: [(&str, &str); 6] = [
    (
        "content-security-policy",
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    ),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("cache-control", "no-store"),
    ("cross-origin-resource-policy", "same-origin"),
];

async fn harden(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        if !headers.contains_key(name) {
            headers.insert(
                axum::http::HeaderName::from_static(name),
                axum::http::HeaderValue::from_static(value),
            );
        }
    }
    response
}

async fn not_found() -> ApiError {
    ApiError::not_found("route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not accept that method",
    )
}

/// Records metrics for every request and logs each 5xx once with its cause. Request
/// headers and bodies are never logged, so tokens and passwords cannot reach the log.
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(request).await;
    let status = response.status();
    let elapsed = started.elapsed();
    state
        .metrics
        .request(&route, method.as_str(), status.as_u16(), elapsed);
    if status.is_server_error() {
        let cause = response
            .extensions()
            .get::<error::InternalCause>()
            .map(|c| c.0.as_str())
            .unwrap_or("unknown");
        tracing::error!(%method, %route, status = status.as_u16(), %cause, "request failed");
    } else {
        tracing::debug!(%method, %route, status = status.as_u16(), elapsed_ms = elapsed.as_millis() as u64, "request");
    }
    response
}
