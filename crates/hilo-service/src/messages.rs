//! Sending, changing and reading messages: replies, mentions, locations, forwards,
//! reactions, edits and deletes.

use std::future::Future;

use hilo_core::message::mentioned_usernames;
use hilo_core::{
    Channel, ConversationId, DeleteScope, EventKind, Folder, Message, MessageId, UserId, validate,
};
use hilo_proto::{Event, ForwardMessageRequest, MessageDto, SendMessageRequest};
use hilo_store::{AppendOutcome, MessageChange, MessagePage, MessageVersion, NewMessage};

use crate::{Caller, Error, Hilo, Result};

/// Most different emoji one person may put on one message.
pub const REACTIONS_PER_PERSON_MAX: usize = 20;

impl Hilo {
    /// Sends a message: text, a location, or both, optionally quoting another message of
    /// the conversation. Returns the message and whether it was created now (false: the
    /// caller already sent this `client_txn_id` here and gets the original back, whatever
    /// the new request says; Matrix's rule, which makes a blind retry always safe).
    pub async fn send_message(
        &self,
        caller: &Caller,
        conversation: &ConversationId,
        request: &SendMessageRequest,
    ) -> Result<(Message, bool)> {
        let client_txn_id = validate::client_txn_id(&request.client_txn_id)?;
        let location = request
            .location
            .as_ref()
            .map(|l| validate::location(l.lat, l.lon, l.label.as_deref()))
            .transpose()?;
        let attachments = attachment_ids(request.attachment_ids.as_deref().unwrap_or_default())?;
        let text = match (&request.text, &location, attachments.is_empty()) {
            (None, Some(_), _) | (None, None, false) => None,
            (text, _, _) => Some(validate::message_text(text.as_deref().unwrap_or(""))?),
        };
        let reply_to = request
            .reply_to
            .as_deref()
            .map(|id| {
                if id.is_empty() || id.len() > 64 {
                    Err(invalid_reply())
                } else {
                    Ok(MessageId::new(id))
                }
            })
            .transpose()?;
        let mentions = match text.as_deref() {
            Some(text) => self.mentions(caller, conversation, text).await?,
            None => Vec::new(),
        };
        self.send_allowed(&caller.user.id).await?;
        let first_contact = self.check_reach(caller, conversation).await? == Some(Folder::Requests);
        let spam = match (first_contact, text.as_deref()) {
            (true, Some(text)) => self.judged_spam(&caller.user.id, text).await?,
            _ => false,
        };
        self.append(NewMessage {
            id: MessageId::new(self.inner.ids.new_id()),
            conversation_id: conversation.clone(),
            sender: caller.user.id.clone(),
            channel: Channel::Chat,
            text,
            client_txn_id,
            now: self.inner.clock.now(),
            reply_to,
            mentions,
            location,
            forwarded: false,
            spam,
            attachments,
            email: None,
            sms: None,
        })
        .await
    }

    /// Stores a message and announces it; see [`Hilo::send_message`].
    /// Appends a notice the server writes (a login alert), publishing it as a send.
    pub(crate) async fn append_notice(&self, new: NewMessage) -> Result<()> {
        self.append(new).await.map(|_| ())
    }

    pub(crate) async fn append(&self, new: NewMessage) -> Result<(Message, bool)> {
        let hilo = self.clone();
        let sender = new.sender.clone();
        let outcome = self
            .detached(async move {
                let outcome = hilo.inner.store.append_message(new).await?;
                if let AppendOutcome::Created(message, deliveries, moved) = &outcome {
                    hilo.announce_message(
                        message,
                        deliveries,
                        moved,
                        EventKind::ConversationUpdated,
                    )
                    .await;
                    // Sending ends the sender's typing indicator.
                    if hilo
                        .inner
                        .typing
                        .stop(&message.conversation_id, &sender, None)
                    {
                        let others: Vec<UserId> = deliveries
                            .iter()
                            .map(|d| d.user_id.clone())
                            .filter(|u| *u != sender)
                            .collect();
                        hilo.stopped_typing(&message.conversation_id, &sender, &others)
                            .await;
                    }
                }
                Ok(outcome)
            })
            .await?;
        match outcome {
            AppendOutcome::Created(message, ..) => Ok((message, true)),
            AppendOutcome::Repeated(message) => Ok((message, false)),
            AppendOutcome::NotMember => Err(Error::NotFound("conversation")),
            AppendOutcome::InvalidReply => Err(invalid_reply()),
            AppendOutcome::InvalidAttachment => Err(Error::bad_request(
                "invalid_attachment",
                "attachment_ids must be ids of your own uploads (or of files you can read)",
            )),
        }
    }

    /// Publishes a stored message: first the conversation event (`moved_kind`) to the
    /// members it moved (or opened for), then `message.created` to every member.
    pub(crate) async fn announce_message(
        &self,
        message: &Message,
        deliveries: &[hilo_store::Delivery],
        moved: &[hilo_store::Delivery],
        moved_kind: EventKind,
    ) {
        self.publish_conversation_events(moved, moved_kind, &message.conversation_id, None)
            .await;
        let event = Event::MessageCreated {
            conversation_id: message.conversation_id.to_string(),
            message: MessageDto::from(message),
        };
        self.publish(deliveries, &event).await;
    }

    /// Runs a write and the publishing of its events in a task of their own: if the client
    /// goes away mid-request, the change is still stored (the writer finishes the job)
    /// *and* announced, so no connected device waits for the next event to learn of it.
    pub(crate) async fn detached<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        tokio::spawn(work)
            .await
            .map_err(|e| Error::Store(hilo_store::StoreError::Other(e.into())))?
    }

    /// The member accounts `@mentioned` in `text`: a name that is not a current member of
    /// the conversation mentions nobody.
    async fn mentions(
        &self,
        caller: &Caller,
        conversation: &ConversationId,
        text: &str,
    ) -> Result<Vec<UserId>> {
        let names = mentioned_usernames(text);
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let conversation = self.member_conversation(caller, conversation).await?;
        Ok(names
            .iter()
            .filter_map(|name| {
                conversation
                    .members
                    .iter()
                    .find_map(|member| match &member.party {
                        hilo_core::Party::User { id, username, .. } if username == name => {
                            Some(id.clone())
                        }
                        _ => None,
                    })
            })
            .collect())
    }

    /// A page of history: `after < seq < before`, ascending, without the messages the
    /// caller deleted for themselves.
    pub async fn messages(
        &self,
        caller: &Caller,
        conversation: &ConversationId,
        before: Option<i64>,
        after: Option<i64>,
        limit: i64,
    ) -> Result<MessagePage> {
        // A conversation the caller deleted has no history for them until it comes back.
        self.visible_place(caller, conversation).await?;
        if before.is_some_and(|b| b < 0) || after.is_some_and(|a| a < 0) {
            return Err(Error::bad_request(
                "invalid_seq",
                "before and after are sequence numbers (0 or more)",
            ));
        }
        let mut page = self
            .inner
            .store
            .messages(conversation, &caller.user.id, before, after, limit)
            .await?;
        self.collapse_blocked(&caller.user.id, &mut page.messages)
            .await?;
        Ok(page)
    }

    /// One message, if the caller is a member of its conversation and has not deleted it
    /// for themselves.
    pub async fn message(&self, caller: &Caller, id: &MessageId) -> Result<Message> {
        let mut message = self
            .inner
            .store
            .message(id, Some(&caller.user.id))
            .await?
            .ok_or(Error::NotFound("message"))?;
        match self
            .member_conversation(caller, &message.conversation_id)
            .await
        {
            Ok(_) => {
                self.collapse_blocked(&caller.user.id, std::slice::from_mut(&mut message))
                    .await?;
                Ok(message)
            }
            Err(Error::NotFound(_)) => Err(Error::NotFound("message")),
            Err(other) => Err(other),
        }
    }

    /// A message the caller can read as it came: for a mail, its whole text and its HTML
    /// made safe to show (`hilo_mail::html`); otherwise its text.
    pub async fn original(
        &self,
        caller: &Caller,
        id: &MessageId,
    ) -> Result<(Message, Option<String>, Option<String>)> {
        let message = self.message(caller, id).await?;
        if message.deleted {
            return Ok((message, None, None));
        }
        match self.inner.store.email_body(id).await? {
            Some((full_text, html)) if !full_text.is_empty() || html.is_some() => {
                // Parsing a large page is work for a blocking thread, not the runtime's.
                let html = match html {
                    Some(html) => Some(
                        tokio::task::spawn_blocking(move || hilo_mail::html::sanitize(&html))
                            .await
                            .map_err(|e| Error::Store(hilo_store::StoreError::Other(e.into())))?,
                    ),
                    None => None,
                };
                Ok((message, Some(full_text), html))
            }
            _ => {
                let text = message.text.clone();
                Ok((message, text, None))
            }
        }
    }

    /// Replaces the text of the caller's own message; the previous text is kept for them
    /// ([`Hilo::message_versions`]) and every member sees `edited_at`.
    pub async fn edit_message(
        &self,
        caller: &Caller,
        id: &MessageId,
        text: &str,
    ) -> Result<Message> {
        let text = validate::message_text(text)?;
        let message = self.message(caller, id).await?;
        let mentions = self
            .mentions(caller, &message.conversation_id, &text)
            .await?;
        let (hilo, id, editor) = (self.clone(), id.clone(), caller.user.id.clone());
        let now = self.inner.clock.now();
        self.detached(async move {
            let change = hilo
                .inner
                .store
                .edit_message(&id, &editor, &text, &mentions, now)
                .await?;
            hilo.changed(change).await
        })
        .await
    }

    /// Deletes a message for everyone (its sender only; a tombstone remains) or for the
    /// caller only (`me`, the default: the others keep it).
    pub async fn delete_message(
        &self,
        caller: &Caller,
        id: &MessageId,
        scope: Option<&str>,
    ) -> Result<()> {
        let scope = match scope {
            None => DeleteScope::Me,
            Some(scope) => DeleteScope::parse(scope)
                .ok_or_else(|| Error::bad_request("invalid_scope", "scope is everyone or me"))?,
        };
        let (hilo, id, actor) = (self.clone(), id.clone(), caller.user.id.clone());
        let now = self.inner.clock.now();
        match scope {
            DeleteScope::Everyone => {
                self.detached(async move {
                    let change = hilo
                        .inner
                        .store
                        .delete_message(&id, Some(&actor), now)
                        .await?;
                    let carried = matches!(&change, MessageChange::Changed(..));
                    let message = hilo.changed(change).await?;
                    if carried {
                        // Its attachments are unreadable already; their bytes go now.
                        hilo.sweep_soon();
                    }
                    Ok(message)
                })
                .await?;
            }
            DeleteScope::Me => {
                self.detached(async move {
                    let (message, delivery) = hilo
                        .inner
                        .store
                        .hide_message(&id, &actor, now)
                        .await?
                        .ok_or(Error::NotFound("message"))?;
                    if let Some(delivery) = delivery {
                        let event = Event::MessageHidden {
                            conversation_id: message.conversation_id.to_string(),
                            message_id: message.id.to_string(),
                        };
                        hilo.publish(&[delivery], &event).await;
                    }
                    Ok(())
                })
                .await?;
            }
        }
        Ok(())
    }

    /// Adds (or removes) the caller's reaction: exactly one emoji, at most one of each per
    /// person per message.
    pub async fn react(
        &self,
        caller: &Caller,
        id: &MessageId,
        emoji: &str,
        add: bool,
    ) -> Result<Message> {
        let emoji = validate::reaction_emoji(emoji)?;
        // The caller must see the message (not hidden for them) to react to it.
        self.message(caller, id).await?;
        let (hilo, id, user) = (self.clone(), id.clone(), caller.user.id.clone());
        let now = self.inner.clock.now();
        self.detached(async move {
            let change = hilo
                .inner
                .store
                .react(&id, &user, &emoji, add, REACTIONS_PER_PERSON_MAX, now)
                .await?;
            hilo.changed(change).await
        })
        .await
    }

    /// Refuses a message in a direct conversation that the other person's block or
    /// `who_can_message` does not let through. The setting applies until they accept (or
    /// started) the conversation; a block always, and what it drops is counted, nothing
    /// else kept. Groups are not refused here: who may be in them is checked on adding.
    /// Anything else (not a member, no such conversation) is left to the store's answer.
    /// Returns the folder the recipient keeps a direct conversation in (`None` for a
    /// group).
    async fn check_reach(
        &self,
        caller: &Caller,
        conversation: &ConversationId,
    ) -> Result<Option<Folder>> {
        self.reach(&caller.user.id, conversation).await
    }

    /// [`Hilo::check_reach`] for a message of `sender`'s, however it came.
    pub(crate) async fn reach(
        &self,
        sender: &UserId,
        conversation: &ConversationId,
    ) -> Result<Option<Folder>> {
        let store = &self.inner.store;
        let Some((other, folder)) = store.direct_peer(conversation, sender).await? else {
            return Ok(None);
        };
        if self.is_notices_account(&other) {
            return Err(Error::forbidden(
                "read_only",
                "security notices cannot be answered",
            ));
        }
        let relation = store.relation(sender, &other).await?;
        if relation.blocked_by {
            store.count_dropped(&other, sender).await?;
            return Err(restricted());
        }
        if relation.blocking {
            return Err(Error::forbidden(
                "recipient_blocked",
                "you block this person: unblock them to message them",
            ));
        }
        if !crate::conversations::accepted(folder) {
            let Some(user) = store.user(&other).await? else {
                return Ok(Some(folder));
            };
            if !relation.may_message(user.settings.who_can_message) {
                return Err(restricted());
            }
        }
        Ok(Some(folder))
    }

    /// Copies a message the caller can read into another conversation they are in, marked
    /// as forwarded (a new message of theirs, idempotent by `client_txn_id` like a send).
    pub async fn forward_message(
        &self,
        caller: &Caller,
        id: &MessageId,
        request: &ForwardMessageRequest,
    ) -> Result<(Message, bool)> {
        let client_txn_id = validate::client_txn_id(&request.client_txn_id)?;
        let source = self.message(caller, id).await?;
        if source.deleted {
            return Err(deleted());
        }
        let target = ConversationId::new(request.conversation_id.as_str());
        self.send_allowed(&caller.user.id).await?;
        self.check_reach(caller, &target).await?;
        self.append(NewMessage {
            id: MessageId::new(self.inner.ids.new_id()),
            conversation_id: ConversationId::new(request.conversation_id.as_str()),
            sender: caller.user.id.clone(),
            channel: Channel::Chat,
            text: source.text,
            client_txn_id,
            now: self.inner.clock.now(),
            reply_to: None,
            mentions: Vec::new(),
            location: source.location,
            forwarded: true,
            spam: false,
            attachments: source.attachments.into_iter().map(|a| a.id).collect(),
            email: None,
            sms: None,
        })
        .await
    }

    /// The texts the caller's own message had before its edits, oldest first.
    pub async fn message_versions(
        &self,
        caller: &Caller,
        id: &MessageId,
    ) -> Result<Vec<MessageVersion>> {
        let message = self.message(caller, id).await?;
        if message.sender_user() != Some(&caller.user.id) {
            return Err(not_sender());
        }
        Ok(self.inner.store.message_versions(id).await?)
    }

    /// Announces a changed message and maps refusals to errors.
    pub(crate) async fn changed(&self, change: MessageChange) -> Result<Message> {
        match change {
            MessageChange::Changed(message, deliveries, replies) => {
                let event = Event::MessageUpdated {
                    conversation_id: message.conversation_id.to_string(),
                    message: MessageDto::from(&message),
                };
                self.publish(&deliveries, &event).await;
                for (reply, deliveries) in replies {
                    let event = Event::MessageUpdated {
                        conversation_id: reply.conversation_id.to_string(),
                        message: MessageDto::from(&reply),
                    };
                    self.publish(&deliveries, &event).await;
                }
                Ok(message)
            }
            MessageChange::Unchanged(message) => Ok(message),
            MessageChange::NotFound => Err(Error::NotFound("message")),
            MessageChange::NotSender => Err(not_sender()),
            MessageChange::Deleted => Err(deleted()),
            MessageChange::TooManyReactions => Err(Error::bad_request(
                "too_many_reactions",
                format!(
                    "one person puts at most {REACTIONS_PER_PERSON_MAX} different reactions on a message"
                ),
            )),
        }
    }
}

/// Most attachments on one message.
pub const ATTACHMENTS_PER_MESSAGE_MAX: usize = 10;

fn attachment_ids(ids: &[String]) -> Result<Vec<hilo_core::AttachmentId>> {
    if ids.len() > ATTACHMENTS_PER_MESSAGE_MAX {
        return Err(Error::bad_request(
            "too_many_attachments",
            format!("a message carries at most {ATTACHMENTS_PER_MESSAGE_MAX} attachments"),
        ));
    }
    let mut out: Vec<hilo_core::AttachmentId> = Vec::with_capacity(ids.len());
    for id in ids {
        if id.is_empty() || id.len() > 64 {
            return Err(Error::bad_request(
                "invalid_attachment",
                "attachment_ids must be ids of your own uploads (or of files you can read)",
            ));
        }
        let id = hilo_core::AttachmentId::new(id.as_str());
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

fn invalid_reply() -> Error {
    Error::bad_request(
        "invalid_reply_to",
        "reply_to must be a message of the same conversation that was not deleted",
    )
}

fn not_sender() -> Error {
    Error::forbidden(
        "not_message_sender",
        "only the sender can edit a message, see its earlier versions or delete it for everyone",
    )
}

fn deleted() -> Error {
    Error::conflict("message_deleted", "the message was deleted")
}

/// The answer when the recipient's settings or block keep a message (or an invitation)
/// out: the same whichever it is, so a block is not announced.
pub(crate) fn restricted() -> Error {
    Error::forbidden(
        "recipient_restricts_messages",
        "this person does not accept messages from you",
    )
}
