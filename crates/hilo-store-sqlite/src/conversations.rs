//! Conversations, membership, member settings and read markers.

use async_trait::async_trait;
use hilo_core::{
    Conversation, ConversationId, ConversationView, EventKind, Folder, Timestamp, UserId,
};
use hilo_store::{
    ConversationPage, ConversationStore, Delivery, MemberSettingsPatch, MembershipChange, NewGroup,
    StoreError, StoreResult,
};

use crate::tx::{insert_member, member_users, record, require_member, touch};
use crate::{SqliteStore, db_error, events, reads};

#[async_trait]
impl ConversationStore for SqliteStore {
    async fn find_or_create_direct(
        &self,
        id: ConversationId,
        a: &UserId,
        b: &UserId,
        now: Timestamp,
    ) -> StoreResult<(ConversationId, bool, Vec<Delivery>)> {
        let (low, high) = if a <= b {
            (a.clone(), b.clone())
        } else {
            (b.clone(), a.clone())
        };
        let key = hilo_store::sql::direct_key(&low, &high);
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let existing: Option<String> =
                        sqlx::query_scalar("SELECT id FROM conversations WHERE direct_key = ?")
                            .bind(&key)
                            .fetch_optional(&mut *conn)
                            .await
                            .map_err(db_error)?;
                    if let Some(existing) = existing {
                        return Ok((ConversationId::new(existing), false, Vec::new()));
                    }
                    sqlx::query("INSERT INTO conversations (id, kind, direct_key, created_at, updated_at) VALUES (?, 'direct', ?, ?, ?)")
                        .bind(id.as_str())
                        .bind(&key)
                        .bind(now.millis())
                        .bind(now.millis())
                        .execute(&mut *conn)
                        .await
                        .map_err(db_error)?;
                    let mut members = vec![low.clone()];
                    if high != low {
                        members.push(high.clone());
                    }
                    for user in &members {
                        insert_member(conn, &id, user, "member", now).await?;
                    }
                    let deliveries = events::append(
                        conn,
                        &members,
                        &record(EventKind::ConversationCreated, &id),
                        now,
                    )
                    .await?;
                    Ok((id, true, deliveries))
                })
            })
            .await
    }

    async fn create_group(&self, group: NewGroup) -> StoreResult<(ConversationId, Vec<Delivery>)> {
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    sqlx::query("INSERT INTO conversations (id, kind, name, created_at, updated_at) VALUES (?, 'group', ?, ?, ?)")
                        .bind(group.id.as_str())
                        .bind(&group.name)
                        .bind(group.now.millis())
                        .bind(group.now.millis())
                        .execute(&mut *conn)
                        .await
                        .map_err(db_error)?;
                    insert_member(conn, &group.id, &group.creator, "admin", group.now).await?;
                    for user in group.members.iter().filter(|u| **u != group.creator) {
                        insert_member(conn, &group.id, user, "member", group.now).await?;
                    }
                    let members = member_users(conn, &group.id).await?;
                    let deliveries = events::append(
                        conn,
                        &members,
                        &record(EventKind::ConversationCreated, &group.id),
                        group.now,
                    )
                    .await?;
                    Ok((group.id, deliveries))
                })
            })
            .await
    }

    async fn conversation(&self, id: &ConversationId) -> StoreResult<Option<Conversation>> {
        reads::conversation(&self.read, id).await
    }

    async fn conversation_view(
        &self,
        id: &ConversationId,
        user: &UserId,
    ) -> StoreResult<Option<ConversationView>> {
        reads::conversation_view(&self.read, id, user).await
    }

    async fn list_conversations(
        &self,
        user: &UserId,
        folder: Folder,
        after: Option<(Timestamp, ConversationId)>,
        limit: i64,
    ) -> StoreResult<ConversationPage> {
        reads::list_conversations(&self.read, user, folder, after, limit).await
    }

    async fn rename_group(
        &self,
        id: &ConversationId,
        actor: &UserId,
        name: &str,
        now: Timestamp,
    ) -> StoreResult<Vec<Delivery>> {
        let (id, actor, name) = (id.clone(), actor.clone(), name.to_owned());
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    require_member(conn, &id, &actor).await?;
                    let done = sqlx::query(
                        "UPDATE conversations SET name = ? WHERE id = ? AND kind = 'group'",
                    )
                    .bind(&name)
                    .bind(id.as_str())
                    .execute(&mut *conn)
                    .await
                    .map_err(db_error)?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::NotFound);
                    }
                    touch(conn, &id, now).await?;
                    let members = member_users(conn, &id).await?;
                    events::append(
                        conn,
                        &members,
                        &record(EventKind::ConversationUpdated, &id),
                        now,
                    )
                    .await
                })
            })
            .await
    }

    async fn add_members(
        &self,
        id: &ConversationId,
        actor: &UserId,
        users: &[UserId],
        max_members: usize,
        now: Timestamp,
    ) -> StoreResult<MembershipChange> {
        let (id, actor, users) = (id.clone(), actor.clone(), users.to_vec());
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    require_member(conn, &id, &actor).await?;
                    let before = member_users(conn, &id).await?;
                    let newcomers = users.iter().filter(|u| !before.contains(u)).collect::<std::collections::BTreeSet<_>>().len();
                    if before.len() + newcomers > max_members {
                        return Err(StoreError::Conflict("too_many_members"));
                    }
                    let mut added = Vec::new();
                    for user in users {
                        if before.contains(&user) || added.contains(&user) {
                            continue;
                        }
                        // A former member rejoins through their old row (keeping their read
                        // marker); anyone else gets a new one.
                        let rejoined = sqlx::query("UPDATE members SET left_at = NULL, joined_at = ?, role = 'member', folder = 'inbox' WHERE conversation_id = ? AND user_id = ? AND left_at IS NOT NULL")
                            .bind(now.millis())
                            .bind(id.as_str())
                            .bind(user.as_str())
                            .execute(&mut *conn)
                            .await
                            .map_err(db_error)?;
                        if rejoined.rows_affected() == 0 {
                            insert_member(conn, &id, &user, "member", now).await?;
                        }
                        added.push(user);
                    }
                    if added.is_empty() {
                        return Ok(MembershipChange::default());
                    }
                    touch(conn, &id, now).await?;
                    let mut deliveries = events::append(conn, &added, &record(EventKind::ConversationCreated, &id), now).await?;
                    deliveries.extend(events::append(conn, &before, &record(EventKind::ConversationUpdated, &id), now).await?);
                    Ok(MembershipChange { changed: added, deliveries })
                })
            })
            .await
    }

    async fn remove_member(
        &self,
        id: &ConversationId,
        actor: &UserId,
        user: &UserId,
        now: Timestamp,
    ) -> StoreResult<MembershipChange> {
        let (id, actor, user) = (id.clone(), actor.clone(), user.clone());
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let actor_role = require_member(conn, &id, &actor).await?;
                    if actor != user && actor_role != "admin" {
                        return Err(StoreError::Conflict("not_group_admin"));
                    }
                    let role: Option<String> = sqlx::query_scalar("UPDATE members SET left_at = ? WHERE conversation_id = ? AND user_id = ? AND left_at IS NULL RETURNING role")
                        .bind(now.millis())
                        .bind(id.as_str())
                        .bind(user.as_str())
                        .fetch_optional(&mut *conn)
                        .await
                        .map_err(db_error)?;
                    let Some(role) = role else { return Ok(MembershipChange::default()) };
                    if role == "admin" {
                        // A group is never left without an admin: the longest-standing member
                        // takes over when the last one goes.
                        sqlx::query("UPDATE members SET role = 'admin' WHERE rowid = (SELECT rowid FROM members WHERE conversation_id = ?1 AND left_at IS NULL AND user_id IS NOT NULL ORDER BY joined_at, rowid LIMIT 1) AND NOT EXISTS (SELECT 1 FROM members WHERE conversation_id = ?1 AND left_at IS NULL AND role = 'admin')")
                            .bind(id.as_str())
                            .execute(&mut *conn)
                            .await
                            .map_err(db_error)?;
                    }
                    touch(conn, &id, now).await?;
                    let mut affected = member_users(conn, &id).await?;
                    affected.push(user.clone());
                    let mut event = record(EventKind::ConversationUpdated, &id);
                    event.subject_user_id = Some(user.clone());
                    let deliveries = events::append(conn, &affected, &event, now).await?;
                    Ok(MembershipChange { changed: vec![user], deliveries })
                })
            })
            .await
    }

    async fn update_member_settings(
        &self,
        id: &ConversationId,
        user: &UserId,
        patch: MemberSettingsPatch,
        now: Timestamp,
    ) -> StoreResult<Option<Delivery>> {
        let (id, user) = (id.clone(), user.clone());
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let done = sqlx::query(
                        "UPDATE members SET folder = coalesce(?, folder), notify = coalesce(?, notify), muted_until = CASE WHEN ? THEN ? ELSE muted_until END WHERE conversation_id = ? AND user_id = ? AND left_at IS NULL",
                    )
                    .bind(patch.folder.map(|f| f.as_str()))
                    .bind(patch.notify.map(|n| n.as_str()))
                    .bind(patch.muted_until.is_some())
                    .bind(patch.muted_until.flatten().map(|t| t.millis()))
                    .bind(id.as_str())
                    .bind(user.as_str())
                    .execute(&mut *conn)
                    .await
                    .map_err(db_error)?;
                    if done.rows_affected() == 0 {
                        return Ok(None);
                    }
                    let mut deliveries = events::append(conn, std::slice::from_ref(&user), &record(EventKind::ConversationUpdated, &id), now).await?;
                    Ok(deliveries.pop())
                })
            })
            .await
    }

    async fn mark_read(
        &self,
        id: &ConversationId,
        user: &UserId,
        seq: i64,
        share: bool,
        now: Timestamp,
    ) -> StoreResult<(i64, Vec<Delivery>)> {
        let (id, user) = (id.clone(), user.clone());
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let current: Option<(i64, i64)> = sqlx::query_as(
                        "SELECT m.last_read_seq, c.last_seq FROM members m JOIN conversations c ON c.id = m.conversation_id WHERE m.conversation_id = ? AND m.user_id = ? AND m.left_at IS NULL",
                    )
                    .bind(id.as_str())
                    .bind(user.as_str())
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(db_error)?;
                    let Some((last_read, last_seq)) = current else { return Err(StoreError::NotFound) };
                    let target = seq.min(last_seq);
                    if target <= last_read {
                        return Ok((last_read, Vec::new()));
                    }
                    sqlx::query("UPDATE members SET last_read_seq = ? WHERE conversation_id = ? AND user_id = ?")
                        .bind(target)
                        .bind(id.as_str())
                        .bind(user.as_str())
                        .execute(&mut *conn)
                        .await
                        .map_err(db_error)?;
                    let recipients = if share { member_users(conn, &id).await? } else { vec![user.clone()] };
                    let mut event = record(EventKind::Read, &id);
                    event.subject_user_id = Some(user.clone());
                    event.number = Some(target);
                    let deliveries = events::append(conn, &recipients, &event, now).await?;
                    Ok((target, deliveries))
                })
            })
            .await
    }
}
