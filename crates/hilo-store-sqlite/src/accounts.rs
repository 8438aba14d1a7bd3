//! Accounts, sessions and invites.

use async_trait::async_trait;
use hilo_core::{EventKind, EventRecord, Session, SessionId, Timestamp, User, UserId};
use hilo_store::{
    AccountStore, CreateUserOutcome, Delivery, NewSession, NewUser, ProfilePatch, StoreError,
    StoreResult,
};
use sqlx::SqliteConnection;

use crate::tx::{insert_session, user_in};
use crate::{SqliteStore, db_error, events, reads};

/// Revokes the given sessions and appends `session.revoked` for each to the owner's stream.
async fn revoke_sessions(
    conn: &mut SqliteConnection,
    user: &UserId,
    sessions: Vec<String>,
    now: Timestamp,
) -> StoreResult<Vec<(SessionId, Delivery)>> {
    let mut out = Vec::with_capacity(sessions.len());
    for session in sessions {
        sqlx::query("UPDATE sessions SET revoked_at = ? WHERE id = ?")
            .bind(now.millis())
            .bind(&session)
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
        let session = SessionId::new(session);
        let mut record = EventRecord::new(EventKind::SessionRevoked);
        record.session_id = Some(session.clone());
        let mut deliveries = events::append(conn, std::slice::from_ref(user), &record, now).await?;
        if let Some(delivery) = deliveries.pop() {
            out.push((session, delivery));
        }
    }
    Ok(out)
}

#[async_trait]
impl AccountStore for SqliteStore {
    async fn count_users(&self) -> StoreResult<i64> {
        reads::count_users(&self.read).await
    }

    async fn create_user(&self, new: NewUser) -> StoreResult<CreateUserOutcome> {
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let n_users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
                        .fetch_one(&mut *conn)
                        .await
                        .map_err(db_error)?;
                    let first = n_users == 0;
                    // The very first account bootstraps the server, so it needs no invite.
                    // The invite is judged before the username, so a made-up code cannot be
                    // used to learn which usernames exist.
                    let redeem = new.invite_required && !first;
                    if redeem {
                        let valid: Option<i64> = sqlx::query_scalar(
                            "SELECT 1 FROM invites WHERE code_hash = ? AND used_at IS NULL AND expires_at > ?",
                        )
                        .bind(new.invite_hash.as_deref().unwrap_or(""))
                        .bind(new.now.millis())
                        .fetch_optional(&mut *conn)
                        .await
                        .map_err(db_error)?;
                        if valid.is_none() {
                            return Ok(CreateUserOutcome::InviteInvalid);
                        }
                    }
                    let taken: Option<String> =
                        sqlx::query_scalar("SELECT id FROM users WHERE username = ?")
                            .bind(&new.username)
                            .fetch_optional(&mut *conn)
                            .await
                            .map_err(db_error)?;
                    if taken.is_some() {
                        return Ok(CreateUserOutcome::UsernameTaken);
                    }
                    sqlx::query("INSERT INTO users (id, username, display_name, password_hash, is_admin, created_at) VALUES (?, ?, ?, ?, ?, ?)")
                        .bind(new.id.as_str())
                        .bind(&new.username)
                        .bind(&new.display_name)
                        .bind(&new.password_hash)
                        .bind(first || new.force_admin)
                        .bind(new.now.millis())
                        .execute(&mut *conn)
                        .await
                        .map_err(db_error)?;
                    if redeem {
                        // Single writer: the code checked above is still unused here.
                        sqlx::query("UPDATE invites SET used_by = ?, used_at = ? WHERE code_hash = ?")
                            .bind(new.id.as_str())
                            .bind(new.now.millis())
                            .bind(new.invite_hash.as_deref().unwrap_or(""))
                            .execute(&mut *conn)
                            .await
                            .map_err(db_error)?;
                    }
                    if let Some(session) = &new.session {
                        insert_session(conn, session).await?;
                    }
                    Ok(CreateUserOutcome::Created(user_in(conn, &new.id).await?))
                })
            })
            .await
    }

    async fn credentials(&self, username: &str) -> StoreResult<Option<(User, String)>> {
        reads::credentials(&self.read, username).await
    }

    async fn user(&self, id: &UserId) -> StoreResult<Option<User>> {
        reads::user(&self.read, id).await
    }

    async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        reads::user_by_username(&self.read, username).await
    }

    async fn search_users(&self, query: &str, limit: i64) -> StoreResult<Vec<User>> {
        reads::search_users(&self.read, query, limit).await
    }

    async fn update_profile(&self, id: &UserId, patch: ProfilePatch) -> StoreResult<User> {
        let id = id.clone();
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    if let Some(name) = &patch.display_name {
                        sqlx::query("UPDATE users SET display_name = ? WHERE id = ?")
                            .bind(name)
                            .bind(id.as_str())
                            .execute(&mut *conn)
                            .await
                            .map_err(db_error)?;
                    }
                    if let Some(settings) = &patch.settings {
                        sqlx::query("UPDATE users SET who_can_message = ?, last_seen_visibility = ?, read_receipts = ? WHERE id = ?")
                            .bind(settings.who_can_message.as_str())
                            .bind(settings.last_seen_visibility.as_str())
                            .bind(settings.read_receipts)
                            .bind(id.as_str())
                            .execute(&mut *conn)
                            .await
                            .map_err(db_error)?;
                    }
                    user_in(conn, &id).await
                })
            })
            .await
    }

    async fn set_admin(&self, id: &UserId, is_admin: bool) -> StoreResult<()> {
        let id = id.clone();
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let done = sqlx::query("UPDATE users SET is_admin = ? WHERE id = ?")
                        .bind(is_admin)
                        .bind(id.as_str())
                        .execute(&mut *conn)
                        .await
                        .map_err(db_error)?;
                    if done.rows_affected() == 0 {
                        Err(StoreError::NotFound)
                    } else {
                        Ok(())
                    }
                })
            })
            .await
    }

    async fn set_password(
        &self,
        id: &UserId,
        password_hash: &str,
        keep: Option<&SessionId>,
        now: Timestamp,
    ) -> StoreResult<Vec<(SessionId, Delivery)>> {
        let (id, hash, keep) = (id.clone(), password_hash.to_owned(), keep.cloned());
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let done = sqlx::query("UPDATE users SET password_hash = ? WHERE id = ?")
                        .bind(&hash)
                        .bind(id.as_str())
                        .execute(&mut *conn)
                        .await
                        .map_err(db_error)?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::NotFound);
                    }
                    let sessions: Vec<String> = sqlx::query_scalar(
                        "SELECT id FROM sessions WHERE user_id = ? AND revoked_at IS NULL AND id IS NOT ?",
                    )
                    .bind(id.as_str())
                    .bind(keep.as_ref().map(|k| k.as_str()))
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(db_error)?;
                    revoke_sessions(conn, &id, sessions, now).await
                })
            })
            .await
    }

    async fn create_session(&self, new: NewSession) -> StoreResult<Session> {
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    insert_session(conn, &new).await?;
                    Ok(new.into_session())
                })
            })
            .await
    }

    async fn session_by_token(&self, token_hash: &str) -> StoreResult<Option<(Session, User)>> {
        reads::session_by_token(&self.read, token_hash).await
    }

    async fn touch_session(&self, id: &SessionId, now: Timestamp) -> StoreResult<()> {
        let id = id.clone();
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    sqlx::query(
                        "UPDATE sessions SET last_seen_at = ? WHERE id = ? AND last_seen_at < ?",
                    )
                    .bind(now.millis())
                    .bind(id.as_str())
                    .bind(now.millis())
                    .execute(&mut *conn)
                    .await
                    .map_err(db_error)?;
                    Ok(())
                })
            })
            .await
    }

    async fn sessions(&self, user: &UserId) -> StoreResult<Vec<Session>> {
        reads::sessions(&self.read, user).await
    }

    async fn revoke_session(
        &self,
        user: &UserId,
        session: &SessionId,
        now: Timestamp,
    ) -> StoreResult<Option<Delivery>> {
        let (user, session) = (user.clone(), session.clone());
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let live: Option<String> = sqlx::query_scalar(
                        "SELECT id FROM sessions WHERE id = ? AND user_id = ? AND revoked_at IS NULL",
                    )
                    .bind(session.as_str())
                    .bind(user.as_str())
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(db_error)?;
                    let Some(live) = live else { return Ok(None) };
                    let mut revoked = revoke_sessions(conn, &user, vec![live], now).await?;
                    Ok(revoked.pop().map(|(_, delivery)| delivery))
                })
            })
            .await
    }

    async fn create_invite(
        &self,
        code_hash: &str,
        created_by: Option<&UserId>,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> StoreResult<()> {
        let (hash, by) = (code_hash.to_owned(), created_by.cloned());
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    sqlx::query("INSERT INTO invites (code_hash, created_by, created_at, expires_at) VALUES (?, ?, ?, ?)")
                        .bind(&hash)
                        .bind(by.as_ref().map(|b| b.as_str()))
                        .bind(now.millis())
                        .bind(expires_at.millis())
                        .execute(&mut *conn)
                        .await
                        .map_err(db_error)?;
                    Ok(())
                })
            })
            .await
    }
}
