//! Opaque identifiers. Each is a newtype over the canonical string form of a UUIDv7, which
//! sorts by creation time and is stored as TEXT on every backend; generation happens outside
//! this crate (the service's `IdGen`), so the core never touches a clock or an RNG.

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// Wraps an identifier string that came from the store or a generator.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The identifier as a string.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// Identifies an account.
    UserId
);
id_type!(
    /// Identifies a login session (one device's token).
    SessionId
);
id_type!(
    /// Identifies a conversation, direct or group.
    ConversationId
);
id_type!(
    /// Identifies a message.
    MessageId
);
id_type!(
    /// Identifies an external contact: someone known only by an email address or phone number.
    ContactId
);
id_type!(
    /// Identifies an uploaded file.
    AttachmentId
);
id_type!(
    /// Identifies a report to the moderators.
    ReportId
);
