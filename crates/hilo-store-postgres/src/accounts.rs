//! Accounts, sessions and invites.

use async_trait::async_trait;
use hilo_core::{EventKind, EventRecord, Session, SessionId, Timestamp, User, UserId};
use hilo_store::{
    AccountStore, CreateUserOutcome, Delivery, NewSession, NewUser, ProfilePatch, StoreError,
    StoreResult,
};
use sqlx::PgConnection;

use crate::tx::{insert_session, user_in};
use crate::{PostgresStore, db_error, events, reads, rows};

/// The key of the advisory lock that serialises account creation across nodes, so "the
/// first account is the admin" and "an invite is used once" hold when two nodes register
/// at the same moment. Registration is rare; the lock costs nothing elsewhere.
const CREATE_USER_LOCK: i64 = 0x6869_6c6f_0001;

/// Revokes the given live sessions of `user` and appends `session.revoked` for each.
async fn revoke_sessions(
    conn: &mut PgConnection,
    user: &UserId,
    sessions: Vec<String>,
    now: Timestamp,
) -> StoreResult<Vec<(SessionId, Delivery)>> {
    if sessions.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = ANY($2)")
        .bind(now.millis())
        .bind(&sessions)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    let mut out = Vec::with_capacity(sessions.len());
    for session in sessions {
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

async fn create_user_in(conn: &mut PgConnection, new: &NewUser) -> StoreResult<CreateUserOutcome> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(CREATE_USER_LOCK)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    let first: bool = sqlx::query_scalar("SELECT NOT EXISTS (SELECT 1 FROM users)")
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error)?;
    // The very first account bootstraps the server, so it needs no invite. The invite is
    // judged before the username, so a made-up code cannot be used to learn which
    // usernames exist.
    let redeem = new.invite_required && !first;
    if redeem {
        let valid: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM invites WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2",
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
    let inserted = sqlx::query("INSERT INTO users (id, username, display_name, password_hash, is_admin, created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (username) DO NOTHING")
        .bind(new.id.as_str())
        .bind(&new.username)
        .bind(&new.display_name)
        .bind(&new.password_hash)
        .bind(first || new.force_admin)
        .bind(new.now.millis())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    if inserted.rows_affected() == 0 {
        return Ok(CreateUserOutcome::UsernameTaken);
    }
    if redeem {
        // Under the advisory lock the code checked above is still unused here.
        sqlx::query("UPDATE invites SET used_by = $1, used_at = $2 WHERE code_hash = $3")
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
}

#[async_trait]
impl AccountStore for PostgresStore {
    async fn count_users(&self) -> StoreResult<i64> {
        reads::count_users(&self.pool).await
    }

    async fn create_user(&self, new: NewUser) -> StoreResult<CreateUserOutcome> {
        let mut tx = self.begin().await?;
        let outcome = create_user_in(&mut tx, &new).await?;
        if matches!(outcome, CreateUserOutcome::Created(_)) {
            tx.commit().await.map_err(db_error)?;
        }
        Ok(outcome)
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

    async fn update_profile(&self, id: &UserId, patch: ProfilePatch) -> StoreResult<User> {
        let settings = patch.settings.as_ref();
        let row = sqlx::query(concat!(
            "UPDATE users SET display_name = coalesce($2, display_name), who_can_message = coalesce($3, who_can_message), last_seen_visibility = coalesce($4, last_seen_visibility), read_receipts = coalesce($5, read_receipts) WHERE id = $1 RETURNING ",
            rows::user_columns!()
        ))
        .bind(id.as_str())
        .bind(&patch.display_name)
        .bind(settings.map(|s| s.who_can_message.as_str()))
        .bind(settings.map(|s| s.last_seen_visibility.as_str()))
        .bind(settings.map(|s| s.read_receipts))
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)?;
        rows::user(&row)
    }

    async fn set_admin(&self, id: &UserId, is_admin: bool) -> StoreResult<()> {
        let done = sqlx::query("UPDATE users SET is_admin = $1 WHERE id = $2")
            .bind(is_admin)
            .bind(id.as_str())
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        if done.rows_affected() == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }

    async fn set_password(
        &self,
        id: &UserId,
        password_hash: &str,
        keep: Option<&SessionId>,
        now: Timestamp,
    ) -> StoreResult<Vec<(SessionId, Delivery)>> {
        let mut tx = self.begin().await?;
        // Sessions first, then the user's row, as `revoke_session` does: the same lock
        // order in both, so a password change racing a logout cannot deadlock.
        let sessions: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND id IS DISTINCT FROM $2 ORDER BY id FOR UPDATE",
        )
        .bind(id.as_str())
        .bind(keep.map(|k| k.as_str()))
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
        let done = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(password_hash)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let revoked = revoke_sessions(&mut tx, id, sessions, now).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(revoked)
    }

    async fn create_session(&self, new: NewSession) -> StoreResult<Session> {
        let mut conn = self.pool.acquire().await.map_err(crate::unavailable)?;
        insert_session(&mut conn, &new).await?;
        Ok(new.into_session())
    }

    async fn session_by_token(&self, token_hash: &str) -> StoreResult<Option<(Session, User)>> {
        reads::session_by_token(&self.pool, token_hash).await
    }

    async fn touch_session(&self, id: &SessionId, now: Timestamp) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND last_seen_at < $1")
            .bind(now.millis())
            .bind(id.as_str())
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
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
        let mut tx = self.begin().await?;
        // The row lock makes a concurrent revocation of the same session (from another
        // node) wait, then find it revoked: one `session.revoked` event, not two.
        let live: Option<String> = sqlx::query_scalar(
            "SELECT id FROM sessions WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL FOR UPDATE",
        )
        .bind(session.as_str())
        .bind(user.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        let Some(live) = live else { return Ok(None) };
        let mut revoked = revoke_sessions(&mut tx, user, vec![live], now).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(revoked.pop().map(|(_, delivery)| delivery))
    }

    async fn create_invite(
        &self,
        code_hash: &str,
        created_by: Option<&UserId>,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query("INSERT INTO invites (code_hash, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(code_hash)
            .bind(created_by.map(|b| b.as_str()))
            .bind(now.millis())
            .bind(expires_at.millis())
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }
}
