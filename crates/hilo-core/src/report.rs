//! Reports to the moderators: a message or a person, with a reason, and how an
//! administrator resolved it.

use crate::account::str_enum;
use crate::{ConversationId, MessageId, ReportId, Timestamp, UserId};

/// Where a report stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportStatus {
    /// Waiting for a moderator.
    Open,
    /// Looked at; nothing done.
    Dismissed,
    /// The reported message was deleted for everyone.
    MessageDeleted,
    /// The reported person was suspended.
    UserSuspended,
}
str_enum!(ReportStatus {
    Open = "open",
    Dismissed = "dismissed",
    MessageDeleted = "message_deleted",
    UserSuspended = "user_suspended",
});

/// What a moderator does with a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportAction {
    /// Nothing to do.
    Dismiss,
    /// Delete the reported message for everyone.
    DeleteMessage,
    /// Suspend the reported person (every session of theirs ends).
    SuspendUser,
}
str_enum!(ReportAction {
    Dismiss = "dismiss",
    DeleteMessage = "delete_message",
    SuspendUser = "suspend_user",
});

impl ReportAction {
    /// The status a report gets when resolved this way.
    pub fn status(self) -> ReportStatus {
        match self {
            ReportAction::Dismiss => ReportStatus::Dismissed,
            ReportAction::DeleteMessage => ReportStatus::MessageDeleted,
            ReportAction::SuspendUser => ReportStatus::UserSuspended,
        }
    }
}

/// A report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Identifier.
    pub id: ReportId,
    /// Who reported.
    pub reporter: UserId,
    /// The message reported, if a message was.
    pub message_id: Option<MessageId>,
    /// That message's conversation.
    pub conversation_id: Option<ConversationId>,
    /// The person reported (the message's sender, for a message).
    pub subject: Option<UserId>,
    /// Why, in the reporter's words.
    pub reason: String,
    /// Where it stands.
    pub status: ReportStatus,
    /// When it was made.
    pub created_at: Timestamp,
    /// When a moderator resolved it.
    pub resolved_at: Option<Timestamp>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_action_has_its_own_status() {
        let statuses: Vec<&str> = ReportAction::NAMES
            .iter()
            .map(|name| {
                ReportAction::parse(name)
                    .expect("a name parses")
                    .status()
                    .as_str()
            })
            .collect();
        assert_eq!(statuses, &ReportStatus::NAMES[1..]);
    }
}
