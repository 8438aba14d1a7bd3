//! What can go wrong in a use case, named for the failure; `hilo-http::error` maps each to
//! a status and a stable code.

use hilo_core::ValidationError;
use hilo_store::StoreError;

/// A use case failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An input value broke a rule.
    #[error("{0}")]
    Invalid(ValidationError),
    /// A request was malformed in a way no single field rule covers.
    #[error("{message}")]
    BadRequest {
        /// Stable code.
        code: &'static str,
        /// Explanation.
        message: String,
    },
    /// No valid token.
    #[error("not authenticated")]
    Unauthenticated,
    /// A webhook's signature is missing or does not match its URL and body.
    #[error("the signature does not match the request")]
    BadSignature,
    /// Wrong username or password (the same answer for both).
    #[error("invalid username or password")]
    InvalidCredentials,
    /// Two-factor auth is on and the login carried no valid code.
    #[error("a current two-factor code (or an unused recovery code) is required")]
    TotpRequired,
    /// The account is suspended.
    #[error("this account is suspended")]
    AccountSuspended,
    /// Registration is closed.
    #[error("registration is closed on this server")]
    RegistrationClosed,
    /// Registration needs a valid invite code.
    #[error("a valid invite code is required to register")]
    InviteRequired,
    /// The username is taken.
    #[error("that username is taken")]
    UsernameTaken,
    /// The thing does not exist, or the caller may not know it exists.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The caller may see the thing but not do this to it.
    #[error("{message}")]
    Forbidden {
        /// Stable code.
        code: &'static str,
        /// Explanation.
        message: String,
    },
    /// The request carries more than a limit allows (an upload past its size).
    #[error("{message}")]
    TooLarge {
        /// Stable code.
        code: &'static str,
        /// Explanation.
        message: String,
    },
    /// The request carries a kind of content that is refused.
    #[error("{message}")]
    UnsupportedMedia {
        /// Stable code.
        code: &'static str,
        /// Explanation.
        message: String,
    },
    /// The request conflicts with the thing's current state (a deleted message).
    #[error("{message}")]
    Conflict {
        /// Stable code.
        code: &'static str,
        /// Explanation.
        message: String,
    },
    /// Too many requests of this kind; retry after the given number of seconds.
    #[error("{message}")]
    RateLimited {
        /// Seconds to wait.
        retry_after_secs: u64,
        /// Explanation.
        message: String,
    },
    /// Something this server depends on is not there (a mail relay): 503.
    #[error("{message}")]
    Unavailable {
        /// Stable code.
        code: &'static str,
        /// Explanation.
        message: String,
    },
    /// The store failed; details are for logs only.
    #[error("storage failure")]
    Store(#[from] StoreError),
}

impl From<ValidationError> for Error {
    fn from(error: ValidationError) -> Self {
        Error::Invalid(error)
    }
}

impl Error {
    pub(crate) fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Error::Forbidden {
            code,
            message: message.into(),
        }
    }

    pub(crate) fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Error::Conflict {
            code,
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Error::BadRequest {
            code,
            message: message.into(),
        }
    }
}
