//! The web client (`web/` at the repository root), embedded in the binary and served at `/`.
//!
//! Key design decision: the client is plain HTML, CSS and JavaScript modules with no build
//! step, so the files in `web/` are exactly what the browser runs and `cargo build` is the
//! only tool a newcomer needs. They are compiled in with `include_bytes!`, so the binary
//! serves them without reading the disk.
//!
//! Every client answer carries a Content-Security-Policy of its own (the API's deny-all one
//! would stop the page): scripts and styles only from this origin (no inline script, no
//! `eval`), pictures and media from this origin or from `blob:` (attachments are fetched
//! with the bearer token and shown from blob URLs), connections only to this origin (the
//! API and its WebSocket), and still no framing, `<base>` or form posts elsewhere.

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::{ApiError, AppState};

/// The policy of the page and its assets.
const CLIENT_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' blob:; media-src 'self' blob:; connect-src 'self'; \
     manifest-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// One embedded file: its path under `/assets/`, its media type and its bytes.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $type:expr) => {
        Asset {
            path: $path,
            content_type: $type,
            bytes: include_bytes!(concat!("../../../web/", $path)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

const ASSETS: &[Asset] = &[
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("icon.svg", "image/svg+xml"),
    asset!("manifest.webmanifest", "application/manifest+json"),
    asset!("js/main.js", JS),
    asset!("js/api.js", JS),
    asset!("js/dom.js", JS),
    asset!("js/i18n.js", JS),
    asset!("js/events.js", JS),
    asset!("js/state.js", JS),
    asset!("js/auth.js", JS),
    asset!("js/sidebar.js", JS),
    asset!("js/thread.js", JS),
    asset!("js/composer.js", JS),
    asset!("js/people.js", JS),
    asset!("js/settings.js", JS),
    asset!("js/admin.js", JS),
    asset!("js/notify.js", JS),
    asset!("js/dialogs.js", JS),
];

const INDEX: &[u8] = include_bytes!("../../../web/index.html");

/// `/` and `/assets/...`: plain routes, outside the OpenAPI document (they are not API).
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/assets/{*path}", get(asset))
}

async fn index() -> Response {
    serve("text/html; charset=utf-8", INDEX)
}

async fn asset(Path(path): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.path == path) {
        Some(a) => serve(a.content_type, a.bytes),
        None => ApiError::not_found("asset").into_response(),
    }
}

fn serve(content_type: &'static str, bytes: &'static [u8]) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CLIENT_CSP),
            // Revalidated every time: the files change with the binary, and there is no
            // build step to put a hash in their names.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_the_client_imports_is_embedded() {
        // A module imported but not listed here would be a 404 in the browser.
        let mut checked = 0;
        for asset in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
            let text = std::str::from_utf8(asset.bytes).unwrap_or_default();
            // `from './x.js'` wherever it stands (imports may span lines).
            for part in text.split("from '").skip(1) {
                let Some(from) = part.split('\'').next() else {
                    continue;
                };
                let target = format!("js/{}", from.trim_start_matches("./"));
                assert!(
                    ASSETS.iter().any(|a| a.path == target),
                    "{} imports {from}, which is not embedded",
                    asset.path
                );
                checked += 1;
            }
        }
        assert!(checked > 30, "only {checked} imports found");
    }
}
