//! Messages: the gap-free, idempotent append (the shared body in one transaction) and
//! history pages.

use async_trait::async_trait;
use hilo_core::{ConversationId, Message, MessageId};
use hilo_store::{AppendOutcome, MessagePage, MessageStore, NewMessage, StoreResult};

use crate::{PostgresStore, reads, tx};

#[async_trait]
impl MessageStore for PostgresStore {
    async fn append_message(&self, new: NewMessage) -> StoreResult<AppendOutcome> {
        // Committed (durably: synchronous_commit is on by default) before the caller
        // acknowledges the send.
        in_transaction!(self, conn => tx::append_message(conn, &new))
    }

    async fn message(&self, id: &MessageId) -> StoreResult<Option<Message>> {
        reads::message(&self.pool, id).await
    }

    async fn messages(
        &self,
        conversation: &ConversationId,
        before: Option<i64>,
        after: Option<i64>,
        limit: i64,
    ) -> StoreResult<MessagePage> {
        reads::messages(&self.pool, conversation, before, after, limit).await
    }
}
