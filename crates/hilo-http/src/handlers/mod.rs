//! Route handlers, one module per resource; each module starts with its route table.

mod accounts;
mod attachments;
mod conversations;
mod events;
mod messages;
mod moderation;
mod search;
mod security;
mod server;
mod sms;
mod social;
mod users;

use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

/// Every documented route.
pub(crate) fn routes(router: OpenApiRouter<AppState>, upload_max: u64) -> OpenApiRouter<AppState> {
    let router = server::routes(router);
    let router = accounts::routes(router);
    let router = users::routes(router);
    let router = social::routes(router);
    let router = sms::routes(router);
    let router = moderation::routes(router);
    let router = security::routes(router);
    let router = conversations::routes(router);
    let router = messages::routes(router);
    let router = search::routes(router);
    let router = attachments::routes(router, upload_max);
    events::routes(router)
}

/// Validated `limit` for list endpoints: default 50, 1–200.
pub(crate) fn page_limit(limit: Option<i64>) -> Result<i64, crate::ApiError> {
    match limit {
        None => Ok(50),
        Some(n) if (1..=200).contains(&n) => Ok(n),
        Some(_) => Err(crate::ApiError::bad_request(
            "invalid_limit",
            "limit is between 1 and 200",
        )),
    }
}
