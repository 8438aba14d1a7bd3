//! Messages: the gap-free, idempotent append (the shared body, on the single writer) and
//! history pages.

use async_trait::async_trait;
use hilo_core::{ConversationId, Message, MessageId};
use hilo_store::{AppendOutcome, MessagePage, MessageStore, NewMessage, StoreResult};

use crate::{SqliteStore, reads, tx};

#[async_trait]
impl MessageStore for SqliteStore {
    async fn append_message(&self, new: NewMessage) -> StoreResult<AppendOutcome> {
        // The repeat check, the membership check and the insert run in one transaction on
        // the single writer: two racing sends with the same client_txn_id cannot both
        // insert, and a member removed a moment ago cannot slip a message in.
        in_writer!(self, (), conn => tx::append_message(conn, &new))
    }

    async fn message(&self, id: &MessageId) -> StoreResult<Option<Message>> {
        in_reader!(self, (id), conn => reads::message(conn, &id))
    }

    async fn messages(
        &self,
        conversation: &ConversationId,
        before: Option<i64>,
        after: Option<i64>,
        limit: i64,
    ) -> StoreResult<MessagePage> {
        in_reader!(self, (conversation), conn => reads::messages(conn, &conversation, before, after, limit))
    }
}
