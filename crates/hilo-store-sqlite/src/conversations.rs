//! Conversations, membership, member settings and read markers: each write is a job on
//! the single writer running its shared body (`tx`), each read a shared query (`reads`).

use async_trait::async_trait;
use hilo_core::{Conversation, ConversationId, ConversationView, Folder, Timestamp, UserId};
use hilo_store::sql::Columns as _;
use hilo_store::{
    ConversationPage, ConversationStore, Delivery, MemberPlace, MemberSettingsPatch,
    MembershipChange, NewGroup, NewMemberContact, StoreResult,
};

use crate::{SqliteStore, reads, tx};

#[async_trait]
impl ConversationStore for SqliteStore {
    async fn find_or_create_direct(
        &self,
        id: ConversationId,
        a: &UserId,
        b: &UserId,
        now: Timestamp,
    ) -> StoreResult<(ConversationId, bool, Vec<Delivery>)> {
        let (low, high) = if a <= b { (a, b) } else { (b, a) };
        in_writer!(self, (low, high, a), conn => tx::find_or_create_direct(conn, &id, &low, &high, &a, now))
    }

    async fn create_group(&self, group: NewGroup) -> StoreResult<(ConversationId, Vec<Delivery>)> {
        in_writer!(self, (), conn => {
            let deliveries = tx::create_group(conn, &group)?;
            Ok((group.id, deliveries))
        })
    }

    async fn conversation(&self, id: &ConversationId) -> StoreResult<Option<Conversation>> {
        in_reader!(self, (id), conn => reads::conversation(conn, &id))
    }

    async fn conversation_view(
        &self,
        id: &ConversationId,
        user: &UserId,
    ) -> StoreResult<Option<ConversationView>> {
        in_reader!(self, (id, user), conn => crate::db::in_snapshot(conn, |conn| reads::conversation_view(conn, &id, &user)))
    }

    async fn list_conversations(
        &self,
        user: &UserId,
        folder: Folder,
        pinned: bool,
        after: Option<(Timestamp, ConversationId)>,
        limit: i64,
    ) -> StoreResult<ConversationPage> {
        in_reader!(self, (user), conn => crate::db::in_snapshot(conn, |conn| reads::list_conversations(conn, &user, folder, pinned, after, limit)))
    }

    async fn first_page(
        &self,
        user: &UserId,
        folder: Folder,
        pinned_max: i64,
        limit: i64,
    ) -> StoreResult<ConversationPage> {
        in_reader!(self, (user), conn => crate::db::in_snapshot(conn, |conn| reads::first_page(conn, &user, folder, pinned_max, limit)))
    }

    async fn rename_group(
        &self,
        id: &ConversationId,
        actor: &UserId,
        name: &str,
        now: Timestamp,
    ) -> StoreResult<Vec<Delivery>> {
        in_writer!(self, (id, actor, name), conn => tx::rename_group(conn, &id, &actor, &name, now))
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
        in_writer!(self, (id, actor, users, contacts), conn => tx::add_members(conn, &id, &actor, &users, &contacts, max_members, now))
    }

    async fn remove_contact(
        &self,
        id: &ConversationId,
        actor: Option<&UserId>,
        address: &str,
        now: Timestamp,
    ) -> StoreResult<MembershipChange> {
        let actor = actor.cloned();
        in_writer!(self, (id, address), conn => tx::remove_contact(conn, &id, actor.as_ref(), &address, now))
    }

    async fn remove_member(
        &self,
        id: &ConversationId,
        actor: &UserId,
        user: &UserId,
        now: Timestamp,
    ) -> StoreResult<MembershipChange> {
        in_writer!(self, (id, actor, user), conn => tx::remove_member(conn, &id, &actor, &user, now))
    }

    async fn update_member_settings(
        &self,
        id: &ConversationId,
        user: &UserId,
        patch: MemberSettingsPatch,
        now: Timestamp,
    ) -> StoreResult<Option<Delivery>> {
        in_writer!(self, (id, user), conn => tx::update_member_settings(conn, &id, &user, &patch, now))
    }

    async fn clear_conversation(
        &self,
        id: &ConversationId,
        user: &UserId,
        now: Timestamp,
    ) -> StoreResult<Option<Delivery>> {
        in_writer!(self, (id, user), conn => tx::clear_conversation(conn, &id, &user, now))
    }

    async fn direct_peer(
        &self,
        id: &ConversationId,
        user: &UserId,
    ) -> StoreResult<Option<(UserId, Folder)>> {
        in_reader!(self, (id, user), conn => crate::db::one(conn, crate::rows::DIRECT_PEER, [id.as_str(), user.as_str()], |row| {
            Ok((UserId::new(row.text("user_id")?), hilo_store::sql::folder(row)?))
        }))
    }

    async fn member_place(
        &self,
        id: &ConversationId,
        user: &UserId,
    ) -> StoreResult<Option<MemberPlace>> {
        in_reader!(self, (id, user), conn => crate::db::one(conn, crate::rows::MEMBER_PLACE, [id.as_str(), user.as_str()], |row| hilo_store::sql::member_place(row)))
    }

    async fn co_members(&self, user: &UserId) -> StoreResult<Vec<UserId>> {
        in_reader!(self, (user), conn => {
            let ids: Vec<String> = crate::db::column(conn, crate::rows::CO_MEMBERS, [user.as_str()])?;
            Ok(ids.into_iter().map(UserId::new).collect())
        })
    }

    async fn receipts(&self, id: &ConversationId) -> StoreResult<Vec<hilo_store::Receipt>> {
        in_reader!(self, (id), conn => reads::receipts(conn, &id))
    }

    async fn mark_delivered(
        &self,
        id: &ConversationId,
        user: &UserId,
        seq: i64,
        now: Timestamp,
    ) -> StoreResult<Vec<Delivery>> {
        in_writer!(self, (id, user), conn => tx::mark_delivered(conn, &id, &user, seq, now))
    }

    async fn mark_read(
        &self,
        id: &ConversationId,
        user: &UserId,
        seq: i64,
        share: bool,
        now: Timestamp,
    ) -> StoreResult<(i64, Vec<Delivery>)> {
        in_writer!(self, (id, user), conn => tx::mark_read(conn, &id, &user, seq, share, now))
    }
}
