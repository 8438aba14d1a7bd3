//! Attachments.
//!
//! | route | |
//! |---|---|
//! | POST /api/v1/attachments | upload (multipart/form-data, one part `file`) |
//! | GET /api/v1/attachments/{id} | download (Range requests answered) |
//! | GET /api/v1/attachments/{id}/thumbnail | a picture's JPEG thumbnail |

use axum::Json;
use axum::body::Body;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use hilo_core::AttachmentId;
use hilo_core::attachment::shown_inline;
use hilo_proto::{AttachmentDto, ErrorBody, UploadForm};
use hilo_service::Wanted;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{AppPath, Auth};
use crate::{ApiError, AppState};

/// Room in an upload's body for the multipart framing around the file.
const FRAMING: usize = 64 * 1024;

pub(super) fn routes(router: OpenApiRouter<AppState>, max_bytes: u64) -> OpenApiRouter<AppState> {
    let limit = usize::try_from(max_bytes)
        .unwrap_or(usize::MAX)
        .saturating_add(FRAMING);
    let uploads = OpenApiRouter::new()
        .routes(routes!(upload_attachment))
        .layer(DefaultBodyLimit::max(limit));
    router
        .merge(uploads)
        .routes(routes!(download_attachment))
        .routes(routes!(download_thumbnail))
}

fn not_multipart() -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "send multipart/form-data with one part named file",
    )
}

fn broken(error: axum::extract::multipart::MultipartError) -> ApiError {
    if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "attachment_too_large",
            "the upload is larger than the attachment limit",
        );
    }
    ApiError::bad_request("invalid_upload", error.body_text())
}

/// POST /api/v1/attachments
#[utoipa::path(post, path = "/api/v1/attachments", tag = "attachments", security(("bearer" = [])),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 201, description = "stored; send it with attachment_ids", body = AttachmentDto), (status = 400, description = "no part named file, an empty file, a picture that cannot be read", body = ErrorBody), (status = 401, body = ErrorBody), (status = 413, description = "past the attachment limit (configuration, 25 MiB by default); nothing kept", body = ErrorBody), (status = 415, description = "not multipart/form-data, or a picture type hilo cannot clean of its metadata", body = ErrorBody)))]
async fn upload_attachment(
    State(state): State<AppState>,
    Auth(caller): Auth,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<AttachmentDto>), ApiError> {
    let mut multipart = multipart.map_err(|_| not_multipart())?;
    let field = multipart
        .next_field()
        .await
        .map_err(broken)?
        .ok_or_else(|| ApiError::bad_request("missing_file", "the form has no part named file"))?;
    if field.name() != Some("file") {
        return Err(ApiError::bad_request(
            "unexpected_part",
            "the form has one part, named file",
        ));
    }
    let name = field.file_name().map(str::to_owned);
    let body = Box::pin(field.map(|chunk| chunk.map_err(|e| e.body_text())));
    let attachment = state
        .hilo
        .upload_attachment(&caller, name.as_deref(), body)
        .await?;
    Ok((StatusCode::CREATED, Json(AttachmentDto::from(&attachment))))
}

/// GET /api/v1/attachments/{id}
#[utoipa::path(get, path = "/api/v1/attachments/{id}", tag = "attachments", security(("bearer" = [])), params(("id" = String, Path), ("Range" = Option<String>, Header, description = "one byte range, bytes=START-END, START- or -LENGTH")),
    responses((status = 200, description = "the bytes, with Content-Disposition, nosniff and a sandbox CSP; active content (HTML, SVG, …) only as a download", content_type = "application/octet-stream"), (status = 206, description = "the range asked for", content_type = "application/octet-stream"), (status = 401, body = ErrorBody), (status = 404, description = "unknown, or not for the caller: only the uploader (before sending) and members of a conversation where a live message carries it may read it", body = ErrorBody), (status = 416, description = "the range lies outside the file", body = ErrorBody)))]
async fn download_attachment(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(id): AppPath<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    download(state, caller, id, headers, false).await
}

/// GET /api/v1/attachments/{id}/thumbnail
#[utoipa::path(get, path = "/api/v1/attachments/{id}/thumbnail", tag = "attachments", security(("bearer" = [])), params(("id" = String, Path), ("Range" = Option<String>, Header, description = "one byte range")),
    responses((status = 200, description = "a JPEG of at most 320×320 pixels", content_type = "image/jpeg"), (status = 206, description = "the range asked for", content_type = "image/jpeg"), (status = 401, body = ErrorBody), (status = 404, description = "unknown, not for the caller, or not a picture", body = ErrorBody), (status = 416, description = "the range lies outside the thumbnail", body = ErrorBody)))]
async fn download_thumbnail(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(id): AppPath<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    download(state, caller, id, headers, true).await
}

async fn download(
    state: AppState,
    caller: hilo_service::Caller,
    id: String,
    headers: HeaderMap,
    thumbnail: bool,
) -> Result<Response, ApiError> {
    let wanted = headers
        .get(header::RANGE)
        .and_then(|value| value.to_str().ok())
        .and_then(parse_range);
    let download = match state
        .hilo
        .download(&caller, &AttachmentId::new(id), thumbnail, wanted)
        .await?
    {
        Ok(download) => download,
        Err(total) => {
            let mut response = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range_not_satisfiable",
                format!("the file has {total} bytes"),
            )
            .into_response();
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{total}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, value);
            }
            return Ok(response);
        }
    };
    let partial = wanted.is_some();
    let length = download.range.end - download.range.start;
    let name = if thumbnail {
        "thumbnail.jpg".to_owned()
    } else {
        download.attachment.name.clone()
    };
    let disposition = if shown_inline(&download.content_type) {
        "inline"
    } else {
        "attachment"
    };
    let mut response = Response::new(Body::from_stream(download.body));
    *response.status_mut() = if partial {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let out = response.headers_mut();
    let mut set = |name: header::HeaderName, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            out.insert(name, value);
        }
    };
    set(header::CONTENT_TYPE, download.content_type.clone());
    set(header::CONTENT_LENGTH, length.to_string());
    set(header::ACCEPT_RANGES, "bytes".to_owned());
    set(
        header::CONTENT_DISPOSITION,
        format!("{disposition}; {}", disposition_name(&name)),
    );
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned());
    // Whatever the bytes are, they never run as a page of this origin.
    set(header::CONTENT_SECURITY_POLICY, "sandbox".to_owned());
    set(header::CACHE_CONTROL, "private, max-age=3600".to_owned());
    if partial {
        set(
            header::CONTENT_RANGE,
            format!(
                "bytes {}-{}/{}",
                download.range.start,
                download.range.end - 1,
                download.total
            ),
        );
    }
    Ok(response)
}

/// One byte range of a `Range` header (RFC 9110 §14.1.2). Several ranges, or anything
/// unparsable, give `None`: the whole file is sent, as the RFC allows.
fn parse_range(value: &str) -> Option<Wanted> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (start, end) = spec.trim().split_once('-')?;
    let number = |text: &str| text.trim().parse::<u64>().ok();
    match (start.trim().is_empty(), end.trim().is_empty()) {
        (true, false) => number(end).map(Wanted::Last),
        (false, true) => number(start).map(Wanted::From),
        (false, false) => Some(Wanted::Bounded(number(start)?, number(end)?)),
        (true, true) => None,
    }
}

/// `filename="…"; filename*=UTF-8''…` (RFC 6266): an ASCII fallback and the exact name.
fn disposition_name(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_one_at_a_time() {
        assert_eq!(parse_range("bytes=0-99"), Some(Wanted::Bounded(0, 99)));
        assert_eq!(parse_range("bytes=100-"), Some(Wanted::From(100)));
        assert_eq!(parse_range("bytes=-5"), Some(Wanted::Last(5)));
        assert_eq!(parse_range("bytes=0-1,5-6"), None);
        assert_eq!(parse_range("items=0-1"), None);
        assert_eq!(parse_range("bytes=a-b"), None);
        assert_eq!(parse_range("bytes=-"), None);
    }

    #[test]
    fn names_are_quoted_safely() {
        assert_eq!(
            disposition_name("año \"1\".pdf"),
            "filename=\"a_o _1_.pdf\"; filename*=UTF-8''a%C3%B1o%20%221%22.pdf"
        );
    }
}
