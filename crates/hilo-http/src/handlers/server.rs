//! Server endpoints.
//!
//! | route | |
//! |---|---|
//! | GET /healthz | the store answers |

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use hilo_proto::Health;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

pub(super) fn routes(router: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    router.routes(routes!(healthz))
}

/// GET /healthz
#[utoipa::path(get, path = "/healthz", tag = "server", responses((status = 200, body = Health), (status = 503, body = Health)))]
async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    if state.hilo.healthy().await {
        (
            StatusCode::OK,
            Json(Health {
                status: "ok".into(),
            }),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: "unavailable".into(),
            }),
        )
    }
}
