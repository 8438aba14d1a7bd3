//! Reports and the moderation queue.
//!
//! | route | |
//! |---|---|
//! | POST /api/v1/reports | report a message or a person |
//! | GET /api/v1/admin/reports | the moderation queue (admins) |
//! | POST /api/v1/admin/reports/{id}/resolve | resolve a report (admins) |

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use hilo_core::ReportId;
use hilo_proto::{
    ErrorBody, MessageDto, PartyDto, ReportDto, ReportRequest, ReportsResponse,
    ResolveReportRequest, rfc3339,
};
use hilo_service::ReportView;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{AppJson, AppPath, AppQuery, Auth};
use crate::{ApiError, AppState};

pub(super) fn routes(router: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    router
        .routes(routes!(report))
        .routes(routes!(list_reports))
        .routes(routes!(resolve_report))
}

fn report_dto(view: &ReportView) -> ReportDto {
    ReportDto {
        id: view.report.id.to_string(),
        reason: view.report.reason.clone(),
        status: view.report.status.as_str().to_owned(),
        reporter: view.reporter.as_ref().map(PartyDto::from),
        message: view.message.as_ref().map(MessageDto::from),
        user: view.subject.as_ref().map(PartyDto::from),
        context: view.context.iter().map(MessageDto::from).collect(),
        created_at: rfc3339(view.report.created_at),
        resolved_at: view.report.resolved_at.map(rfc3339),
    }
}

/// POST /api/v1/reports
#[utoipa::path(post, path = "/api/v1/reports", tag = "admin", security(("bearer" = [])), request_body = ReportRequest,
    responses((status = 201, body = ReportDto), (status = 400, description = "no message or person, oneself, a bad reason", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, description = "a message the caller cannot read, or an unknown username", body = ErrorBody)))]
async fn report(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppJson(body): AppJson<ReportRequest>,
) -> Result<(StatusCode, Json<ReportDto>), ApiError> {
    let view = state
        .hilo
        .report(
            &caller,
            body.message_id.as_deref(),
            body.username.as_deref(),
            &body.reason,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(report_dto(&view))))
}

/// The moderation queue's query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct QueueQuery {
    /// `open` (default), `dismissed`, `message_deleted` or `user_suspended`.
    #[param(value_type = Option<hilo_proto::vocab::ReportStatus>)]
    status: Option<String>,
}

/// GET /api/v1/admin/reports
#[utoipa::path(get, path = "/api/v1/admin/reports", tag = "admin", security(("bearer" = [])), params(QueueQuery),
    responses((status = 200, body = ReportsResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "not an administrator", body = ErrorBody)))]
async fn list_reports(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppQuery(query): AppQuery<QueueQuery>,
) -> Result<Json<ReportsResponse>, ApiError> {
    let views = state.hilo.reports(&caller, query.status.as_deref()).await?;
    Ok(Json(ReportsResponse {
        reports: views.iter().map(report_dto).collect(),
    }))
}

/// POST /api/v1/admin/reports/{id}/resolve
#[utoipa::path(post, path = "/api/v1/admin/reports/{id}/resolve", tag = "admin", security(("bearer" = [])), params(("id" = String, Path)), request_body = ResolveReportRequest,
    responses((status = 200, description = "resolved; the reporter is told", body = ReportDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "not an administrator", body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "already resolved", body = ErrorBody)))]
async fn resolve_report(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<ResolveReportRequest>,
) -> Result<Json<ReportDto>, ApiError> {
    let view = state
        .hilo
        .resolve_report(&caller, &ReportId::new(id), &body.action)
        .await?;
    Ok(Json(report_dto(&view)))
}
