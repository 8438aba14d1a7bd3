//! Conversations, membership, member settings and read markers: each write is one
//! transaction around its shared body (`tx`), each read a shared query (`reads`).

use async_trait::async_trait;
use hilo_core::{Conversation, ConversationId, ConversationView, Folder, Timestamp, UserId};
use hilo_store::{
    ConversationPage, ConversationStore, Delivery, MemberPlace, MemberSettingsPatch,
    MembershipChange, NewGroup, NewMemberContact, StoreResult,
};

use crate::{PostgresStore, reads, tx};

#[async_trait]
impl ConversationStore for PostgresStore {
    async fn find_or_create_direct(
        &self,
        id: ConversationId,
        a: &UserId,
        b: &UserId,
        now: Timestamp,
    ) -> StoreResult<(ConversationId, bool, Vec<Delivery>)> {
        let (low, high) = if a <= b { (a, b) } else { (b, a) };
        in_transaction!(self, conn => tx::find_or_create_direct(conn, &id, low, high, a, now))
    }

    async fn create_group(&self, group: NewGroup) -> StoreResult<(ConversationId, Vec<Delivery>)> {
        let deliveries = in_transaction!(self, conn => tx::create_group(conn, &group))?;
        Ok((group.id, deliveries))
    }

    async fn conversation(&self, id: &ConversationId) -> StoreResult<Option<Conversation>> {
        reads::conversation(&self.pool, id).await
    }

    async fn conversation_view(
        &self,
        id: &ConversationId,
        user: &UserId,
    ) -> StoreResult<Option<ConversationView>> {
        reads::conversation_view(&self.pool, id, user).await
    }

    async fn list_conversations(
        &self,
        user: &UserId,
        folder: Folder,
        pinned: bool,
        after: Option<(Timestamp, ConversationId)>,
        limit: i64,
    ) -> StoreResult<ConversationPage> {
        reads::list_conversations(&self.pool, user, folder, pinned, after, limit).await
    }

    async fn first_page(
        &self,
        user: &UserId,
        folder: Folder,
        pinned_max: i64,
        limit: i64,
    ) -> StoreResult<ConversationPage> {
        reads::first_page(&self.pool, user, folder, pinned_max, limit).await
    }

    async fn rename_group(
        &self,
        id: &ConversationId,
        actor: &UserId,
        name: &str,
        now: Timestamp,
    ) -> StoreResult<Vec<Delivery>> {
        in_transaction!(self, conn => tx::rename_group(conn, id, actor, name, now))
    }

    async fn add_members(
        &self,
        id: &ConversationId,
        actor: &UserId,
        users: &[UserId],
        contacts: &[NewMemberContact],
        max_members: usize,
        now: Timestamp,
    ) -> StoreResult<MembershipChange> {
        in_transaction!(self, conn => tx::add_members(conn, id, actor, users, contacts, max_members, now))
    }

    async fn remove_contact(
        &self,
        id: &ConversationId,
        actor: Option<&UserId>,
        address: &str,
        now: Timestamp,
    ) -> StoreResult<MembershipChange> {
        in_transaction!(self, conn => tx::remove_contact(conn, id, actor, address, now))
    }

    async fn remove_member(
        &self,
        id: &ConversationId,
        actor: &UserId,
        user: &UserId,
        now: Timestamp,
    ) -> StoreResult<MembershipChange> {
        in_transaction!(self, conn => tx::remove_member(conn, id, actor, user, now))
    }

    async fn update_member_settings(
        &self,
        id: &ConversationId,
        user: &UserId,
        patch: MemberSettingsPatch,
        now: Timestamp,
    ) -> StoreResult<Option<Delivery>> {
        in_transaction!(self, conn => tx::update_member_settings(conn, id, user, &patch, now))
    }

    async fn clear_conversation(
        &self,
        id: &ConversationId,
        user: &UserId,
        now: Timestamp,
    ) -> StoreResult<Option<Delivery>> {
        in_transaction!(self, conn => tx::clear_conversation(conn, id, user, now))
    }

    async fn direct_peer(
        &self,
        id: &ConversationId,
        user: &UserId,
    ) -> StoreResult<Option<(UserId, Folder)>> {
        let row = sqlx::query(crate::rows::DIRECT_PEER)
            .bind(id.as_str())
            .bind(user.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(crate::db_error)?;
        row.map(|row| {
            Ok((
                UserId::new(crate::decode::text(&row, "user_id")?),
                crate::decode::folder(&row)?,
            ))
        })
        .transpose()
    }

    async fn member_place(
        &self,
        id: &ConversationId,
        user: &UserId,
    ) -> StoreResult<Option<MemberPlace>> {
        let row = sqlx::query(crate::rows::MEMBER_PLACE)
            .bind(id.as_str())
            .bind(user.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(crate::db_error)?;
        row.as_ref().map(crate::decode::member_place).transpose()
    }

    async fn co_members(&self, user: &UserId) -> StoreResult<Vec<UserId>> {
        let ids: Vec<String> = sqlx::query_scalar(crate::rows::CO_MEMBERS)
            .bind(user.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(crate::db_error)?;
        Ok(ids.into_iter().map(UserId::new).collect())
    }

    async fn receipts(&self, id: &ConversationId) -> StoreResult<Vec<hilo_store::Receipt>> {
        reads::receipts(&self.pool, id).await
    }

    async fn mark_delivered(
        &self,
        id: &ConversationId,
        user: &UserId,
        seq: i64,
        now: Timestamp,
    ) -> StoreResult<Vec<Delivery>> {
        in_transaction!(self, conn => tx::mark_delivered(conn, id, user, seq, now))
    }

    async fn mark_read(
        &self,
        id: &ConversationId,
        user: &UserId,
        seq: i64,
        share: bool,
        now: Timestamp,
    ) -> StoreResult<(i64, Vec<Delivery>)> {
        in_transaction!(self, conn => tx::mark_read(conn, id, user, seq, share, now))
    }
}
