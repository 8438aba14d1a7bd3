//! Conversations, membership, member settings and read markers.

use async_trait::async_trait;
use hilo_core::{
    Conversation, ConversationId, ConversationView, EventKind, Folder, Timestamp, UserId,
};
use hilo_store::{
    ConversationPage, ConversationStore, Delivery, MemberSettingsPatch, MembershipChange, NewGroup,
    StoreError, StoreResult,
};
use sqlx::PgConnection;

use crate::tx::{insert_member, member_users, record, require_member, touch};
use crate::{PostgresStore, db_error, events, reads};

/// Locks a conversation's row, the first lock of any write to it (see the crate docs);
/// returns its kind, or `None` when it does not exist.
pub(crate) async fn lock_conversation(
    conn: &mut PgConnection,
    id: &ConversationId,
) -> StoreResult<Option<String>> {
    sqlx::query_scalar("SELECT kind FROM conversations WHERE id = $1 FOR NO KEY UPDATE")
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)
}

/// Locks the conversation, then returns the actor's role if they are a current member;
/// `NotFound` otherwise. A permission the service checked still holds when the write runs.
async fn lock_as_member(
    conn: &mut PgConnection,
    id: &ConversationId,
    actor: &UserId,
) -> StoreResult<String> {
    lock_conversation(conn, id)
        .await?
        .ok_or(StoreError::NotFound)?;
    require_member(conn, id, actor).await
}

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
        let key = hilo_store::sql::direct_key(low, high);
        let mut tx = self.begin().await?;
        // Two nodes creating the same pair at once: the second INSERT waits for the first
        // transaction, then does nothing, and the SELECT (a new snapshot) finds its row.
        let created: Option<String> = sqlx::query_scalar("INSERT INTO conversations (id, kind, direct_key, created_at, updated_at) VALUES ($1, 'direct', $2, $3, $3) ON CONFLICT (direct_key) DO NOTHING RETURNING id")
            .bind(id.as_str())
            .bind(&key)
            .bind(now.millis())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_error)?;
        if created.is_none() {
            let existing: String =
                sqlx::query_scalar("SELECT id FROM conversations WHERE direct_key = $1")
                    .bind(&key)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_error)?;
            return Ok((ConversationId::new(existing), false, Vec::new()));
        }
        let mut members = vec![low.clone()];
        if high != low {
            members.push(high.clone());
        }
        for user in &members {
            insert_member(&mut tx, &id, user, "member", now).await?;
        }
        let deliveries = events::append(
            &mut tx,
            &members,
            &record(EventKind::ConversationCreated, &id),
            now,
        )
        .await?;
        tx.commit().await.map_err(db_error)?;
        Ok((id, true, deliveries))
    }

    async fn create_group(&self, group: NewGroup) -> StoreResult<(ConversationId, Vec<Delivery>)> {
        let mut tx = self.begin().await?;
        sqlx::query("INSERT INTO conversations (id, kind, name, created_at, updated_at) VALUES ($1, 'group', $2, $3, $3)")
            .bind(group.id.as_str())
            .bind(&group.name)
            .bind(group.now.millis())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        insert_member(&mut tx, &group.id, &group.creator, "admin", group.now).await?;
        for user in group.members.iter().filter(|u| **u != group.creator) {
            insert_member(&mut tx, &group.id, user, "member", group.now).await?;
        }
        let members = member_users(&mut tx, &group.id).await?;
        let deliveries = events::append(
            &mut tx,
            &members,
            &record(EventKind::ConversationCreated, &group.id),
            group.now,
        )
        .await?;
        tx.commit().await.map_err(db_error)?;
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
        after: Option<(Timestamp, ConversationId)>,
        limit: i64,
    ) -> StoreResult<ConversationPage> {
        reads::list_conversations(&self.pool, user, folder, after, limit).await
    }

    async fn rename_group(
        &self,
        id: &ConversationId,
        actor: &UserId,
        name: &str,
        now: Timestamp,
    ) -> StoreResult<Vec<Delivery>> {
        let mut tx = self.begin().await?;
        lock_as_member(&mut tx, id, actor).await?;
        let done = sqlx::query(
            "UPDATE conversations SET name = $1, updated_at = GREATEST(updated_at, $2) WHERE id = $3 AND kind = 'group'",
        )
        .bind(name)
        .bind(now.millis())
        .bind(id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let members = member_users(&mut tx, id).await?;
        let deliveries = events::append(
            &mut tx,
            &members,
            &record(EventKind::ConversationUpdated, id),
            now,
        )
        .await?;
        tx.commit().await.map_err(db_error)?;
        Ok(deliveries)
    }

    async fn add_members(
        &self,
        id: &ConversationId,
        actor: &UserId,
        users: &[UserId],
        max_members: usize,
        now: Timestamp,
    ) -> StoreResult<MembershipChange> {
        let mut tx = self.begin().await?;
        lock_as_member(&mut tx, id, actor).await?;
        let before = member_users(&mut tx, id).await?;
        let mut added: Vec<UserId> = Vec::new();
        for user in users {
            if !before.contains(user) && !added.contains(user) {
                added.push(user.clone());
            }
        }
        if before.len() + added.len() > max_members {
            return Err(StoreError::Conflict("too_many_members"));
        }
        if added.is_empty() {
            return Ok(MembershipChange::default());
        }
        for user in &added {
            // A former member rejoins through their old row (keeping their read marker);
            // anyone else gets a new one.
            let rejoined = sqlx::query("UPDATE members SET left_at = NULL, joined_at = $1, role = 'member', folder = 'inbox' WHERE conversation_id = $2 AND user_id = $3 AND left_at IS NOT NULL")
                .bind(now.millis())
                .bind(id.as_str())
                .bind(user.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
            if rejoined.rows_affected() == 0 {
                insert_member(&mut tx, id, user, "member", now).await?;
            }
        }
        touch(&mut tx, id, now).await?;
        // Two appends below: lock every affected user in one sorted batch first.
        let everyone: Vec<UserId> = added.iter().chain(&before).cloned().collect();
        events::lock_users(&mut tx, &everyone).await?;
        let mut deliveries = events::append(
            &mut tx,
            &added,
            &record(EventKind::ConversationCreated, id),
            now,
        )
        .await?;
        deliveries.extend(
            events::append(
                &mut tx,
                &before,
                &record(EventKind::ConversationUpdated, id),
                now,
            )
            .await?,
        );
        tx.commit().await.map_err(db_error)?;
        Ok(MembershipChange {
            changed: added,
            deliveries,
        })
    }

    async fn remove_member(
        &self,
        id: &ConversationId,
        actor: &UserId,
        user: &UserId,
        now: Timestamp,
    ) -> StoreResult<MembershipChange> {
        let mut tx = self.begin().await?;
        let actor_role = lock_as_member(&mut tx, id, actor).await?;
        if actor != user && actor_role != "admin" {
            return Err(StoreError::Conflict("not_group_admin"));
        }
        let role: Option<String> = sqlx::query_scalar("UPDATE members SET left_at = $1 WHERE conversation_id = $2 AND user_id = $3 AND left_at IS NULL RETURNING role")
            .bind(now.millis())
            .bind(id.as_str())
            .bind(user.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_error)?;
        let Some(role) = role else {
            return Ok(MembershipChange::default());
        };
        if role == "admin" {
            // A group is never left without an admin: the longest-standing member takes
            // over when the last one goes.
            sqlx::query("UPDATE members SET role = 'admin' WHERE position = (SELECT position FROM members WHERE conversation_id = $1 AND left_at IS NULL AND user_id IS NOT NULL ORDER BY joined_at, position LIMIT 1) AND NOT EXISTS (SELECT 1 FROM members WHERE conversation_id = $1 AND left_at IS NULL AND role = 'admin')")
                .bind(id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        touch(&mut tx, id, now).await?;
        let mut affected = member_users(&mut tx, id).await?;
        affected.push(user.clone());
        let mut event = record(EventKind::ConversationUpdated, id);
        event.subject_user_id = Some(user.clone());
        let deliveries = events::append(&mut tx, &affected, &event, now).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(MembershipChange {
            changed: vec![user.clone()],
            deliveries,
        })
    }

    async fn update_member_settings(
        &self,
        id: &ConversationId,
        user: &UserId,
        patch: MemberSettingsPatch,
        now: Timestamp,
    ) -> StoreResult<Option<Delivery>> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE members SET folder = coalesce($1, folder), notify = coalesce($2, notify), muted_until = CASE WHEN $3 THEN $4 ELSE muted_until END WHERE conversation_id = $5 AND user_id = $6 AND left_at IS NULL",
        )
        .bind(patch.folder.map(|f| f.as_str()))
        .bind(patch.notify.map(|n| n.as_str()))
        .bind(patch.muted_until.is_some())
        .bind(patch.muted_until.flatten().map(|t| t.millis()))
        .bind(id.as_str())
        .bind(user.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        let mut deliveries = events::append(
            &mut tx,
            std::slice::from_ref(user),
            &record(EventKind::ConversationUpdated, id),
            now,
        )
        .await?;
        tx.commit().await.map_err(db_error)?;
        Ok(deliveries.pop())
    }

    async fn mark_read(
        &self,
        id: &ConversationId,
        user: &UserId,
        seq: i64,
        share: bool,
        now: Timestamp,
    ) -> StoreResult<(i64, Vec<Delivery>)> {
        let mut tx = self.begin().await?;
        // The member row's lock makes two concurrent marks of the same reader apply one
        // after the other, so the marker only moves forward.
        let current: Option<(i64, i64)> = sqlx::query_as(
            "SELECT m.last_read_seq, c.last_seq FROM members m JOIN conversations c ON c.id = m.conversation_id WHERE m.conversation_id = $1 AND m.user_id = $2 AND m.left_at IS NULL FOR NO KEY UPDATE OF m",
        )
        .bind(id.as_str())
        .bind(user.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        let Some((last_read, last_seq)) = current else {
            return Err(StoreError::NotFound);
        };
        let target = seq.min(last_seq);
        if target <= last_read {
            return Ok((last_read, Vec::new()));
        }
        sqlx::query(
            "UPDATE members SET last_read_seq = $1 WHERE conversation_id = $2 AND user_id = $3",
        )
        .bind(target)
        .bind(id.as_str())
        .bind(user.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        let recipients = if share {
            member_users(&mut tx, id).await?
        } else {
            vec![user.clone()]
        };
        let mut event = record(EventKind::Read, id);
        event.subject_user_id = Some(user.clone());
        event.number = Some(target);
        let deliveries = events::append(&mut tx, &recipients, &event, now).await?;
        tx.commit().await.map_err(db_error)?;
        Ok((target, deliveries))
    }
}
