//! The storage interface every backend implements (embedded SQLite, PostgreSQL), behind the
//! same traits so nothing above this crate knows which one runs.
//!
//! Design decisions:
//! - Methods are named for intent (`append_message`, `events_after`), and an operation that
//!   must be atomic is *one* method that runs its own transaction, so no transaction type
//!   leaks into the interface. That is why a write returns the per-user events it appended:
//!   the message row, the sequence bump and every recipient's event row commit together.
//! - The store does no authorisation and knows no HTTP; the service checks who may do what.
//!   Where a check must be atomic with the write (is the sender still a member?), the store
//!   reports the fact (`AppendOutcome::NotMember`) and the service decides what it means.
//! - Traits are split by area and object-safe, so the service holds one `Arc<dyn Store>`.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use async_trait::async_trait;
use hilo_core::search::SearchQuery;
use hilo_core::spam::{Behaviour, Counts};
use hilo_core::{
    Attachment, AttachmentId, ContactId, Conversation, ConversationId, ConversationView, Folder,
    FriendRequestResult, Location, Message, MessageId, Notify, Relation, Report, ReportId,
    ReportStatus, Session, SessionId, Settings, StoredEvent, Timestamp, User, UserId,
};

pub mod sql;

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The referenced row does not exist.
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was violated.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The database could not be reached or is shutting down.
    #[error("store unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// This backend cannot do that; the text says what to do instead.
    #[error("{0}")]
    Unsupported(&'static str),
    /// Anything else: a bug or corrupted data.
    #[error("store error")]
    Other(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Result alias for store calls.
pub type StoreResult<T> = Result<T, StoreError>;

/// An event appended to one user's stream by a write: who gets it and at which cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The recipient.
    pub user_id: UserId,
    /// Its position in the recipient's stream.
    pub cursor: i64,
}

/// Everything needed to create an account.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// New id.
    pub id: UserId,
    /// Validated, lower-case username.
    pub username: String,
    /// Validated display name.
    pub display_name: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Make the account an admin even if it is not the first.
    pub force_admin: bool,
    /// If set, an invite with this hash must be redeemed unless this is the first account.
    pub invite_hash: Option<String>,
    /// Whether an invite is required (registration policy `invite`).
    pub invite_required: bool,
    /// A first session to create in the same transaction (registration logs in).
    pub session: Option<NewSession>,
    /// Creation time.
    pub now: Timestamp,
}

/// The result of [`AccountStore::create_user`].
#[derive(Debug)]
pub enum CreateUserOutcome {
    /// Created; the first account on the server comes back with `is_admin` set.
    Created(User),
    /// The username is taken.
    UsernameTaken,
    /// An invite was required and the one given is unknown, used or expired.
    InviteInvalid,
}

/// A login session to store. The token itself is never stored, only its hash.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// New id.
    pub id: SessionId,
    /// Owner.
    pub user_id: UserId,
    /// SHA-256 of the bearer token, hex.
    pub token_hash: String,
    /// Client-given device name.
    pub device_name: Option<String>,
    /// Peer address.
    pub ip: Option<String>,
    /// The device as the User-Agent describes it (login alerts compare it).
    pub agent: Option<String>,
    /// The peer address's network (login alerts compare it).
    pub network: Option<String>,
    /// Creation time.
    pub now: Timestamp,
}

impl NewSession {
    /// The session as stored: created and last seen now.
    pub fn into_session(self) -> Session {
        Session {
            id: self.id,
            user_id: self.user_id,
            device_name: self.device_name,
            created_at: self.now,
            last_seen_at: self.now,
            ip: self.ip,
        }
    }
}

/// A change to a user's profile; `None` fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct ProfilePatch {
    /// New display name.
    pub display_name: Option<String>,
    /// New settings (already merged with the current ones).
    pub settings: Option<Settings>,
}

/// Accounts, sessions and invites.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Number of accounts.
    async fn count_users(&self) -> StoreResult<i64>;
    /// Creates an account atomically with the first-is-admin rule and invite redemption.
    async fn create_user(&self, user: NewUser) -> StoreResult<CreateUserOutcome>;
    /// An account and its password hash, by (lower-case) username.
    async fn credentials(&self, username: &str) -> StoreResult<Option<(User, String)>>;
    /// An account by id.
    async fn user(&self, id: &UserId) -> StoreResult<Option<User>>;
    /// An account by (lower-case) username.
    async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>>;
    /// Accounts whose username or display name contains `query` (case-insensitive).
    async fn search_users(&self, query: &str, limit: i64) -> StoreResult<Vec<User>>;
    /// Updates display name and/or settings; returns the new state and the `user.updated`
    /// events appended: to the user's own stream for any change, and to everyone sharing
    /// a current conversation with them when the display name changed.
    async fn update_profile(
        &self,
        id: &UserId,
        patch: ProfilePatch,
        now: Timestamp,
    ) -> StoreResult<(User, Vec<Delivery>)>;
    /// Grants or removes admin rights.
    async fn set_admin(&self, id: &UserId, is_admin: bool) -> StoreResult<()>;
    /// Replaces the password hash and revokes every session except `keep`; returns the
    /// `session.revoked` events appended.
    async fn set_password(
        &self,
        id: &UserId,
        password_hash: &str,
        keep: Option<&SessionId>,
        now: Timestamp,
    ) -> StoreResult<Vec<(SessionId, Delivery)>>;
    /// Records that `user` has an event stream open on `node`, current until `until`;
    /// whether some node (this one included, within its grace after a last stream
    /// closed) already had a current one (at `now`).
    async fn stream_opened(
        &self,
        node: &str,
        user: &UserId,
        until: Timestamp,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// Records that `user` has no event stream left on `node`; whether they stay online
    /// as far as this tells: another node still has a current stream, or this node had
    /// already recorded the close (then nothing changes).
    async fn stream_closed(&self, node: &str, user: &UserId, now: Timestamp) -> StoreResult<bool>;
    /// Renews (or restores) `node`'s rows for `users` until `until`, and forgets rows that
    /// expired before `forget_before` (nodes gone away).
    async fn streams_alive(
        &self,
        node: &str,
        users: &[UserId],
        until: Timestamp,
        forget_before: Timestamp,
    ) -> StoreResult<()>;
    /// Whether any node has a current event stream of `user`.
    async fn has_stream(&self, user: &UserId, now: Timestamp) -> StoreResult<bool>;
    /// Stores a new session.
    async fn create_session(&self, session: NewSession) -> StoreResult<Session>;
    /// The live session and its account for a token hash.
    async fn session_by_token(&self, token_hash: &str) -> StoreResult<Option<(Session, User)>>;
    /// Records activity on a session.
    async fn touch_session(&self, id: &SessionId, now: Timestamp) -> StoreResult<()>;
    /// The user's live sessions, newest first.
    async fn sessions(&self, user: &UserId) -> StoreResult<Vec<Session>>;
    /// Revokes one of the user's sessions and appends `session.revoked` to the user's stream.
    /// `None` when the user has no such live session.
    async fn revoke_session(
        &self,
        user: &UserId,
        session: &SessionId,
        now: Timestamp,
    ) -> StoreResult<Option<Delivery>>;
    /// Stores an invite code's hash.
    async fn create_invite(
        &self,
        code_hash: &str,
        created_by: Option<&UserId>,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> StoreResult<()>;
}

/// A group to create.
#[derive(Debug, Clone)]
pub struct NewGroup {
    /// New id.
    pub id: ConversationId,
    /// Validated name.
    pub name: String,
    /// The creator, who becomes its admin.
    pub creator: UserId,
    /// Other members (deduplicated, without the creator).
    pub members: Vec<UserId>,
    /// Members known by email address (deduplicated).
    pub contacts: Vec<NewMemberContact>,
    /// Creation time.
    pub now: Timestamp,
}

/// Someone known by email address who joins a group: the contact is made if the address
/// is not one yet.
#[derive(Debug, Clone)]
pub struct NewMemberContact {
    /// Id for the contact, if the address is not one yet.
    pub new_id: ContactId,
    /// The address, lower-case.
    pub address: String,
    /// The contact's name, if the contact is new.
    pub display_name: String,
}

/// A page of a member's conversation list.
#[derive(Debug, Clone, Default)]
pub struct ConversationPage {
    /// The member's views, most recent activity first.
    pub views: Vec<ConversationView>,
    /// Position after the last row of this page, when more rows exist.
    pub next: Option<(Timestamp, ConversationId)>,
}

/// Where a current member stands in a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberPlace {
    /// The member's folder.
    pub folder: Folder,
    /// The member deleted (or declined) it and nothing came since: it is gone for them
    /// ([`hilo_core::MemberView::hidden`]).
    pub hidden: bool,
    /// The member pinned it.
    pub pinned: bool,
}

/// What a receipt shows of one member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The member.
    pub user: UserId,
    /// The newest message some device of theirs received.
    pub delivered_seq: i64,
    /// Their read marker.
    pub last_read_seq: i64,
    /// Whether they share read receipts.
    pub shares_reads: bool,
}

/// A change to one member's own view of a conversation.
#[derive(Debug, Clone, Default)]
pub struct MemberSettingsPatch {
    /// New folder.
    pub folder: Option<Folder>,
    /// New mute: `Some(None)` unmutes.
    pub muted_until: Option<Option<Timestamp>>,
    /// New notification level.
    pub notify: Option<Notify>,
    /// Pin or unpin.
    pub pinned: Option<bool>,
}

/// Result of a membership change: which accounts were affected and the events appended.
#[derive(Debug, Clone, Default)]
pub struct MembershipChange {
    /// Accounts actually added or removed (others were already members, or not members).
    pub changed: Vec<UserId>,
    /// Events appended to every affected stream.
    pub deliveries: Vec<Delivery>,
}

/// Conversations, membership and read markers.
#[async_trait]
pub trait ConversationStore: Send + Sync {
    /// Returns the direct conversation between `a` and `b`, creating it if there is none
    /// (opened by `a`: in `a`'s inbox, and in `b`'s unless they are not friends, then in
    /// `b`'s message requests).
    /// Concurrent calls for the same pair all get the same conversation; the bool says
    /// whether this call created it, and creation appends `conversation.created` events.
    /// Opening one that `a` had deleted brings it back for `a` (without what they deleted)
    /// and appends `conversation.updated` to `a`'s stream.
    async fn find_or_create_direct(
        &self,
        id: ConversationId,
        a: &UserId,
        b: &UserId,
        now: Timestamp,
    ) -> StoreResult<(ConversationId, bool, Vec<Delivery>)>;
    /// Creates a group and appends `conversation.created` to each member's stream.
    async fn create_group(&self, group: NewGroup) -> StoreResult<(ConversationId, Vec<Delivery>)>;
    /// A conversation with its current members.
    async fn conversation(&self, id: &ConversationId) -> StoreResult<Option<Conversation>>;
    /// A conversation as `user` sees it; `None` if it does not exist or `user` is not a member.
    async fn conversation_view(
        &self,
        id: &ConversationId,
        user: &UserId,
    ) -> StoreResult<Option<ConversationView>>;
    /// The user's conversations in `folder` that they pinned (or, with `pinned` false,
    /// did not), most recent activity first, strictly after the position `after` (an
    /// `(updated_at, id)` pair from a previous page).
    async fn list_conversations(
        &self,
        user: &UserId,
        folder: Folder,
        pinned: bool,
        after: Option<(Timestamp, ConversationId)>,
        limit: i64,
    ) -> StoreResult<ConversationPage>;
    /// The first page of `user`'s conversations in `folder`, read at once: up to
    /// `pinned_max` pinned ones, then the first `limit` of the others (`next` continues
    /// the others, as [`Self::list_conversations`] with `pinned` false).
    async fn first_page(
        &self,
        user: &UserId,
        folder: Folder,
        pinned_max: i64,
        limit: i64,
    ) -> StoreResult<ConversationPage>;
    /// Renames a group on behalf of `actor`; appends `conversation.updated` for every
    /// member. `NotFound` unless `actor` is a current member (checked in the transaction).
    async fn rename_group(
        &self,
        id: &ConversationId,
        actor: &UserId,
        name: &str,
        now: Timestamp,
    ) -> StoreResult<Vec<Delivery>>;
    /// Adds accounts and email contacts to a group on behalf of `actor`;
    /// `conversation.created` for the new accounts and `conversation.updated` for the
    /// others (also when only contacts joined). In the transaction: `NotFound` unless
    /// `actor` is a member, `Conflict("too_many_members")` past `max_members` (contacts
    /// count).
    async fn add_members(
        &self,
        id: &ConversationId,
        actor: &UserId,
        users: &[UserId],
        contacts: &[NewMemberContact],
        max_members: usize,
        now: Timestamp,
    ) -> StoreResult<MembershipChange>;
    /// Removes the email contact at `address` from a group, on behalf of `actor` (an admin;
    /// `Conflict("not_group_admin")` otherwise) or, with `None`, of the contact itself
    /// (leaving by mail). `conversation.updated` for the members; an empty change when the
    /// address was not a member. `NotFound` unless `actor` is a member.
    async fn remove_contact(
        &self,
        id: &ConversationId,
        actor: Option<&UserId>,
        address: &str,
        now: Timestamp,
    ) -> StoreResult<MembershipChange>;
    /// Removes `user` from a group on behalf of `actor` (leave when they are the same);
    /// `conversation.updated` for the remaining members and for the removed one. Promotes
    /// the longest-standing member to admin when the last admin goes. In the transaction:
    /// `NotFound` unless `actor` is a member, `Conflict("not_group_admin")` when a non-admin
    /// removes someone else.
    async fn remove_member(
        &self,
        id: &ConversationId,
        actor: &UserId,
        user: &UserId,
        now: Timestamp,
    ) -> StoreResult<MembershipChange>;
    /// Changes a member's own view; appends `conversation.updated` to their stream.
    async fn update_member_settings(
        &self,
        id: &ConversationId,
        user: &UserId,
        patch: MemberSettingsPatch,
        now: Timestamp,
    ) -> StoreResult<Option<Delivery>>;
    /// Deletes a conversation for `user` only (or declines a request): its history so far
    /// is hidden from them and read, and it leaves their lists until a newer message
    /// arrives. Appends `conversation.updated` to their stream; `None` unless a member.
    async fn clear_conversation(
        &self,
        id: &ConversationId,
        user: &UserId,
        now: Timestamp,
    ) -> StoreResult<Option<Delivery>>;
    /// When `id` is a direct conversation and `user` a current member of it: the other
    /// member account and their folder (one small read, for the checks before a send).
    async fn direct_peer(
        &self,
        id: &ConversationId,
        user: &UserId,
    ) -> StoreResult<Option<(UserId, Folder)>>;
    /// `user`'s folder for a conversation they are a current member of, whether they
    /// deleted it and whether they pinned it (see [`MemberPlace`]).
    async fn member_place(
        &self,
        id: &ConversationId,
        user: &UserId,
    ) -> StoreResult<Option<MemberPlace>>;
    /// The accounts that share a current conversation with `user`, each once.
    async fn co_members(&self, user: &UserId) -> StoreResult<Vec<UserId>>;
    /// Every current member account's receipt, in join order.
    async fn receipts(&self, id: &ConversationId) -> StoreResult<Vec<Receipt>>;
    /// Records that some device of `user` received the messages of the conversation up to
    /// `seq` (never backwards; only while a member). When that moves the marker, appends
    /// `delivered` to the streams of the other current members who sent the messages
    /// newly delivered, and returns those events.
    async fn mark_delivered(
        &self,
        id: &ConversationId,
        user: &UserId,
        seq: i64,
        now: Timestamp,
    ) -> StoreResult<Vec<Delivery>>;
    /// Moves the member's read marker forward to `seq` (clamped to the newest message; never
    /// backwards). Appends `read` to the reader's stream and, when `share` is set, to the
    /// streams of the other members who share read receipts. Returns the marker after the
    /// call and the events.
    async fn mark_read(
        &self,
        id: &ConversationId,
        user: &UserId,
        seq: i64,
        share: bool,
        now: Timestamp,
    ) -> StoreResult<(i64, Vec<Delivery>)>;
}

/// A message to append.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// New id (unused if the send turns out to be a repeat).
    pub id: MessageId,
    /// Target conversation.
    pub conversation_id: ConversationId,
    /// Sending account.
    pub sender: UserId,
    /// How it arrives: `chat`, or `system` for what the server writes.
    pub channel: hilo_core::Channel,
    /// Validated text; a message may have none when it carries a location.
    pub text: Option<String>,
    /// The sender's idempotency key.
    pub client_txn_id: String,
    /// Server receive time.
    pub now: Timestamp,
    /// The message quoted; must be a live message of the same conversation.
    pub reply_to: Option<MessageId>,
    /// Members mentioned in the text.
    pub mentions: Vec<UserId>,
    /// A validated location.
    pub location: Option<Location>,
    /// Forwarded from another conversation.
    pub forwarded: bool,
    /// Judged spam (a first contact): recipients holding the conversation in their
    /// requests get it in spam instead (`rows::ROUTE_TO_SPAM`).
    pub spam: bool,
    /// Attachments to carry, in order: each the sender's own upload or one they can read.
    pub attachments: Vec<AttachmentId>,
    /// The mail it came as, when the account wrote it by email from an address of theirs.
    pub email: Option<ReceivedEmail>,
    /// The text it came as, when the account wrote it by SMS from a number of theirs.
    pub sms: Option<hilo_core::SmsMeta>,
}

/// What is kept of a received mail beside its message.
#[derive(Debug, Clone)]
pub struct ReceivedEmail {
    /// Its headers and sender checks.
    pub meta: hilo_core::EmailMeta,
    /// Its whole text (the message shows it without quoted history).
    pub full_text: String,
    /// Its HTML, as received.
    pub html: Option<String>,
}

impl NewMessage {
    /// A text message with nothing else.
    pub fn text(
        id: MessageId,
        conversation_id: ConversationId,
        sender: UserId,
        text: String,
        client_txn_id: String,
        now: Timestamp,
    ) -> NewMessage {
        NewMessage {
            id,
            conversation_id,
            sender,
            channel: hilo_core::Channel::Chat,
            text: Some(text),
            client_txn_id,
            now,
            reply_to: None,
            mentions: Vec::new(),
            location: None,
            forwarded: false,
            spam: false,
            attachments: Vec::new(),
            email: None,
            sms: None,
        }
    }
}

/// The result of [`MessageStore::append_message`].
#[derive(Debug)]
pub enum AppendOutcome {
    /// Stored with the next `seq`; `message.created` went to every member's stream, right
    /// after `conversation.updated` to the members whose folder the message changed or
    /// for whom it shows again after they deleted it (second list; see
    /// `rows::ROUTE_ON_SEND` and `rows::REVEALED_BY`).
    Created(Message, Vec<Delivery>, Vec<Delivery>),
    /// The sender already sent this `client_txn_id` here: the original message.
    Repeated(Message),
    /// The conversation does not exist or the sender is not a member.
    NotMember,
    /// `reply_to` is not a live message of this conversation.
    InvalidReply,
    /// An attachment is unknown, deleted, or neither the sender's nor readable by them.
    InvalidAttachment,
}

/// A received mail or text for one account, from someone who is not an account (a
/// contact): it goes into the direct conversation of the two, opened as a request if there
/// is none.
#[derive(Debug, Clone)]
pub struct NewReceived {
    /// New message id (unused if the mail was stored before).
    pub id: MessageId,
    /// Id for the conversation, if the pair has none yet.
    pub new_conversation_id: ConversationId,
    /// Id for the contact, if the address is not one yet.
    pub new_contact_id: ContactId,
    /// The addressee.
    pub recipient: UserId,
    /// A group the sender is a current member of, to post in instead of the direct
    /// conversation with `recipient` (`NotFound` if the address is not a member). The
    /// message is then mailed on to the group's other email contacts.
    pub group: Option<ConversationId>,
    /// The sender's address (lower-case domain) and name.
    pub address: String,
    /// The name the sender gave.
    pub display_name: String,
    /// What the thread shows.
    pub text: String,
    /// Judged spam: the addressee gets it in spam if it is a request.
    pub spam: bool,
    /// What it came as.
    pub via: ReceivedVia,
    /// Its files, stored for the addressee (the uploader of record), in order.
    pub attachments: Vec<AttachmentId>,
    /// Receive time.
    pub now: Timestamp,
}

/// How a contact's message came.
#[derive(Debug, Clone)]
pub enum ReceivedVia {
    /// By mail (channel `email`): stored once per Message-ID and conversation.
    Email(ReceivedEmail),
    /// By SMS (channel `sms`): stored once per provider id of the text.
    Sms(hilo_core::SmsMeta),
}

/// An account opens its direct conversation with someone known by email address.
#[derive(Debug, Clone)]
pub struct NewContactDirect {
    /// Id for the conversation, if the pair has none yet.
    pub new_conversation_id: ConversationId,
    /// Id for the contact, if the address is not one yet.
    pub new_contact_id: ContactId,
    /// The account.
    pub user: UserId,
    /// The address, lower-case.
    pub address: String,
    /// The contact's name, if the contact is new.
    pub display_name: String,
    /// When.
    pub now: Timestamp,
}

/// A mail claimed for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailJob {
    /// The message to mail.
    pub message_id: MessageId,
    /// Its conversation.
    pub conversation_id: ConversationId,
    /// Tries so far, this one included.
    pub attempts: i64,
    /// When it was queued.
    pub queued_at: Timestamp,
    /// The claim: until when it is this sender's (its outcome is recorded only with it).
    pub lease: Timestamp,
    /// A text only: when the first try whose answer was lost was handed to the provider
    /// ([`MailOutcome::unsure`]), so the provider may hold it; never cleared.
    pub unsure_since: Option<Timestamp>,
}

/// A mail of a conversation, for threading the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadMail {
    /// Its Message-ID, without brackets.
    pub rfc_id: String,
    /// Its subject.
    pub subject: Option<String>,
    /// Received (not sent).
    pub inbound: bool,
}

/// How a try at mailing a message went.
#[derive(Debug, Clone)]
pub struct MailOutcome {
    /// `queued` (to be tried again), `sent` or `failed`.
    pub state: hilo_core::DeliveryState,
    /// Why the try failed.
    pub detail: Option<String>,
    /// When to try again (for `queued`).
    pub next_attempt_at: Timestamp,
    /// The mail as sent, kept with the message.
    pub sent: Option<hilo_core::EmailMeta>,
    /// A text only: the failed try was handed over and its answer lost, so the provider
    /// may hold it; kept in `outbound_mail.unsure_at` (see [`MailJob::unsure_since`]).
    pub unsure: bool,
    /// The sender's claim (`MailJob::lease`); `None` for a bounce, which fails the mail
    /// whatever state it is in.
    pub lease: Option<Timestamp>,
    /// Now.
    pub now: Timestamp,
}

/// The result of a change to an existing message.
#[derive(Debug)]
pub enum MessageChange {
    /// Changed; `message.updated` went to the stream of every current member who has not
    /// hidden it. Members who hid it but see replies quoting it got `message.updated` for
    /// each such reply instead (third part), so their replies' excerpts follow.
    Changed(Message, Vec<Delivery>, Vec<(Message, Vec<Delivery>)>),
    /// Nothing to change (the same text, a reaction already there or already gone, a
    /// message already deleted): the message as it is, and no event.
    Unchanged(Message),
    /// No such message, or the actor is not a current member of its conversation.
    NotFound,
    /// Only the sender may do this.
    NotSender,
    /// The message was deleted for everyone.
    Deleted,
    /// The actor already has the most reactions one person may put on a message.
    TooManyReactions,
}

/// A text a message had before an edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageVersion {
    /// The text.
    pub text: String,
    /// When an edit replaced it.
    pub replaced_at: Timestamp,
}

/// A page of history.
#[derive(Debug, Clone)]
pub struct MessagePage {
    /// Messages in ascending `seq`.
    pub messages: Vec<Message>,
    /// Whether more exist beyond this page in the direction read.
    pub has_more: bool,
}

/// Messages.
#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Appends a message durably (on disk before this returns) with the next gap-free
    /// `seq`, unless the sender already used this `client_txn_id` in this conversation.
    async fn append_message(&self, message: NewMessage) -> StoreResult<AppendOutcome>;

    /// Stores a received mail or text (see [`NewReceived`]): the contact and the
    /// conversation made if needed, `conversation.created` to the addressee if it was, the
    /// message (channel `email` or `sms`, sent by the contact) and its mail or text,
    /// `message.created`. The same Message-ID in the same conversation again, or the same
    /// provider id of a text, gives `Repeated` with the first one.
    /// True when the conversation was opened by this mail (the outcome's first list is
    /// then its `conversation.created`).
    async fn append_received(&self, new: NewReceived) -> StoreResult<(AppendOutcome, bool)>;

    /// The direct conversation between an account and an email contact, made if needed
    /// (in the account's inbox: they opened it); the contact is made if the address is not
    /// one. Whether it was made, and `conversation.created` (or `conversation.updated`
    /// when it shows again after being deleted) for the account.
    async fn open_contact_direct(
        &self,
        open: NewContactDirect,
    ) -> StoreResult<(ConversationId, bool, Vec<Delivery>)>;

    /// Claims up to `limit` queued mails due at `now` for `lease_ms` (another node takes
    /// one over only after that), counting the try.
    async fn claim_mail(
        &self,
        now: Timestamp,
        lease_ms: i64,
        limit: i64,
    ) -> StoreResult<Vec<MailJob>>;

    /// A conversation's mail, received and sent, newest first, at most `limit`.
    async fn thread_mail(
        &self,
        conversation: &ConversationId,
        limit: i64,
    ) -> StoreResult<Vec<ThreadMail>>;

    /// Records a try at mailing `message` (and the mail as composed, the first time);
    /// `message.updated` to the conversation's members.
    async fn finish_mail(
        &self,
        message: &MessageId,
        outcome: MailOutcome,
    ) -> StoreResult<Vec<Delivery>>;
    /// A message by id; `None` also when `viewer` deleted it for themselves.
    async fn message(
        &self,
        id: &MessageId,
        viewer: Option<&UserId>,
    ) -> StoreResult<Option<Message>>;
    /// Messages with `after < seq < before` that `viewer` has not deleted for themselves.
    /// With `after` the page starts right after it; otherwise it ends right before
    /// `before` (or at the newest message).
    async fn messages(
        &self,
        conversation: &ConversationId,
        viewer: &UserId,
        before: Option<i64>,
        after: Option<i64>,
        limit: i64,
    ) -> StoreResult<MessagePage>;
    /// Replaces the text of a message `editor` sent, keeping the previous text as a
    /// version, and sets `edited_at`.
    async fn edit_message(
        &self,
        id: &MessageId,
        editor: &UserId,
        text: &str,
        mentions: &[UserId],
        now: Timestamp,
    ) -> StoreResult<MessageChange>;
    /// Deletes a message `actor` sent (or, with no actor, any message: a moderator's
    /// decision) for everyone: the text, location, mentions, reactions and earlier
    /// versions go; the row stays as a tombstone.
    async fn delete_message(
        &self,
        id: &MessageId,
        actor: Option<&UserId>,
        now: Timestamp,
    ) -> StoreResult<MessageChange>;
    /// Adds (or, with `add` false, removes) `user`'s reaction `emoji`; at most
    /// `max_per_user` different emoji per person per message.
    async fn react(
        &self,
        id: &MessageId,
        user: &UserId,
        emoji: &str,
        add: bool,
        max_per_user: usize,
        now: Timestamp,
    ) -> StoreResult<MessageChange>;
    /// Hides a message for `user` only and appends `message.hidden` to their stream;
    /// `None` when there is no such message in a conversation `user` is a member of.
    /// Hiding twice appends nothing the second time.
    async fn hide_message(
        &self,
        id: &MessageId,
        user: &UserId,
        now: Timestamp,
    ) -> StoreResult<Option<(Message, Option<Delivery>)>>;
    /// The texts a message had before its edits, oldest first.
    async fn message_versions(&self, id: &MessageId) -> StoreResult<Vec<MessageVersion>>;
    /// The whole text and the HTML (as received) of the mail message `id` came or went
    /// as; `None` when it was no mail.
    async fn email_body(&self, id: &MessageId) -> StoreResult<Option<(String, Option<String>)>>;
    /// Messages matching a search among those `search.viewer` may read: in a
    /// conversation they are a member of now, not deleted, not hidden by them, not from
    /// before they deleted the conversation. Among the newest [`SEARCH_WINDOW`] of those,
    /// most relevant first, then most recent. The index is written with each message, edit
    /// and delete, in the same transaction.
    async fn search_messages(&self, search: MessageSearch) -> StoreResult<SearchPage>;
}

/// How many of the newest matching messages a search ranks: a query that matches more
/// (a very common word) is ranked among its newest this many, so its cost is bounded by
/// the window rather than by the size of the store. Pages go no deeper either.
pub const SEARCH_WINDOW: i64 = 1_000;

/// A message search; see [`MessageStore::search_messages`] and `hilo_core::search`.
#[derive(Debug, Clone)]
pub struct MessageSearch {
    /// Whose messages: what they may read.
    pub viewer: UserId,
    /// What to look for.
    pub query: SearchQuery,
    /// Only in this conversation.
    pub conversation: Option<ConversationId>,
    /// Only sent by this account.
    pub sender: Option<UserId>,
    /// Only sent at or after this time.
    pub since: Option<Timestamp>,
    /// Only sent before this time.
    pub until: Option<Timestamp>,
    /// Only messages with (true) or without (false) attachments.
    pub has_attachment: Option<bool>,
    /// Results to skip.
    pub offset: i64,
    /// Results to return.
    pub limit: i64,
}

/// A page of search results.
#[derive(Debug, Clone)]
pub struct SearchPage {
    /// Most relevant first, then most recent.
    pub messages: Vec<Message>,
    /// Whether more results follow.
    pub has_more: bool,
}

/// Attachments' records (their bytes live in an object store the service holds).
#[async_trait]
pub trait AttachmentStore: Send + Sync {
    /// Records an upload.
    async fn create_attachment(&self, attachment: &Attachment) -> StoreResult<()>;
    /// An attachment `viewer` may read: theirs before it is sent, or carried by a live
    /// message of a conversation they are a current member of.
    async fn attachment_for(
        &self,
        id: &AttachmentId,
        viewer: &UserId,
    ) -> StoreResult<Option<Attachment>>;
    /// Marks deleted the uploads never sent that were made before `cutoff`.
    async fn doom_orphans(&self, cutoff: Timestamp, now: Timestamp) -> StoreResult<u64>;
    /// Up to `limit` attachments marked deleted, whose bytes are to be removed.
    async fn doomed_attachments(&self, limit: i64) -> StoreResult<Vec<AttachmentId>>;
    /// Forgets an attachment marked deleted, once its bytes are gone.
    async fn forget_attachment(&self, id: &AttachmentId) -> StoreResult<()>;
}

/// A person in a friends list or a friend request, with the time it began.
#[derive(Debug, Clone)]
pub struct Since {
    /// The other person.
    pub user: User,
    /// When the friendship or request began.
    pub at: Timestamp,
}

/// Friendships, friend requests and blocks.
#[async_trait]
pub trait SocialStore: Send + Sync {
    /// `viewer`'s relation to `other`.
    async fn relation(&self, viewer: &UserId, other: &UserId) -> StoreResult<Relation>;
    /// `from` asks `to` to be friends, or accepts the request `to` made. In the
    /// transaction: refused when either blocks the other. `Sent` appends `friend.request`
    /// to both streams (`number` 1 to `to`, 0 to `from`), `Accepted` appends
    /// `friend.accepted` to both; nothing is written otherwise.
    async fn request_friend(
        &self,
        from: &UserId,
        to: &UserId,
        now: Timestamp,
    ) -> StoreResult<(FriendRequestResult, Vec<Delivery>)>;
    /// Ends what is between `user` and `other`: a friendship (both told), `user`'s own
    /// request (both told) or `other`'s request to `user` (declined: only `user`'s devices
    /// are told). `friend.removed` events; none when there was nothing.
    async fn remove_friend(
        &self,
        user: &UserId,
        other: &UserId,
        now: Timestamp,
    ) -> StoreResult<Vec<Delivery>>;
    /// `user`'s friends, by username.
    async fn friends(&self, user: &UserId) -> StoreResult<Vec<Since>>;
    /// Friend requests to and from `user` still waiting, newest first.
    async fn friend_requests(&self, user: &UserId) -> StoreResult<(Vec<Since>, Vec<Since>)>;
    /// `blocker` blocks `blocked`: any friendship or request between them ends.
    /// `block.updated` to the blocker, `friend.removed` to both when something ended;
    /// nothing when the block was there already.
    async fn block(
        &self,
        blocker: &UserId,
        blocked: &UserId,
        now: Timestamp,
    ) -> StoreResult<Vec<Delivery>>;
    /// Lifts a block (nothing comes back); `block.updated` to the blocker, none when there
    /// was no block.
    async fn unblock(
        &self,
        blocker: &UserId,
        blocked: &UserId,
        now: Timestamp,
    ) -> StoreResult<Vec<Delivery>>;
    /// The accounts `user` blocks, by username.
    async fn blocked_users(&self, user: &UserId) -> StoreResult<Vec<User>>;
    /// The accounts that block `user`.
    async fn blockers_of(&self, user: &UserId) -> StoreResult<Vec<UserId>>;
    /// Who may hear of `user`'s presence when they show it to everyone: their friends and
    /// the people sharing a conversation with them outside their requests and spam,
    /// except those they block.
    async fn presence_audience(&self, user: &UserId) -> StoreResult<Vec<UserId>>;
    /// Counts a message from `sender` that `blocker`'s block dropped (nothing else of it
    /// is kept).
    async fn count_dropped(&self, blocker: &UserId, sender: &UserId) -> StoreResult<()>;
    /// How many messages from `sender` the block of `blocker` dropped.
    async fn dropped_count(&self, blocker: &UserId, sender: &UserId) -> StoreResult<i64>;
}

/// An outside address an account added (`user_emails`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserEmail {
    /// The address, lower-cased.
    pub address: String,
    /// When its code was entered; `None` while it waits for one.
    pub verified_at: Option<Timestamp>,
    /// When it was added.
    pub created_at: Timestamp,
    /// It gets digests of what waits unread (once verified).
    pub digest: bool,
}

/// A member's conversation with unread messages to mail in a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestDue {
    /// The account.
    pub user: UserId,
    /// The conversation.
    pub conversation: ConversationId,
    /// The digest starts after this seq (read or mailed before).
    pub from_seq: i64,
    /// The conversation's last seq now.
    pub last_seq: i64,
}

/// An outside address an account blocks (`blocked_addresses`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockedAddress {
    /// The address, lower-cased.
    pub address: String,
    /// Since when.
    pub created_at: Timestamp,
    /// Mails from it dropped since.
    pub dropped: i64,
}

/// Outside email addresses: an account's own (verified by a mailed code) and the ones it
/// blocks. Addresses are passed lower-cased.
#[async_trait]
pub trait EmailStore: Send + Sync {
    /// `user`'s addresses, oldest first.
    async fn emails(&self, user: &UserId) -> StoreResult<Vec<UserEmail>>;
    /// Adds `address` to `user`'s (or, while it waits, gives it a new code: the attempts
    /// start again). False when `user` has it verified already.
    async fn put_email_code(
        &self,
        user: &UserId,
        address: &str,
        code_hash: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// Takes one of the `max_attempts` tries at the code of `user`'s waiting `address`:
    /// the code's hash and expiry, or `None` when there is no such address waiting or
    /// its tries are used up.
    async fn claim_email_attempt(
        &self,
        user: &UserId,
        address: &str,
        max_attempts: i64,
    ) -> StoreResult<Option<(String, Timestamp)>>;
    /// Marks `user`'s waiting `address` verified; false when another account verified
    /// it first.
    async fn confirm_email(
        &self,
        user: &UserId,
        address: &str,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// Removes `address` from `user`'s (only while it waits, if `waiting_only`); whether
    /// it was there.
    async fn remove_email(
        &self,
        user: &UserId,
        address: &str,
        waiting_only: bool,
    ) -> StoreResult<bool>;
    /// The account that verified `address`, if any.
    async fn email_owner(&self, address: &str) -> StoreResult<Option<UserId>>;
    /// `user` blocks `address`; false when it already did.
    async fn block_address(
        &self,
        user: &UserId,
        address: &str,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// `user` no longer blocks `address`; whether it did.
    async fn unblock_address(&self, user: &UserId, address: &str) -> StoreResult<bool>;
    /// The addresses `user` blocks, newest first.
    async fn blocked_addresses(&self, user: &UserId) -> StoreResult<Vec<BlockedAddress>>;
    /// Whether `user` blocks `address`; if so, one more of its mails is counted dropped.
    async fn drop_if_blocked(&self, user: &UserId, address: &str) -> StoreResult<bool>;
    /// Whether `user`'s `address` gets digests; false when there is no such address.
    async fn set_digest(&self, user: &UserId, address: &str, on: bool) -> StoreResult<bool>;
    /// `user`'s verified addresses that get digests.
    async fn digest_addresses(&self, user: &UserId) -> StoreResult<Vec<String>>;
    /// What waits to be mailed at `now` (`rows::DIGESTS_DUE`): unread, from someone else,
    /// the first of it older than `waited_since`, for someone with no stream open; a page
    /// of `limit` by account and conversation, after `after` (empty strings: from the
    /// start).
    async fn digests_due(
        &self,
        now: Timestamp,
        waited_since: Timestamp,
        after: (&UserId, &ConversationId),
        limit: i64,
    ) -> StoreResult<Vec<DigestDue>>;
    /// `user`'s `conversation` was mailed up to `seq`.
    async fn mark_digested(
        &self,
        user: &UserId,
        conversation: &ConversationId,
        seq: i64,
    ) -> StoreResult<()>;
}

/// Texts: the route of each pair of numbers, opt-outs, and texts handed to a provider.
#[async_trait]
pub trait SmsStore: Send + Sync {
    /// The conversation texts between `our` number and `their` number belong to.
    async fn sms_route(&self, our: &str, their: &str) -> StoreResult<Option<ConversationId>>;
    /// The number `conversation` texts `their` number from: its route if it has one, or
    /// else the first of `candidates` that carries no other conversation with `their`
    /// (bound to this one now). `None` when every candidate is taken.
    async fn bind_sms_route(
        &self,
        conversation: &ConversationId,
        their: &str,
        candidates: &[String],
        now: Timestamp,
    ) -> StoreResult<Option<String>>;
    /// Whether `their` number texted STOP to `our` (and not START since).
    async fn sms_opted_out(&self, our: &str, their: &str) -> StoreResult<bool>;
    /// Records a STOP (`out`) or a START.
    async fn set_sms_opt_out(
        &self,
        our: &str,
        their: &str,
        out: bool,
        now: Timestamp,
    ) -> StoreResult<()>;
    /// Claims up to `limit` queued texts due at `now` for `lease_ms`, counting the try
    /// (as [`MessageStore::claim_mail`] for mail); a text the provider took is never
    /// claimed again. A failed try is recorded with [`MessageStore::finish_mail`].
    async fn claim_sms(
        &self,
        now: Timestamp,
        lease_ms: i64,
        limit: i64,
    ) -> StoreResult<Vec<MailJob>>;
    /// Message `message`'s text (claimed with `lease`) is about to be handed to the
    /// provider: from now on it is never claimed again (a text goes out at most once;
    /// [`MessageStore::finish_mail`] of a failed try makes it claimable again). False
    /// without the lease.
    async fn sms_sending(
        &self,
        message: &MessageId,
        lease: Timestamp,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// The provider took message `message`'s text: keeps the text (`sms`; again is a
    /// no-op) and applies any status callback that came first; `message.updated` to the
    /// conversation's members.
    async fn sms_handed(
        &self,
        message: &MessageId,
        sms: &hilo_core::SmsMeta,
        now: Timestamp,
    ) -> StoreResult<Vec<Delivery>>;
    /// Whether text `sid` of `provider` is some message's already: received (`inbound`)
    /// or sent.
    async fn sms_known(&self, provider: &str, sid: &str, inbound: bool) -> StoreResult<bool>;
    /// A status callback for a sent text: moves its message to `state` (with `detail`)
    /// unless it is there or further already (queued, then sent, then delivered or
    /// failed), with `message.updated` to the members. For a text not known yet (its
    /// send's answer is still being recorded) the status is kept for [`Self::sms_handed`].
    async fn sms_status(
        &self,
        provider: &str,
        sid: &str,
        state: hilo_core::DeliveryState,
        detail: Option<String>,
        now: Timestamp,
    ) -> StoreResult<Option<(MessageId, Vec<Delivery>)>>;
}

/// Reports and what moderators do about them.
#[async_trait]
pub trait ModerationStore: Send + Sync {
    /// Stores a new report.
    async fn create_report(&self, report: &Report) -> StoreResult<()>;
    /// A report by id.
    async fn report(&self, id: &ReportId) -> StoreResult<Option<Report>>;
    /// Up to `limit` reports with `status`, oldest first.
    async fn reports(&self, status: ReportStatus, limit: i64) -> StoreResult<Vec<Report>>;
    /// Resolves an open report and appends `report.resolved` to the reporter's stream;
    /// `Conflict("already_resolved")` when it is not open, `NotFound` when unknown.
    async fn resolve_report(
        &self,
        id: &ReportId,
        status: ReportStatus,
        moderator: &UserId,
        now: Timestamp,
    ) -> StoreResult<Delivery>;
    /// Suspends (or reinstates) an account; suspending revokes every session of theirs,
    /// returning the `session.revoked` events appended.
    async fn set_suspended(
        &self,
        user: &UserId,
        suspended: bool,
        now: Timestamp,
    ) -> StoreResult<Vec<(SessionId, Delivery)>>;
}

/// An account's two-factor state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TwoFactor {
    /// The TOTP secret (base32) when 2FA is on.
    pub secret: Option<String>,
    /// The secret of an enrolment not yet confirmed.
    pub pending: Option<String>,
    /// The unused recovery codes: number and Argon2id hash.
    pub recovery: Vec<(i64, String)>,
}

/// One entry of the security audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// UUIDv7, so id order is time order.
    pub id: String,
    /// Whose account it concerns; `None` for a failed login naming no account.
    pub user_id: Option<UserId>,
    /// That account's username at the time.
    pub username: Option<String>,
    /// Who acted when it was not the account's owner (an admin).
    pub actor_id: Option<UserId>,
    /// What happened, e.g. `login`, `login_failed`, `2fa_enabled`.
    pub kind: String,
    /// When.
    pub at: Timestamp,
    /// From where.
    pub ip: Option<String>,
    /// From which device.
    pub device: Option<String>,
    /// More about it, in words (never a secret).
    pub detail: String,
}

/// Two-factor auth, password upkeep, session sweeps and the audit log.
#[async_trait]
pub trait SecurityStore: Send + Sync {
    /// The account's two-factor state.
    async fn two_factor(&self, user: &UserId) -> StoreResult<TwoFactor>;
    /// Starts (or restarts) an enrolment with `secret`.
    async fn set_totp_pending(&self, user: &UserId, secret: &str) -> StoreResult<()>;
    /// Turns 2FA on with `secret` if it is still the pending one, marking `step` used and
    /// replacing the recovery codes with `recovery` (hashes, numbered from 1). `false` when
    /// the enrolment changed meanwhile.
    async fn enable_totp(
        &self,
        user: &UserId,
        secret: &str,
        step: i64,
        recovery: &[String],
    ) -> StoreResult<bool>;
    /// Turns 2FA off: secret, pending enrolment and recovery codes are gone.
    async fn disable_totp(&self, user: &UserId) -> StoreResult<()>;
    /// Marks time step `step` used if it is later than the last one used; `false` (a
    /// replay) otherwise. Atomic, so two nodes cannot both accept one code.
    async fn claim_totp_step(&self, user: &UserId, step: i64) -> StoreResult<bool>;
    /// Spends recovery code `n`; `false` when it was already spent.
    async fn use_recovery_code(&self, user: &UserId, n: i64, now: Timestamp) -> StoreResult<bool>;
    /// Replaces the password hash `old` by `new` (the same password under new parameters);
    /// nothing happens if the hash changed meanwhile.
    async fn rehash_password(&self, user: &UserId, old: &str, new: &str) -> StoreResult<()>;
    /// Revokes every live session of `user` but `keep`, returning the `session.revoked`
    /// events appended.
    async fn revoke_sessions_except(
        &self,
        user: &UserId,
        keep: Option<&SessionId>,
        now: Timestamp,
    ) -> StoreResult<Vec<(SessionId, Delivery)>>;
    /// Appends to the audit log.
    async fn record_audit(&self, event: &AuditEvent) -> StoreResult<()>;
    /// Up to `limit` audit entries, newest first, older than entry `before` when given; of
    /// one account, or of all when `user` is `None`.
    async fn audit_events(
        &self,
        user: Option<&UserId>,
        before: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<AuditEvent>>;
    /// Whether `user` logged in before from a device described as `agent`, and from the
    /// network `network`; `None` when none of their sessions recorded either (no baseline
    /// to compare with, as for sessions from before login alerts).
    async fn known_client(
        &self,
        user: &UserId,
        agent: Option<&str>,
        network: Option<&str>,
    ) -> StoreResult<Option<(bool, bool)>>;
    /// The id of the server's own account `username` (a sender of notices, such as login
    /// alerts), created with `id` when missing: nobody can log in to it, find it or list
    /// it.
    async fn system_account(
        &self,
        id: &UserId,
        username: &str,
        display_name: &str,
        now: Timestamp,
    ) -> StoreResult<UserId>;
    /// Deletes an account: sessions, secrets, relations and its event stream go, its
    /// memberships end, and a tombstone stays as the sender of its messages. Returns the
    /// `session.revoked` events of its live sessions; `NotFound` when there is no such
    /// live account.
    async fn delete_account(
        &self,
        user: &UserId,
        now: Timestamp,
    ) -> StoreResult<Vec<(SessionId, Delivery)>>;
    /// Accounts for administrators, suspended ones included, in username order after
    /// `after`: all, or those whose username or display name contains `query`.
    async fn list_users(
        &self,
        query: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<User>>;
}

/// The counters behind rate limits, kept in the store so that every node sees the same.
#[async_trait]
pub trait LimitStore: Send + Sync {
    /// Counts one event of `key`. In a fixed window (`slide` false) the count restarts at
    /// 1 when the window that began at the stored time is `window_ms` old; with `slide`
    /// the stored time becomes `now` at every event and the count restarts only after
    /// `window_ms` without one (a run of failures). Returns the count and the stored time.
    async fn bump(
        &self,
        key: &str,
        window_ms: i64,
        slide: bool,
        now: Timestamp,
    ) -> StoreResult<(i64, Timestamp)>;
    /// The count and stored time of `key`, if any.
    async fn counter(&self, key: &str) -> StoreResult<Option<(i64, Timestamp)>>;
    /// Takes one back from `key`'s count (an attempt counted up front that succeeded).
    async fn refund(&self, key: &str) -> StoreResult<()>;
    /// Forgets `key`.
    async fn forget_counter(&self, key: &str) -> StoreResult<()>;
    /// Forgets every counter whose stored time is before `before`.
    async fn sweep_counters(&self, before: Timestamp) -> StoreResult<u64>;
}

/// What users teach the spam filter, and the behaviour it weighs (`hilo_core::spam`).
#[async_trait]
pub trait SpamStore: Send + Sync {
    /// What this server's users taught about these features, with the number of messages
    /// taught as spam and as not spam.
    async fn learned(&self, features: &[String]) -> StoreResult<Counts>;
    /// Teaches each message's features (one list per message) as spam or not, at once.
    async fn teach(&self, lessons: Vec<Vec<String>>, spam: bool) -> StoreResult<()>;
    /// What `sender` did since `hour_ago` (conversations opened) and `day_ago` (the
    /// conversations they opened with exactly `text`), not counting the message being
    /// judged. Both read first messages only, so the cost does not grow with how much the
    /// sender writes.
    async fn behaviour(
        &self,
        sender: &UserId,
        text: &str,
        hour_ago: Timestamp,
        day_ago: Timestamp,
    ) -> StoreResult<Behaviour>;
}

/// Per-user event streams.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Up to `limit` events of `user` with a cursor greater than `after`, ascending.
    async fn events_after(
        &self,
        user: &UserId,
        after: i64,
        limit: i64,
    ) -> StoreResult<Vec<StoredEvent>>;
    /// `(floor, head)`: events with cursors in `floor+1..=head` are held; a client whose
    /// cursor is below `floor` or above `head` must resynchronise.
    async fn event_bounds(&self, user: &UserId) -> StoreResult<(i64, i64)>;
}

/// Operational hooks that are not part of the domain.
#[async_trait]
pub trait AdminStore: Send + Sync {
    /// Whether the database answers.
    async fn ping(&self) -> StoreResult<()>;
    /// Writes a consistent copy of the whole database to `path` while it stays online.
    async fn backup(&self, path: &str) -> StoreResult<()>;
    /// Flushes and closes; later calls fail with `Unavailable`.
    async fn close(&self);
}

/// Told about every group commit, for metrics.
pub trait CommitObserver: Send + Sync {
    /// A batch of `batch_size` writes committed (or failed) after `elapsed`, with
    /// `queue_depth` writes still waiting.
    fn on_commit(&self, batch_size: usize, queue_depth: usize, elapsed: std::time::Duration);
}

/// Everything a backend provides.
pub trait Store:
    AccountStore
    + ConversationStore
    + MessageStore
    + AttachmentStore
    + SocialStore
    + EmailStore
    + SmsStore
    + ModerationStore
    + SecurityStore
    + LimitStore
    + SpamStore
    + EventStore
    + AdminStore
{
}

impl<
    T: AccountStore
        + ConversationStore
        + MessageStore
        + AttachmentStore
        + SocialStore
        + EmailStore
        + SmsStore
        + ModerationStore
        + SecurityStore
        + LimitStore
        + SpamStore
        + EventStore
        + AdminStore,
> Store for T
{
}
