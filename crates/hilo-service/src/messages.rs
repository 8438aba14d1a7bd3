//! Sending and reading messages.

use hilo_core::{ConversationId, Message, MessageId, validate};
use hilo_proto::{Event, MessageDto};
use hilo_store::{AppendOutcome, MessagePage, NewMessage};

use crate::{Caller, Error, Hilo, Result};

impl Hilo {
    /// Sends a text message. Returns the message and whether it was created now (false: the
    /// caller already sent this `client_txn_id` here and gets the original back, whatever
    /// the new text says; Matrix's rule, which makes a blind retry always safe).
    pub async fn send_message(
        &self,
        caller: &Caller,
        conversation: &ConversationId,
        client_txn_id: &str,
        text: Option<&str>,
    ) -> Result<(Message, bool)> {
        let client_txn_id = validate::client_txn_id(client_txn_id)?;
        let text = validate::message_text(text.unwrap_or(""))?;
        let new = NewMessage {
            id: MessageId::new(self.inner.ids.new_id()),
            conversation_id: conversation.clone(),
            sender: caller.user.id.clone(),
            text,
            client_txn_id,
            now: self.inner.clock.now(),
        };
        // Commit and publish run in their own task: if the client goes away mid-request, the
        // message is still stored (the writer finishes the job) *and* announced, so no
        // connected device waits for the next event to learn of it.
        let hilo = self.clone();
        let outcome = tokio::spawn(async move {
            let outcome = hilo.inner.store.append_message(new).await?;
            if let AppendOutcome::Created(message, deliveries) = &outcome {
                let event = Event::MessageCreated {
                    conversation_id: message.conversation_id.to_string(),
                    message: MessageDto::from(message),
                };
                hilo.publish(deliveries, &event).await;
            }
            Ok::<_, Error>(outcome)
        })
        .await
        .map_err(|e| Error::Store(hilo_store::StoreError::Other(e.into())))??;
        match outcome {
            AppendOutcome::Created(message, _) => Ok((message, true)),
            AppendOutcome::Repeated(message) => Ok((message, false)),
            AppendOutcome::NotMember => Err(Error::NotFound("conversation")),
        }
    }

    /// A page of history: `after < seq < before`, ascending.
    pub async fn messages(
        &self,
        caller: &Caller,
        conversation: &ConversationId,
        before: Option<i64>,
        after: Option<i64>,
        limit: i64,
    ) -> Result<MessagePage> {
        self.member_conversation(caller, conversation).await?;
        if before.is_some_and(|b| b < 0) || after.is_some_and(|a| a < 0) {
            return Err(Error::bad_request(
                "invalid_seq",
                "before and after are sequence numbers (0 or more)",
            ));
        }
        Ok(self
            .inner
            .store
            .messages(conversation, before, after, limit)
            .await?)
    }

    /// One message, if the caller is a member of its conversation.
    pub async fn message(&self, caller: &Caller, id: &MessageId) -> Result<Message> {
        let message = self
            .inner
            .store
            .message(id)
            .await?
            .ok_or(Error::NotFound("message"))?;
        match self
            .member_conversation(caller, &message.conversation_id)
            .await
        {
            Ok(_) => Ok(message),
            Err(Error::NotFound(_)) => Err(Error::NotFound("message")),
            Err(other) => Err(other),
        }
    }
}
