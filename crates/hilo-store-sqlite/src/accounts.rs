//! Accounts, sessions and invites: each write is a job on the single writer running its
//! shared body (`tx`), each read a shared query (`reads`).

use async_trait::async_trait;
use hilo_core::{Session, SessionId, Timestamp, User, UserId};
use hilo_store::{
    AccountStore, CreateUserOutcome, Delivery, NewSession, NewUser, ProfilePatch, StoreResult,
};

use crate::{SqliteStore, reads, tx};

#[async_trait]
impl AccountStore for SqliteStore {
    async fn count_users(&self) -> StoreResult<i64> {
        in_reader!(self, (), conn => reads::count_users(conn))
    }

    async fn create_user(&self, new: NewUser) -> StoreResult<CreateUserOutcome> {
        in_writer!(self, (), conn => tx::create_user(conn, &new))
    }

    async fn credentials(&self, username: &str) -> StoreResult<Option<(User, String)>> {
        in_reader!(self, (username), conn => reads::credentials(conn, &username))
    }

    async fn user(&self, id: &UserId) -> StoreResult<Option<User>> {
        in_reader!(self, (id), conn => reads::user(conn, &id))
    }

    async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        in_reader!(self, (username), conn => reads::user_by_username(conn, &username))
    }

    async fn search_users(&self, query: &str, limit: i64) -> StoreResult<Vec<User>> {
        in_reader!(self, (query), conn => reads::search_users(conn, &query, limit))
    }

    async fn update_profile(
        &self,
        id: &UserId,
        patch: ProfilePatch,
        now: Timestamp,
    ) -> StoreResult<(User, Vec<Delivery>)> {
        in_writer!(self, (id), conn => tx::update_profile(conn, &id, &patch, now))
    }

    async fn set_admin(&self, id: &UserId, is_admin: bool) -> StoreResult<()> {
        in_writer!(self, (id), conn => tx::set_admin(conn, &id, is_admin))
    }

    async fn set_password(
        &self,
        id: &UserId,
        password_hash: &str,
        keep: Option<&SessionId>,
        now: Timestamp,
    ) -> StoreResult<Vec<(SessionId, Delivery)>> {
        let keep = keep.cloned();
        in_writer!(self, (id, password_hash), conn => tx::set_password(conn, &id, &password_hash, keep.as_ref(), now))
    }

    async fn create_session(&self, new: NewSession) -> StoreResult<Session> {
        in_writer!(self, (), conn => {
            tx::insert_session(conn, &new)?;
            Ok(new.into_session())
        })
    }

    async fn session_by_token(&self, token_hash: &str) -> StoreResult<Option<(Session, User)>> {
        in_reader!(self, (token_hash), conn => reads::session_by_token(conn, &token_hash))
    }

    async fn touch_session(&self, id: &SessionId, now: Timestamp) -> StoreResult<()> {
        in_writer!(self, (id), conn => tx::touch_session(conn, &id, now))
    }

    async fn sessions(&self, user: &UserId) -> StoreResult<Vec<Session>> {
        in_reader!(self, (user), conn => reads::sessions(conn, &user))
    }

    async fn revoke_session(
        &self,
        user: &UserId,
        session: &SessionId,
        now: Timestamp,
    ) -> StoreResult<Option<Delivery>> {
        in_writer!(self, (user, session), conn => tx::revoke_session(conn, &user, &session, now))
    }

    async fn create_invite(
        &self,
        code_hash: &str,
        created_by: Option<&UserId>,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> StoreResult<()> {
        let created_by = created_by.cloned();
        in_writer!(self, (code_hash), conn => tx::create_invite(conn, &code_hash, created_by.as_ref(), now, expires_at))
    }

    async fn stream_opened(
        &self,
        node: &str,
        user: &UserId,
        until: Timestamp,
        now: Timestamp,
    ) -> StoreResult<bool> {
        in_writer!(self, (node, user), conn => tx::stream_opened(conn, &node, &user, until, now))
    }

    async fn stream_closed(&self, node: &str, user: &UserId, now: Timestamp) -> StoreResult<bool> {
        in_writer!(self, (node, user), conn => tx::stream_closed(conn, &node, &user, now))
    }

    async fn streams_alive(
        &self,
        node: &str,
        users: &[UserId],
        until: Timestamp,
        forget_before: Timestamp,
    ) -> StoreResult<()> {
        in_writer!(self, (node, users), conn => tx::streams_alive(conn, &node, &users, until, forget_before))
    }

    async fn has_stream(&self, user: &UserId, now: Timestamp) -> StoreResult<bool> {
        in_reader!(self, (user), conn => {
            Ok(crate::db::scalar::<bool>(conn, crate::rows::HAS_STREAM, rusqlite::params![user.as_str(), now.millis()])?.unwrap_or(false))
        })
    }
}
