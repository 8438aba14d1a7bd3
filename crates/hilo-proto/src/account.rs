//! Accounts, sessions, `/me` and other users.

use hilo_core::{LastSeenVisibility, Settings, User, WhoCanMessage};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::rfc3339;

/// `POST /api/v1/accounts`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateAccountRequest {
    /// 3–32 of `a-z 0-9 . _`, case-insensitive.
    #[schema(min_length = 3, max_length = 32, pattern = "^[A-Za-z0-9._]+$")]
    pub username: String,
    /// 8–128 characters.
    #[schema(min_length = 8, max_length = 128)]
    pub password: String,
    /// Defaults to the username.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 64)]
    pub display_name: Option<String>,
    /// Required when registration is by invite.
    #[serde(default)]
    pub invite_code: Option<String>,
    /// A name for this device's session.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 100)]
    pub device_name: Option<String>,
}

/// `POST /api/v1/sessions`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LoginRequest {
    /// Username (any case).
    pub username: String,
    /// Password.
    pub password: String,
    /// A current TOTP code or a recovery code, when 2FA is on.
    #[serde(default)]
    pub totp_code: Option<String>,
    /// A name for this device's session.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 100)]
    pub device_name: Option<String>,
}

/// The answer to registration and login.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuthResponse {
    /// The account.
    pub user: MeDto,
    /// Bearer token; shown once, stored by the server only as a hash.
    pub token: String,
    /// The new session's id.
    pub session_id: String,
}

/// Privacy settings.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SettingsDto {
    /// `everyone`, `friends_of_friends` or `friends`.
    #[schema(value_type = crate::vocab::WhoCanMessage)]
    pub who_can_message: String,
    /// `everyone`, `friends` or `nobody`.
    #[schema(value_type = crate::vocab::LastSeenVisibility)]
    pub last_seen_visibility: String,
    /// Whether others see when this user has read their messages.
    pub read_receipts: bool,
}

impl From<&Settings> for SettingsDto {
    fn from(settings: &Settings) -> Self {
        SettingsDto {
            who_can_message: settings.who_can_message.as_str().to_owned(),
            last_seen_visibility: settings.last_seen_visibility.as_str().to_owned(),
            read_receipts: settings.read_receipts,
        }
    }
}

/// A partial change to the settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct SettingsPatch {
    /// `everyone`, `friends_of_friends` or `friends`.
    #[serde(default)]
    #[schema(value_type = Option<crate::vocab::WhoCanMessage>)]
    pub who_can_message: Option<String>,
    /// `everyone`, `friends` or `nobody`.
    #[serde(default)]
    #[schema(value_type = Option<crate::vocab::LastSeenVisibility>)]
    pub last_seen_visibility: Option<String>,
    /// Send read receipts.
    #[serde(default)]
    pub read_receipts: Option<bool>,
}

impl SettingsPatch {
    /// Applies the patch to `settings`; the error names the offending field.
    pub fn apply(&self, settings: &mut Settings) -> Result<(), &'static str> {
        if let Some(value) = &self.who_can_message {
            settings.who_can_message = WhoCanMessage::parse(value).ok_or("who_can_message")?;
        }
        if let Some(value) = &self.last_seen_visibility {
            settings.last_seen_visibility =
                LastSeenVisibility::parse(value).ok_or("last_seen_visibility")?;
        }
        if let Some(value) = self.read_receipts {
            settings.read_receipts = value;
        }
        Ok(())
    }
}

/// `GET /api/v1/me`: the caller's own account.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MeDto {
    /// Account id.
    pub id: String,
    /// Username.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// `username@<mail domain>`.
    pub email_address: String,
    /// Server administrator.
    pub is_admin: bool,
    /// Privacy settings.
    pub settings: SettingsDto,
    /// Account creation time.
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl MeDto {
    /// Renders an account for its owner.
    pub fn new(user: &User, mail_domain: &str) -> Self {
        MeDto {
            id: user.id.to_string(),
            username: user.username.clone(),
            display_name: user.display_name.clone(),
            email_address: format!("{}@{}", user.username, mail_domain),
            is_admin: user.is_admin,
            settings: SettingsDto::from(&user.settings),
            created_at: rfc3339(user.created_at),
        }
    }
}

/// `PATCH /api/v1/me`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct UpdateMeRequest {
    /// New display name.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 64)]
    pub display_name: Option<String>,
    /// Settings to change.
    #[serde(default, deserialize_with = "crate::optional_object")]
    pub settings: Option<SettingsPatch>,
}

/// Another user as the caller sees them.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UserDto {
    /// Account id.
    pub id: String,
    /// Username.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// `self`, `friend`, `request_sent`, `request_received`, `blocked` or `none`.
    #[schema(value_type = crate::vocab::Relationship)]
    pub relationship: String,
    /// Present only where the user's `last_seen_visibility` allows the caller.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub online: Option<bool>,
    /// Present only where the user's `last_seen_visibility` allows the caller.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub last_seen_at: Option<String>,
}

/// `GET /api/v1/users?q=`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UsersResponse {
    /// Matches, best first.
    pub users: Vec<UserDto>,
}

/// One login session.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SessionDto {
    /// Session id.
    pub id: String,
    /// Device name given at login.
    pub device_name: Option<String>,
    /// Login time.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Last activity.
    #[schema(format = DateTime)]
    pub last_seen_at: String,
    /// Address the login came from.
    pub ip: Option<String>,
    /// Whether this is the session making the request.
    pub current: bool,
}

impl SessionDto {
    /// Renders a session; `current` when it is the one making the request.
    pub fn new(session: &hilo_core::Session, current: bool) -> Self {
        SessionDto {
            id: session.id.to_string(),
            device_name: session.device_name.clone(),
            created_at: rfc3339(session.created_at),
            last_seen_at: rfc3339(session.last_seen_at),
            ip: session.ip.clone(),
            current,
        }
    }
}

/// `GET /api/v1/sessions`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SessionsResponse {
    /// Live sessions, newest first.
    pub sessions: Vec<SessionDto>,
}

/// `POST /api/v1/admin/invites`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InviteResponse {
    /// Single-use code, valid for 7 days.
    pub code: String,
    /// When it expires.
    #[schema(format = DateTime)]
    pub expires_at: String,
}
