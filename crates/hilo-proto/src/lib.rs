//! hilo's public wire types: request and response bodies of `/api/v1`, WebSocket frames and
//! events. Everything here is API: renaming a field breaks clients and the acceptance
//! tests, so extend, never rename (see `shared/api-v1.md`).
//!
//! Domain types (`hilo-core`) are deliberately not `Serialize`; the `From` conversions here
//! are the single place where the domain meets the wire, including the rendering of
//! timestamps as RFC 3339.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod account;
mod body;
mod conversation;
mod decode;
mod event;
mod message;
mod moderation;
mod security;
mod social;
pub mod vocab;

pub use account::*;
pub use body::{BodyProblem, MAX_NESTING, check_body, has_encoded_nul};
pub use conversation::*;
pub use decode::{REQUEST_TYPES, decode_every_request};
pub use event::*;
pub use message::*;
pub use moderation::*;
pub use security::*;
pub use social::*;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Formats a timestamp as RFC 3339 in UTC with millisecond precision.
pub fn rfc3339(timestamp: hilo_core::Timestamp) -> String {
    let nanos = i128::from(timestamp.millis()) * 1_000_000;
    let time = time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time.format(&format).unwrap_or_default()
}

/// Reads an optional nested object. A derived `Deserialize` struct also accepts a JSON array
/// (its fields by position), which the wire format does not: objects only.
pub(crate) fn optional_object<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let Some(map) =
        Option::<serde_json::Map<String, serde_json::Value>>::deserialize(deserializer)?
    else {
        return Ok(None);
    };
    T::deserialize(serde_json::Value::Object(map))
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// Parses an RFC 3339 timestamp into milliseconds since the epoch.
pub fn parse_rfc3339(text: &str) -> Option<hilo_core::Timestamp> {
    let time =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(time.unix_timestamp_nanos() / 1_000_000)
        .ok()
        .map(hilo_core::Timestamp)
}

/// The body of every error response: `{"error": {"code", "message"}}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// A machine-readable code and a human-readable explanation.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable snake_case code clients can match on, e.g. `invalid_credentials`.
    pub code: String,
    /// Explanation for people; may change between versions.
    pub message: String,
}

/// `GET /healthz`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok` when the store answers.
    pub status: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_as_rfc3339() {
        let t = hilo_core::Timestamp(1_763_734_920_123);
        assert_eq!(rfc3339(t), "2025-11-21T14:22:00.123Z");
        assert_eq!(parse_rfc3339("2025-11-21T14:22:00.123Z"), Some(t));
        assert_eq!(parse_rfc3339("2025-11-21T15:22:00.123+01:00"), Some(t));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
