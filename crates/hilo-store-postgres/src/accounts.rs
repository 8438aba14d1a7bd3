//! Accounts, sessions and invites: each write is one transaction around its shared body
//! (`tx`), each read a shared query (`reads`).

use async_trait::async_trait;
use hilo_core::{Session, SessionId, Timestamp, User, UserId};
use hilo_store::{
    AccountStore, CreateUserOutcome, Delivery, NewSession, NewUser, ProfilePatch, StoreResult,
};

use crate::{PostgresStore, reads, tx};

#[async_trait]
impl AccountStore for PostgresStore {
    async fn count_users(&self) -> StoreResult<i64> {
        reads::count_users(&self.pool).await
    }

    async fn create_user(&self, new: NewUser) -> StoreResult<CreateUserOutcome> {
        in_transaction!(self, conn => tx::create_user(conn, &new))
    }

    async fn credentials(&self, username: &str) -> StoreResult<Option<(User, String)>> {
        reads::credentials(&self.pool, username).await
    }

    async fn user(&self, id: &UserId) -> StoreResult<Option<User>> {
        reads::user(&self.pool, id).await
    }

    async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        reads::user_by_username(&self.pool, username).await
    }

    async fn search_users(&self, query: &str, limit: i64) -> StoreResult<Vec<User>> {
        reads::search_users(&self.pool, query, limit).await
    }

    async fn update_profile(
        &self,
        id: &UserId,
        patch: ProfilePatch,
        now: Timestamp,
    ) -> StoreResult<(User, Vec<Delivery>)> {
        in_transaction!(self, conn => tx::update_profile(conn, id, &patch, now))
    }

    async fn set_admin(&self, id: &UserId, is_admin: bool) -> StoreResult<()> {
        in_transaction!(self, conn => tx::set_admin(conn, id, is_admin))
    }

    async fn set_password(
        &self,
        id: &UserId,
        password_hash: &str,
        keep: Option<&SessionId>,
        now: Timestamp,
    ) -> StoreResult<Vec<(SessionId, Delivery)>> {
        in_transaction!(self, conn => tx::set_password(conn, id, password_hash, keep, now))
    }

    async fn create_session(&self, new: NewSession) -> StoreResult<Session> {
        in_transaction!(self, conn => tx::insert_session(conn, &new))?;
        Ok(new.into_session())
    }

    async fn session_by_token(&self, token_hash: &str) -> StoreResult<Option<(Session, User)>> {
        reads::session_by_token(&self.pool, token_hash).await
    }

    async fn touch_session(&self, id: &SessionId, now: Timestamp) -> StoreResult<()> {
        in_transaction!(self, conn => tx::touch_session(conn, id, now))
    }

    async fn sessions(&self, user: &UserId) -> StoreResult<Vec<Session>> {
        reads::sessions(&self.pool, user).await
    }

    async fn revoke_session(
        &self,
        user: &UserId,
        session: &SessionId,
        now: Timestamp,
    ) -> StoreResult<Option<Delivery>> {
        in_transaction!(self, conn => tx::revoke_session(conn, user, session, now))
    }

    async fn create_invite(
        &self,
        code_hash: &str,
        created_by: Option<&UserId>,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> StoreResult<()> {
        in_transaction!(self, conn => tx::create_invite(conn, code_hash, created_by, now, expires_at))
    }

    async fn stream_opened(
        &self,
        node: &str,
        user: &UserId,
        until: Timestamp,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let already = self.has_stream(user, now).await?;
        sqlx::query(crate::rows::STREAM_OPENED)
            .bind(node)
            .bind(user.as_str())
            .bind(until.millis())
            .execute(&self.pool)
            .await
            .map_err(crate::db_error)?;
        Ok(already)
    }

    async fn stream_closed(&self, node: &str, user: &UserId, now: Timestamp) -> StoreResult<bool> {
        let removed = sqlx::query(crate::rows::STREAM_CLOSED)
            .bind(node)
            .bind(user.as_str())
            .execute(&self.pool)
            .await
            .map_err(crate::db_error)?
            .rows_affected();
        if removed == 0 {
            // Already closed (an earlier last-stream-out did it): nothing changes.
            return Ok(true);
        }
        self.stream_elsewhere(node, user, now).await
    }

    async fn streams_alive(
        &self,
        node: &str,
        users: &[UserId],
        until: Timestamp,
        forget_before: Timestamp,
    ) -> StoreResult<()> {
        let ids: Vec<&str> = users.iter().map(UserId::as_str).collect();
        sqlx::query("INSERT INTO presence (node_id, user_id, until_at) SELECT $2, id, $1 FROM users WHERE id = ANY($3) ON CONFLICT (node_id, user_id) DO UPDATE SET until_at = excluded.until_at")
            .bind(until.millis())
            .bind(node)
            .bind(ids)
            .execute(&self.pool)
            .await
            .map_err(crate::db_error)?;
        sqlx::query(crate::rows::STREAMS_EXPIRED)
            .bind(forget_before.millis())
            .execute(&self.pool)
            .await
            .map_err(crate::db_error)?;
        Ok(())
    }

    async fn has_stream(&self, user: &UserId, now: Timestamp) -> StoreResult<bool> {
        sqlx::query_scalar(crate::rows::HAS_STREAM)
            .bind(user.as_str())
            .bind(now.millis())
            .fetch_one(&self.pool)
            .await
            .map_err(crate::db_error)
    }
}

impl PostgresStore {
    async fn stream_elsewhere(
        &self,
        node: &str,
        user: &UserId,
        now: Timestamp,
    ) -> StoreResult<bool> {
        sqlx::query_scalar(crate::rows::STREAM_ELSEWHERE)
            .bind(user.as_str())
            .bind(node)
            .bind(now.millis())
            .fetch_one(&self.pool)
            .await
            .map_err(crate::db_error)
    }
}
