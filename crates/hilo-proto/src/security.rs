//! Account security: two-factor auth, password changes, the audit log and user
//! administration.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `GET /api/v1/me/2fa`: the caller's two-factor state.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TwoFactorStatus {
    /// Whether logins need a code.
    pub enabled: bool,
    /// Recovery codes not used yet (0 while 2FA is off).
    pub recovery_codes_left: usize,
}

/// `POST /api/v1/me/2fa`: what to scan into an authenticator app.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TwoFactorEnrolment {
    /// The TOTP secret, base32 (RFC 6238: SHA-1, 6 digits, 30 s), for typing in by hand.
    pub secret: String,
    /// The `otpauth://totp/...` URI.
    pub otpauth_uri: String,
    /// The URI as a QR code, an SVG document.
    pub qr_svg: String,
}

/// `POST /api/v1/me/2fa/confirm`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConfirmTwoFactorRequest {
    /// A current code from the authenticator app.
    #[schema(max_length = 64)]
    pub code: String,
}

/// The answer to confirming 2FA.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RecoveryCodesResponse {
    /// Ten single-use codes, each good for one login instead of a TOTP code; shown once.
    pub recovery_codes: Vec<String>,
}

/// `DELETE /api/v1/me/2fa`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DisableTwoFactorRequest {
    /// The account's password.
    pub password: String,
    /// A current code, or an unused recovery code.
    #[schema(max_length = 64)]
    pub code: String,
}

/// `DELETE /api/v1/me`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeleteAccountRequest {
    /// The account's password.
    pub password: String,
}

/// `POST /api/v1/me/password`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChangePasswordRequest {
    /// The password now.
    pub current_password: String,
    /// The new one: 8–128 characters, not a common leaked password.
    #[schema(min_length = 8, max_length = 128)]
    pub new_password: String,
}

/// The answer to revoking several sessions.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RevokedResponse {
    /// How many sessions were revoked.
    pub revoked: usize,
}

/// One entry of the audit log.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditEventDto {
    /// Entry id; pass as `before` for the next page.
    pub id: String,
    /// What happened: `login`, `login_failed`, `2fa_enabled`, `2fa_disabled`,
    /// `recovery_code_used`, `session_revoked`, `sessions_revoked`, `password_changed`,
    /// `account_suspended`, `account_unsuspended`.
    #[serde(rename = "type")]
    pub kind: String,
    /// When.
    #[schema(format = DateTime)]
    pub at: String,
    /// From which address.
    pub ip: Option<String>,
    /// From which device.
    pub device: Option<String>,
    /// More about it.
    pub detail: String,
    /// Whose account (in the admins' log; `null` for a login naming no account).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The administrator who acted, when one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<String>,
}

/// `GET /api/v1/me/audit` and `GET /api/v1/admin/audit`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditResponse {
    /// Newest first.
    pub events: Vec<AuditEventDto>,
}

/// An account as administrators see it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AdminUserDto {
    /// Account id.
    pub id: String,
    /// Username.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// Server administrator.
    pub is_admin: bool,
    /// Suspended: no logins, no sessions.
    pub suspended: bool,
    /// Account creation time.
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl From<&hilo_core::User> for AdminUserDto {
    fn from(user: &hilo_core::User) -> Self {
        AdminUserDto {
            id: user.id.to_string(),
            username: user.username.clone(),
            display_name: user.display_name.clone(),
            is_admin: user.is_admin,
            suspended: user.suspended,
            created_at: crate::rfc3339(user.created_at),
        }
    }
}

/// `GET /api/v1/admin/users`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AdminUsersResponse {
    /// By username.
    pub users: Vec<AdminUserDto>,
}
