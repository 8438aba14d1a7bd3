//! The one place where failures become HTTP responses: every service error and every
//! extractor rejection maps to a status and a stable code here, in the contract's shape
//! `{"error": {"code", "message"}}`. 5xx responses never carry details; the cause goes to
//! the log once, inside the request's span, by the middleware in `lib.rs`.

use axum::Json;
use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hilo_proto::{ErrorBody, ErrorDetail};
use hilo_service::Error;

/// An error response.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// For logs only.
    source: Option<String>,
    /// Seconds for `Retry-After` (429).
    retry_after: Option<u64>,
}

/// The cause of a 5xx, left in the response extensions for the logging middleware.
#[derive(Debug, Clone)]
pub struct InternalCause(pub String);

impl ApiError {
    /// An error with a status, a stable code and a message for people.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            source: None,
            retry_after: None,
        }
    }

    /// 400 with a code.
    /// 415: a body that is not declared as JSON.
    pub fn unsupported_media_type() -> Self {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the body must be JSON, sent with Content-Type: application/json",
        )
    }

    /// 413: a body over [`crate::BODY_LIMIT`].
    pub fn payload_too_large() -> Self {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body exceeds 1 MiB",
        )
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401.
    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "a valid bearer token is required",
        )
    }

    /// 404 for a route or object.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    /// 500 with the cause kept for the log.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        ApiError {
            source: Some(cause.to_string()),
            ..ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "something went wrong on the server",
            )
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(seconds),
            );
        }
        if let Some(source) = self.source {
            response.extensions_mut().insert(InternalCause(source));
        }
        response
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        use StatusCode as S;
        match error {
            Error::Invalid(invalid) => ApiError::new(S::BAD_REQUEST, invalid.code, invalid.message),
            Error::BadRequest { code, message } => ApiError::new(S::BAD_REQUEST, code, message),
            Error::Unauthenticated => ApiError::unauthenticated(),
            Error::BadSignature => {
                ApiError::new(S::UNAUTHORIZED, "invalid_signature", error.to_string())
            }
            Error::InvalidCredentials => {
                ApiError::new(S::UNAUTHORIZED, "invalid_credentials", error.to_string())
            }
            Error::TotpRequired => {
                ApiError::new(S::UNAUTHORIZED, "totp_required", error.to_string())
            }
            Error::AccountSuspended => {
                ApiError::new(S::FORBIDDEN, "account_suspended", error.to_string())
            }
            Error::RegistrationClosed => {
                ApiError::new(S::FORBIDDEN, "registration_closed", error.to_string())
            }
            Error::InviteRequired => {
                ApiError::new(S::FORBIDDEN, "invite_required", error.to_string())
            }
            Error::UsernameTaken => ApiError::new(S::CONFLICT, "username_taken", error.to_string()),
            Error::NotFound(what) => ApiError::new(
                S::NOT_FOUND,
                match what {
                    "user" => "user_not_found",
                    "conversation" => "conversation_not_found",
                    "message" => "message_not_found",
                    "session" => "session_not_found",
                    "member" => "member_not_found",
                    "attachment" => "attachment_not_found",
                    "thumbnail" => "thumbnail_not_found",
                    _ => "not_found",
                },
                error.to_string(),
            ),
            Error::Forbidden { code, message } => ApiError::new(S::FORBIDDEN, code, message),
            Error::Conflict { code, message } => ApiError::new(S::CONFLICT, code, message),
            Error::Unavailable { code, message } => {
                ApiError::new(S::SERVICE_UNAVAILABLE, code, message)
            }
            Error::TooLarge { code, message } => ApiError::new(S::PAYLOAD_TOO_LARGE, code, message),
            Error::UnsupportedMedia { code, message } => {
                ApiError::new(S::UNSUPPORTED_MEDIA_TYPE, code, message)
            }
            Error::RateLimited {
                retry_after_secs,
                message,
            } => ApiError {
                retry_after: Some(retry_after_secs),
                ..ApiError::new(S::TOO_MANY_REQUESTS, "rate_limited", message)
            },
            Error::Store(hilo_store::StoreError::Unavailable(cause)) => ApiError {
                source: Some(cause.to_string()),
                ..ApiError::new(
                    S::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the server is temporarily unable to store data; retry shortly",
                )
            },
            Error::Store(other) => {
                ApiError::internal(format!("{other}: {:?}", std::error::Error::source(&other)))
            }
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match &rejection {
            JsonRejection::MissingJsonContentType(_) => ApiError::unsupported_media_type(),
            JsonRejection::JsonDataError(_) => {
                ApiError::bad_request("invalid_body", rejection.body_text())
            }
            JsonRejection::JsonSyntaxError(_) => {
                ApiError::bad_request("malformed_json", rejection.body_text())
            }
            JsonRejection::BytesRejection(_)
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                ApiError::payload_too_large()
            }
            _ => ApiError::new(rejection.status(), "invalid_body", rejection.body_text()),
        }
    }
}

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::payload_too_large()
        } else {
            ApiError::new(rejection.status(), "invalid_body", rejection.body_text())
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::bad_request("invalid_query", rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::bad_request("invalid_path", rejection.body_text())
    }
}
