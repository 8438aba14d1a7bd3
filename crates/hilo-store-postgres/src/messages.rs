//! Messages: the gap-free, idempotent append (the shared body in one transaction),
//! changes to existing messages, and history pages.

use async_trait::async_trait;
use hilo_core::search::index_terms;
use hilo_core::{ConversationId, Message, MessageId, Timestamp, UserId};
use hilo_store::{
    AppendOutcome, Delivery, MailJob, MailOutcome, MessageChange, MessagePage, MessageSearch,
    MessageStore, MessageVersion, NewContactDirect, NewMessage, NewReceived, ReceivedVia,
    SearchPage, StoreResult, ThreadMail,
};

use crate::{PostgresStore, reads, rows, search, tx};

#[async_trait]
impl MessageStore for PostgresStore {
    async fn append_message(&self, new: NewMessage) -> StoreResult<AppendOutcome> {
        // Committed (durably: synchronous_commit is on by default) before the caller
        // acknowledges the send.
        let terms = index_terms(new.text.as_deref());
        in_transaction!(self, conn => tx::append_message(conn, &new, &terms))
    }

    async fn append_received(&self, new: NewReceived) -> StoreResult<(AppendOutcome, bool)> {
        let subject = match &new.via {
            ReceivedVia::Email(email) => email.meta.subject.as_deref().unwrap_or(""),
            ReceivedVia::Sms(_) => "",
        };
        let terms = index_terms([subject, new.text.as_str()]);
        in_transaction!(self, conn => tx::append_received(conn, &new, &terms))
    }

    async fn open_contact_direct(
        &self,
        open: NewContactDirect,
    ) -> StoreResult<(ConversationId, bool, Vec<Delivery>)> {
        in_transaction!(self, conn => tx::open_contact_direct(conn, &open))
    }

    async fn claim_mail(
        &self,
        now: Timestamp,
        lease_ms: i64,
        limit: i64,
    ) -> StoreResult<Vec<MailJob>> {
        in_transaction!(self, conn => tx::claim_outbound(conn, "email", now, lease_ms, limit))
    }

    async fn thread_mail(
        &self,
        conversation: &ConversationId,
        limit: i64,
    ) -> StoreResult<Vec<ThreadMail>> {
        let rows = sqlx::query(crate::rows::THREAD_MAIL)
            .bind(conversation.as_str())
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(crate::db_error)?;
        rows.iter().map(crate::decode::thread_mail).collect()
    }

    async fn finish_mail(
        &self,
        message: &MessageId,
        outcome: MailOutcome,
    ) -> StoreResult<Vec<Delivery>> {
        in_transaction!(self, conn => tx::finish_mail(conn, message, &outcome))
    }

    async fn message(
        &self,
        id: &MessageId,
        viewer: Option<&UserId>,
    ) -> StoreResult<Option<Message>> {
        reads::message(&self.pool, id, viewer).await
    }

    async fn messages(
        &self,
        conversation: &ConversationId,
        viewer: &UserId,
        before: Option<i64>,
        after: Option<i64>,
        limit: i64,
    ) -> StoreResult<MessagePage> {
        reads::messages(&self.pool, conversation, viewer, before, after, limit).await
    }

    async fn edit_message(
        &self,
        id: &MessageId,
        editor: &UserId,
        text: &str,
        mentions: &[UserId],
        now: Timestamp,
    ) -> StoreResult<MessageChange> {
        in_transaction!(self, conn => tx::edit_message(conn, id, editor, text, mentions, index_terms([text]), now))
    }

    async fn delete_message(
        &self,
        id: &MessageId,
        actor: Option<&UserId>,
        now: Timestamp,
    ) -> StoreResult<MessageChange> {
        in_transaction!(self, conn => tx::delete_message(conn, id, actor, now))
    }

    async fn react(
        &self,
        id: &MessageId,
        user: &UserId,
        emoji: &str,
        add: bool,
        max_per_user: usize,
        now: Timestamp,
    ) -> StoreResult<MessageChange> {
        in_transaction!(self, conn => tx::react(conn, id, user, emoji, add, max_per_user, now))
    }

    async fn hide_message(
        &self,
        id: &MessageId,
        user: &UserId,
        now: Timestamp,
    ) -> StoreResult<Option<(Message, Option<Delivery>)>> {
        in_transaction!(self, conn => tx::hide_message(conn, id, user, now))
    }

    async fn message_versions(&self, id: &MessageId) -> StoreResult<Vec<MessageVersion>> {
        reads::message_versions(&self.pool, id).await
    }

    async fn email_body(&self, id: &MessageId) -> StoreResult<Option<(String, Option<String>)>> {
        sqlx::query_as(rows::EMAIL_BODY)
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(crate::db_error)
    }

    async fn search_messages(&self, search: MessageSearch) -> StoreResult<SearchPage> {
        search::search(&self.pool, &search).await
    }
}
