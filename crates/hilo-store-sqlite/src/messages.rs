//! Messages: the gap-free, idempotent append (the shared body, on the single writer),
//! changes to existing messages, and history pages.

use async_trait::async_trait;
use hilo_core::search::index_terms;
use hilo_core::{ConversationId, Message, MessageId, Timestamp, UserId};
use hilo_store::{
    AppendOutcome, Delivery, MailJob, MailOutcome, MessageChange, MessagePage, MessageSearch,
    MessageStore, MessageVersion, NewContactDirect, NewMessage, NewReceived, ReceivedVia,
    SearchPage, StoreResult, ThreadMail,
};

use crate::{SqliteStore, reads, rows, search, tx};

#[async_trait]
impl MessageStore for SqliteStore {
    async fn append_message(&self, new: NewMessage) -> StoreResult<AppendOutcome> {
        // The repeat check, the membership check and the insert run in one transaction on
        // the single writer: two racing sends with the same client_txn_id cannot both
        // insert, and a member removed a moment ago cannot slip a message in.
        // The terms are made here, off the single writer.
        let terms = index_terms(new.text.as_deref());
        in_writer!(self, (), conn => tx::append_message(conn, &new, &terms))
    }

    async fn append_received(&self, new: NewReceived) -> StoreResult<(AppendOutcome, bool)> {
        let subject = match &new.via {
            ReceivedVia::Email(email) => email.meta.subject.as_deref().unwrap_or(""),
            ReceivedVia::Sms(_) => "",
        };
        let terms = index_terms([subject, new.text.as_str()]);
        in_writer!(self, (), conn => tx::append_received(conn, &new, &terms))
    }

    async fn open_contact_direct(
        &self,
        open: NewContactDirect,
    ) -> StoreResult<(ConversationId, bool, Vec<Delivery>)> {
        in_writer!(self, (), conn => tx::open_contact_direct(conn, &open))
    }

    async fn claim_mail(
        &self,
        now: Timestamp,
        lease_ms: i64,
        limit: i64,
    ) -> StoreResult<Vec<MailJob>> {
        in_writer!(self, (), conn => tx::claim_outbound(conn, "email", now, lease_ms, limit))
    }

    async fn thread_mail(
        &self,
        conversation: &ConversationId,
        limit: i64,
    ) -> StoreResult<Vec<ThreadMail>> {
        in_reader!(self, (conversation), conn => crate::db::all(
            conn,
            rows::THREAD_MAIL,
            rusqlite::params![conversation.as_str(), limit],
            |row| hilo_store::sql::thread_mail(row),
        ))
    }

    async fn finish_mail(
        &self,
        message: &MessageId,
        outcome: MailOutcome,
    ) -> StoreResult<Vec<Delivery>> {
        in_writer!(self, (message), conn => tx::finish_mail(conn, &message, &outcome))
    }

    async fn message(
        &self,
        id: &MessageId,
        viewer: Option<&UserId>,
    ) -> StoreResult<Option<Message>> {
        let viewer = viewer.cloned();
        in_reader!(self, (id), conn => reads::message(conn, &id, viewer.as_ref()))
    }

    async fn messages(
        &self,
        conversation: &ConversationId,
        viewer: &UserId,
        before: Option<i64>,
        after: Option<i64>,
        limit: i64,
    ) -> StoreResult<MessagePage> {
        in_reader!(self, (conversation, viewer), conn => reads::messages(conn, &conversation, &viewer, before, after, limit))
    }

    async fn edit_message(
        &self,
        id: &MessageId,
        editor: &UserId,
        text: &str,
        mentions: &[UserId],
        now: Timestamp,
    ) -> StoreResult<MessageChange> {
        let terms = index_terms([text]);
        in_writer!(self, (id, editor, text, mentions), conn => tx::edit_message(conn, &id, &editor, &text, &mentions, &terms, now))
    }

    async fn delete_message(
        &self,
        id: &MessageId,
        actor: Option<&UserId>,
        now: Timestamp,
    ) -> StoreResult<MessageChange> {
        let actor = actor.cloned();
        in_writer!(self, (id), conn => tx::delete_message(conn, &id, actor.as_ref(), now))
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
        in_writer!(self, (id, user, emoji), conn => tx::react(conn, &id, &user, &emoji, add, max_per_user, now))
    }

    async fn hide_message(
        &self,
        id: &MessageId,
        user: &UserId,
        now: Timestamp,
    ) -> StoreResult<Option<(Message, Option<Delivery>)>> {
        in_writer!(self, (id, user), conn => tx::hide_message(conn, &id, &user, now))
    }

    async fn message_versions(&self, id: &MessageId) -> StoreResult<Vec<MessageVersion>> {
        in_reader!(self, (id), conn => reads::message_versions(conn, &id))
    }

    async fn email_body(&self, id: &MessageId) -> StoreResult<Option<(String, Option<String>)>> {
        use hilo_store::sql::Columns as _;
        in_reader!(self, (id), conn => crate::db::one(conn, rows::EMAIL_BODY, [id.as_str()], |row| {
            Ok((row.text("full_text")?, row.opt_text("html")?))
        }))
    }

    async fn search_messages(&self, search: MessageSearch) -> StoreResult<SearchPage> {
        in_reader!(self, (), conn => crate::db::in_snapshot(conn, |conn| search::search(conn, &search)))
    }
}
