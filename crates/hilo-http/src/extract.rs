//! Extractors whose rejections are [`ApiError`]s in the contract's shape.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use hilo_service::Caller;
use serde::de::DeserializeOwned;

use crate::{AppState, error::ApiError};

/// A JSON object body whose rejection is an [`ApiError`] (400, 413 or 415, never axum's
/// text). Invalid UTF-8 anywhere, a body that is not an object, and nesting deeper than [`MAX_NESTING`] is refused before parsing: no request needs it, and
/// a field the request type ignores would otherwise be walked to serde_json's own limit.
pub struct AppJson<T>(pub T);

/// The deepest nesting of arrays and objects a request body may have.
pub const MAX_NESTING: usize = 32;

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for AppJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !json_content_type(&request) {
            return Err(ApiError::unsupported_media_type());
        }
        let bytes = Bytes::from_request(request, state).await?;
        // JSON is UTF-8 throughout (RFC 8259), also inside fields the request type ignores,
        // which serde_json skips without checking.
        if std::str::from_utf8(&bytes).is_err() {
            return Err(ApiError::bad_request(
                "malformed_json",
                "the body is not valid UTF-8",
            ));
        }
        // Every request body is an object; serde would also fill a struct from an array.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::bad_request(
                "invalid_body",
                "the body must be a JSON object",
            ));
        }
        match refused_shape(&bytes, MAX_NESTING) {
            Some(Refused::TooDeep) => {
                return Err(ApiError::bad_request(
                    "too_deeply_nested",
                    format!("JSON bodies nest at most {MAX_NESTING} arrays or objects deep"),
                ));
            }
            Some(Refused::Nul) => {
                return Err(ApiError::bad_request(
                    "nul_character",
                    "strings may not contain NUL characters",
                ));
            }
            None => {}
        }
        let axum::Json(value) = axum::Json::<T>::from_bytes(&bytes)?;
        Ok(AppJson(value))
    }
}

/// Whether the request declares a JSON body: `application/json` or `application/*+json`,
/// parameters such as `charset` allowed.
fn json_content_type(request: &Request) -> bool {
    let Some(value) = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|sub| sub.ends_with("+json"))
}

/// What serde_json would accept but hilo refuses in a body.
#[derive(Debug, PartialEq, Eq)]
enum Refused {
    /// Arrays and objects nested deeper than allowed.
    TooDeep,
    /// A NUL character in a string: PostgreSQL cannot store one and no field needs it.
    Nul,
}

/// Scans a JSON body for nesting deeper than `max` (brackets inside strings do not count)
/// and for a NUL in any string (`\u0000`, the only way JSON can carry one). Malformed
/// input is left to the parser.
fn refused_shape(json: &[u8], max: usize) -> Option<Refused> {
    let (mut depth, mut in_string, mut i) = (0usize, false, 0);
    while i < json.len() {
        match (in_string, json[i]) {
            (true, b'\\') => {
                if json[i + 1..].starts_with(b"u0000") {
                    return Some(Refused::Nul);
                }
                // The escaped character is never the end of the string.
                i += 1;
            }
            (true, b'"') => in_string = false,
            (true, _) => {}
            (false, b'"') => in_string = true,
            (false, b'[' | b'{') => {
                depth += 1;
                if depth > max {
                    return Some(Refused::TooDeep);
                }
            }
            (false, b']' | b'}') => depth = depth.saturating_sub(1),
            (false, _) => {}
        }
        i += 1;
    }
    None
}

/// Whether a raw path or query carries a percent-encoded NUL, refused like one in a body.
fn has_encoded_nul(raw: &str) -> bool {
    raw.contains("%00")
}

/// A query string whose rejection is an [`ApiError`].
pub struct AppQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for AppQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if parts.uri.query().is_some_and(has_encoded_nul) {
            return Err(ApiError::bad_request(
                "invalid_query",
                "the query may not contain NUL characters",
            ));
        }
        let axum::extract::Query(value) =
            axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(AppQuery(value))
    }
}

/// Path parameters whose rejection is an [`ApiError`].
pub struct AppPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for AppPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if has_encoded_nul(parts.uri.path()) {
            return Err(ApiError::bad_request(
                "invalid_path",
                "the path may not contain NUL characters",
            ));
        }
        let axum::extract::Path(value) =
            axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(AppPath(value))
    }
}

/// The bearer token of a request, if it has one (never read from the query string).
pub fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// The authenticated caller; 401 without a live token.
pub struct Auth(pub Caller);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts).ok_or_else(ApiError::unauthenticated)?;
        match state.hilo.authenticate(token).await? {
            Some(caller) => Ok(Auth(caller)),
            None => Err(ApiError::unauthenticated()),
        }
    }
}

/// The peer's IP address, when the server was started with connect info.
pub struct ClientIp(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|info| info.0.ip().to_string()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::{Refused, has_encoded_nul, refused_shape};

    fn too_deep(json: &[u8], max: usize) -> bool {
        refused_shape(json, max) == Some(Refused::TooDeep)
    }

    #[test]
    fn nesting_counts_arrays_and_objects_but_not_strings() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(!too_deep(deep(32).as_bytes(), 32));
        assert!(too_deep(deep(33).as_bytes(), 32));
        let object = format!(r#"{{"a":{}}}"#, deep(31));
        assert!(!too_deep(object.as_bytes(), 32));
        let object = format!(r#"{{"a":{}}}"#, deep(32));
        assert!(too_deep(object.as_bytes(), 32));
        let in_string = format!(r#"{{"a":"{}\"{}"}}"#, "[".repeat(100), "{".repeat(100));
        assert_eq!(refused_shape(in_string.as_bytes(), 32), None);
        // An escaped quote does not end a string; an escaped backslash before a quote does.
        assert_eq!(refused_shape(br#"{"a":"\"[[[[","b":1}"#, 3), None);
        assert!(too_deep(br#"{"a":"\\","b":[[[[1]]]]}"#, 3));
    }

    #[test]
    fn a_nul_escape_is_found_in_values_and_keys_but_not_when_its_backslash_is_escaped() {
        assert_eq!(
            refused_shape(br#"{"a":"x\u0000y"}"#, 32),
            Some(Refused::Nul)
        );
        assert_eq!(refused_shape(br#"{"\u0000":1}"#, 32), Some(Refused::Nul));
        // A backslash followed by the text u0000, as someone writing about JSON would send.
        assert_eq!(refused_shape(br#"{"a":"\\u0000"}"#, 32), None);
        assert_eq!(refused_shape(br#"{"a":"\u0001"}"#, 32), None);
        assert!(has_encoded_nul("/api/v1/conversations/a%00b"));
        assert!(!has_encoded_nul("/api/v1/conversations/a%2500b"));
    }
}
