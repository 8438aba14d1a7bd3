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
}
