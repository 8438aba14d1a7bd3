//! Reports and the moderation queue: `/api/v1/reports` and `/api/v1/admin/reports…`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{MessageDto, PartyDto};

/// `POST /api/v1/reports`: a message, a person, or both (the message's sender).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReportRequest {
    /// The message reported.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 64)]
    pub message_id: Option<String>,
    /// The person reported.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 32)]
    pub username: Option<String>,
    /// Why, in the reporter's words.
    #[schema(min_length = 1, max_length = 1000)]
    pub reason: String,
}

/// A report as its reporter and the moderators see it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReportDto {
    /// Report id.
    pub id: String,
    /// Why, in the reporter's words.
    pub reason: String,
    /// `open`, `dismissed`, `message_deleted` or `user_suspended`.
    #[schema(value_type = crate::vocab::ReportStatus)]
    pub status: String,
    /// Who reported.
    pub reporter: Option<PartyDto>,
    /// The message reported, as it is now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<MessageDto>,
    /// The person reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<PartyDto>,
    /// For moderators: the messages around the reported one, in order (it included).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub context: Vec<MessageDto>,
    /// When it was made.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// When a moderator resolved it.
    #[schema(format = DateTime)]
    pub resolved_at: Option<String>,
}

/// `GET /api/v1/admin/reports`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReportsResponse {
    /// Oldest first.
    pub reports: Vec<ReportDto>,
}

/// `POST /api/v1/admin/reports/{id}/resolve`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ResolveReportRequest {
    /// `dismiss`, `delete_message` or `suspend_user`.
    #[schema(value_type = crate::vocab::ReportAction)]
    pub action: String,
}
