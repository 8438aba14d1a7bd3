//! Friends and blocks: `/api/v1/friends…` and `/api/v1/blocks…`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::UserDto;

/// `POST /api/v1/friends`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FriendRequestBody {
    /// Who to ask (or whose request to accept).
    #[schema(min_length = 1, max_length = 32)]
    pub username: String,
}

/// The answer to a friend request.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FriendStatusResponse {
    /// `request_sent` (waiting for them) or `friends` (they had asked first, or already were).
    #[schema(value_type = crate::vocab::FriendStatus)]
    pub status: String,
}

/// A friend.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FriendDto {
    /// The friend.
    pub user: UserDto,
    /// Friends since.
    #[schema(format = DateTime)]
    pub since: String,
}

/// `GET /api/v1/friends`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FriendsResponse {
    /// Friends, by username.
    pub friends: Vec<FriendDto>,
}

/// A waiting friend request.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FriendRequestDto {
    /// The other person: the asker (incoming) or the person asked (outgoing).
    pub user: UserDto,
    /// When it was made.
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// `GET /api/v1/friends/requests`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FriendRequestsResponse {
    /// Requests to the caller, newest first.
    pub incoming: Vec<FriendRequestDto>,
    /// The caller's requests still waiting, newest first.
    pub outgoing: Vec<FriendRequestDto>,
}

/// `GET /api/v1/blocks`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BlocksResponse {
    /// Everyone the caller blocks, by username.
    pub blocked: Vec<UserDto>,
    /// The outside email addresses the caller blocks, newest first.
    pub addresses: Vec<BlockedAddressDto>,
}

/// An outside email address the caller blocks (`PUT /api/v1/blocks/{address}`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BlockedAddressDto {
    /// The address, lower-cased.
    pub address: String,
    /// Since when.
    #[schema(format = DateTime)]
    pub blocked_at: String,
    /// Mails from it taken and dropped since.
    pub dropped: i64,
}

/// One of the caller's own outside email addresses.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OwnEmailDto {
    /// The address, lower-cased.
    pub address: String,
    /// Whether its code was entered: mail from it is then the caller's.
    pub verified: bool,
    /// When it was added.
    #[schema(format = DateTime)]
    pub added_at: String,
    /// When it was verified.
    #[schema(format = DateTime)]
    pub verified_at: Option<String>,
    /// Once verified, it gets digests of what waits unread while the account is away.
    pub digest: bool,
}

/// `PATCH /api/v1/me/emails/{address}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UpdateEmailRequest {
    /// Whether it gets digests.
    pub digest: bool,
}

/// `GET /api/v1/me/emails`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EmailsResponse {
    /// The caller's outside addresses, oldest first.
    pub emails: Vec<OwnEmailDto>,
}

/// `POST /api/v1/me/emails`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AddEmailRequest {
    /// An address outside this server's mail domain.
    #[schema(max_length = 254)]
    pub address: String,
}

/// `POST /api/v1/me/emails/verify` (with `address`) or
/// `POST /api/v1/me/emails/{address}/verify`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VerifyEmailRequest {
    /// The address (`POST /me/emails/verify`; in the path otherwise).
    #[serde(default)]
    #[schema(max_length = 254)]
    pub address: Option<String>,
    /// The six digits mailed to the address.
    #[schema(max_length = 16)]
    pub code: String,
}

/// One of the caller's own phone numbers.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OwnPhoneDto {
    /// The number, E.164.
    pub number: String,
    /// Whether its code was entered: texts from it are then the caller's.
    pub verified: bool,
    /// When it was added.
    #[schema(format = DateTime)]
    pub added_at: String,
    /// When it was verified.
    #[schema(format = DateTime)]
    pub verified_at: Option<String>,
}

/// `GET /api/v1/me/phones`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PhonesResponse {
    /// The caller's numbers, oldest first.
    pub phones: Vec<OwnPhoneDto>,
    /// Whether this server can text (an SMS provider is configured): without, no number
    /// can be added.
    pub available: bool,
}

/// `POST /api/v1/me/phones`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AddPhoneRequest {
    /// The number in international form (E.164): `+34600111222`.
    #[schema(max_length = 40)]
    pub number: String,
}

/// `POST /api/v1/me/phones/verify`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VerifyPhoneRequest {
    /// The number.
    #[schema(max_length = 40)]
    pub number: String,
    /// The six digits texted to it.
    #[schema(max_length = 16)]
    pub code: String,
}
