//! Messages: the gap-free, idempotent append and history pages.

use async_trait::async_trait;
use hilo_core::{ConversationId, Message, MessageId};
use hilo_store::{AppendOutcome, MessagePage, MessageStore, NewMessage, StoreResult};

use crate::conversations::lock_conversation;
use crate::{PostgresStore, db_error, reads, tx};

#[async_trait]
impl MessageStore for PostgresStore {
    async fn append_message(&self, new: NewMessage) -> StoreResult<AppendOutcome> {
        let mut tx = self.begin().await?;
        // The conversation row lock comes first: it serialises sends here across every
        // node, so the repeat check sees a concurrent send of the same client_txn_id once
        // that send commits, and `seq` is allocated one at a time.
        if lock_conversation(&mut tx, &new.conversation_id)
            .await?
            .is_none()
        {
            return Ok(AppendOutcome::NotMember);
        }
        let outcome = tx::append_message(&mut tx, &new).await?;
        if matches!(outcome, AppendOutcome::Created(..)) {
            // The commit is durable (synchronous_commit is on by default) before the
            // caller acknowledges the send.
            tx.commit().await.map_err(db_error)?;
        }
        Ok(outcome)
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
