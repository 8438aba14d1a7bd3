//! The closed vocabularies of the wire format, as named string enumerations of the OpenAPI
//! document. Fields stay `String` (the service answers an unknown value with its own error
//! code); these types exist only to describe them, through `#[schema(value_type = …)]`.
//! The tests hold each one equal to the names the domain parses, so the document cannot
//! drift from what the server accepts and sends.
#![allow(missing_docs)]

use utoipa::ToSchema;

/// `direct` or `group`.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum ConversationKind {
    Direct,
    Group,
}

/// A member's folder for a conversation.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum Folder {
    Inbox,
    Requests,
    Archived,
    Spam,
}

/// The folders a member may move a conversation to themselves.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum MovableFolder {
    Inbox,
    Archived,
}

/// Which messages notify a member.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum Notify {
    All,
    Mentions,
    None,
}

/// Who a message is deleted for.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum DeleteScope {
    Everyone,
    Me,
}

/// How a message arrived.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum Channel {
    Chat,
    Email,
    Sms,
    Widget,
    System,
}

/// Where mailing a message stands.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum DeliveryState {
    Queued,
    Sent,
    Delivered,
    Failed,
}

/// Who may start a conversation with a user.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum WhoCanMessage {
    Everyone,
    FriendsOfFriends,
    Friends,
}

/// Who may see a user's presence.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum LastSeenVisibility {
    Everyone,
    Friends,
    Nobody,
}

/// An account or an external contact.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum PartyKind {
    User,
    Contact,
}

/// How another user relates to the caller.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum Relationship {
    #[schema(rename = "self")]
    Myself,
    Friend,
    RequestSent,
    RequestReceived,
    Blocked,
    None,
}

/// What a friend request led to.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum FriendStatus {
    RequestSent,
    Friends,
}

/// Which way a friend request goes, seen from the recipient of the event.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum Direction {
    Incoming,
    Outgoing,
}

/// Where a report stands.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum ReportStatus {
    Open,
    Dismissed,
    MessageDeleted,
    UserSuspended,
}

/// What a moderator does with a report.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum ReportAction {
    Dismiss,
    DeleteMessage,
    SuspendUser,
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::PartialSchema;

    fn names<T: PartialSchema>() -> Vec<String> {
        let schema = serde_json::to_value(T::schema()).expect("schema serializes");
        schema["enum"]
            .as_array()
            .expect("a string enumeration")
            .iter()
            .map(|v| v.as_str().expect("string").to_owned())
            .collect()
    }

    #[test]
    fn document_vocabularies_are_the_domain_names() {
        use hilo_core as core;
        assert_eq!(names::<ConversationKind>(), core::ConversationKind::NAMES);
        assert_eq!(names::<Folder>(), core::Folder::NAMES);
        assert_eq!(names::<Notify>(), core::Notify::NAMES);
        assert_eq!(names::<Channel>(), core::Channel::NAMES);
        assert_eq!(names::<DeleteScope>(), core::DeleteScope::NAMES);
        assert_eq!(names::<DeliveryState>(), core::DeliveryState::NAMES);
        assert_eq!(names::<WhoCanMessage>(), core::WhoCanMessage::NAMES);
        assert_eq!(
            names::<LastSeenVisibility>(),
            core::LastSeenVisibility::NAMES
        );
        assert_eq!(names::<MovableFolder>(), ["inbox", "archived"]);
        assert_eq!(names::<FriendStatus>(), ["request_sent", "friends"]);
        assert_eq!(names::<Direction>(), ["incoming", "outgoing"]);
        assert_eq!(names::<ReportStatus>(), core::ReportStatus::NAMES);
        assert_eq!(names::<ReportAction>(), core::ReportAction::NAMES);
        assert!(
            names::<MovableFolder>()
                .iter()
                .all(|name| core::Folder::parse(name).is_some())
        );
    }

    #[test]
    fn party_kinds_are_what_the_wire_renders() {
        let user = core_party_kind(&hilo_core::Party::User {
            id: hilo_core::UserId::new("u"),
            username: "ana".into(),
            display_name: "Ana".into(),
        });
        let contact = core_party_kind(&hilo_core::Party::Contact {
            id: hilo_core::ContactId::new("c"),
            address: "ana@example.com".into(),
            display_name: "Ana".into(),
        });
        assert_eq!(names::<PartyKind>(), [user, contact]);
    }

    fn core_party_kind(party: &hilo_core::Party) -> String {
        crate::PartyDto::from(party).kind
    }

    #[test]
    fn relationships_cover_what_the_service_answers() {
        assert_eq!(names::<Relationship>(), hilo_core::Relationship::NAMES);
    }
}
