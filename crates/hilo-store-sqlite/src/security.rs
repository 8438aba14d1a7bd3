//! Two-factor auth, password upkeep, session sweeps and the audit log: write bodies on the
//! single writer, reads through the shared queries of `rows`.

use async_trait::async_trait;
use hilo_core::{SessionId, Timestamp, User, UserId};
use hilo_store::sql::{self, Columns};
use hilo_store::{AuditEvent, Delivery, LimitStore, SecurityStore, StoreResult, TwoFactor};
use rusqlite::params;

use crate::db::{all, column, execute, one};
use crate::{SqliteStore, rows, tx};

#[async_trait]
impl SecurityStore for SqliteStore {
    async fn two_factor(&self, user: &UserId) -> StoreResult<TwoFactor> {
        in_reader!(self, (user), conn => {
            let secrets = one(conn, rows::TWO_FACTOR, [user.as_str()], |row| {
                Ok((row.opt_text("totp_secret")?, row.opt_text("totp_pending")?))
            })?;
            let (secret, pending) = secrets.unwrap_or_default();
            let recovery = all(conn, rows::RECOVERY_CODES, [user.as_str()], |row| {
                Ok((row.int("n")?, row.text("code_hash")?))
            })?;
            Ok(TwoFactor { secret, pending, recovery })
        })
    }

    async fn set_totp_pending(&self, user: &UserId, secret: &str) -> StoreResult<()> {
        in_writer!(self, (user, secret), conn => {
            execute(conn, rows::SET_TOTP_PENDING, params![secret, user.as_str()])?;
            Ok(())
        })
    }

    async fn enable_totp(
        &self,
        user: &UserId,
        secret: &str,
        step: i64,
        recovery: &[String],
    ) -> StoreResult<bool> {
        in_writer!(self, (user, secret, recovery), conn => {
            if execute(conn, rows::ENABLE_TOTP, params![secret, step, user.as_str()])? == 0 {
                return Ok(false);
            }
            execute(conn, rows::DELETE_RECOVERY_CODES, [user.as_str()])?;
            for (n, hash) in (1_i64..).zip(&recovery) {
                execute(conn, rows::INSERT_RECOVERY_CODE, params![user.as_str(), n, hash])?;
            }
            Ok(true)
        })
    }

    async fn disable_totp(&self, user: &UserId) -> StoreResult<()> {
        in_writer!(self, (user), conn => {
            execute(conn, rows::DISABLE_TOTP, [user.as_str()])?;
            execute(conn, rows::DELETE_RECOVERY_CODES, [user.as_str()])?;
            Ok(())
        })
    }

    async fn claim_totp_step(&self, user: &UserId, step: i64) -> StoreResult<bool> {
        in_writer!(self, (user), conn => {
            Ok(execute(conn, rows::CLAIM_TOTP_STEP, params![step, user.as_str()])? == 1)
        })
    }

    async fn use_recovery_code(&self, user: &UserId, n: i64, now: Timestamp) -> StoreResult<bool> {
        in_writer!(self, (user), conn => {
            Ok(execute(conn, rows::USE_RECOVERY_CODE, params![now.millis(), user.as_str(), n])? == 1)
        })
    }

    async fn rehash_password(&self, user: &UserId, old: &str, new: &str) -> StoreResult<()> {
        in_writer!(self, (user, old, new), conn => {
            execute(conn, rows::REHASH_PASSWORD, params![new, user.as_str(), old])?;
            Ok(())
        })
    }

    async fn revoke_sessions_except(
        &self,
        user: &UserId,
        keep: Option<&SessionId>,
        now: Timestamp,
    ) -> StoreResult<Vec<(SessionId, Delivery)>> {
        let keep = keep.cloned();
        in_writer!(self, (user), conn => {
            let sessions: Vec<String> = column(
                conn,
                "SELECT id FROM sessions WHERE user_id = ?1 AND revoked_at IS NULL AND id IS NOT ?2 ORDER BY id",
                params![user.as_str(), keep.as_ref().map(SessionId::as_str)],
            )?;
            tx::revoke_sessions(conn, &user, sessions, now)
        })
    }

    async fn record_audit(&self, event: &AuditEvent) -> StoreResult<()> {
        let event = event.clone();
        in_writer!(self, (), conn => {
            execute(
                conn,
                rows::INSERT_AUDIT,
                params![
                    event.id,
                    event.user_id.as_ref().map(UserId::as_str),
                    event.username,
                    event.actor_id.as_ref().map(UserId::as_str),
                    event.kind,
                    event.at.millis(),
                    event.ip,
                    event.device,
                    event.detail,
                ],
            )?;
            Ok(())
        })
    }

    async fn audit_events(
        &self,
        user: Option<&UserId>,
        before: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<AuditEvent>> {
        let user = user.cloned();
        let before = before.unwrap_or(sql::AUDIT_NEWEST).to_owned();
        in_reader!(self, (), conn => match &user {
            Some(user) => all(conn, rows::AUDIT_OF_USER, params![user.as_str(), before, limit], |row| sql::audit_event(row)),
            None => all(conn, rows::AUDIT_ALL, params![before, limit], |row| sql::audit_event(row)),
        })
    }

    async fn known_client(
        &self,
        user: &UserId,
        agent: Option<&str>,
        network: Option<&str>,
    ) -> StoreResult<Option<(bool, bool)>> {
        let (agent, network) = (agent.map(str::to_owned), network.map(str::to_owned));
        in_reader!(self, (user), conn => {
            let row = one(conn, rows::KNOWN_CLIENT, params![user.as_str(), agent, network], |row| {
                Ok((row.flag("baseline")?, row.flag("agent_seen")?, row.flag("network_seen")?))
            })?;
            Ok(row.and_then(|(baseline, agent, network)| baseline.then_some((agent, network))))
        })
    }

    async fn system_account(
        &self,
        id: &UserId,
        username: &str,
        display_name: &str,
        now: Timestamp,
    ) -> StoreResult<UserId> {
        in_writer!(self, (id, username, display_name), conn => {
            execute(conn, rows::INSERT_SYSTEM_ACCOUNT, params![id.as_str(), username, display_name, now.millis()])?;
            let id: Option<String> = crate::db::scalar(conn, rows::USER_ID_BY_USERNAME, [username.as_str()])?;
            id.map(UserId::new).ok_or(hilo_store::StoreError::NotFound)
        })
    }

    async fn delete_account(
        &self,
        user: &UserId,
        now: Timestamp,
    ) -> StoreResult<Vec<(SessionId, Delivery)>> {
        in_writer!(self, (user), conn => {
            let live: Option<bool> = crate::db::scalar(conn, rows::ACCOUNT_LIVE, [user.as_str()])?;
            if live != Some(true) {
                return Err(hilo_store::StoreError::NotFound);
            }
            // The order of PostgreSQL's body, for one behaviour.
            for statement in rows::END_ACCOUNT_PLACES {
                execute(conn, statement, params![now.millis(), user.as_str()])?;
            }
            let sessions: Vec<String> = column(
                conn,
                "SELECT id FROM sessions WHERE user_id = ?1 AND revoked_at IS NULL ORDER BY id",
                [user.as_str()],
            )?;
            let revoked = tx::revoke_sessions(conn, &user, sessions, now)?;
            for statement in rows::DELETE_ACCOUNT_DATA {
                execute(conn, statement, [user.as_str()])?;
            }
            execute(conn, rows::TOMBSTONE_ACCOUNT, params![now.millis(), user.as_str()])?;
            Ok(revoked)
        })
    }

    async fn list_users(
        &self,
        query: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<User>> {
        let pattern = sql::contains_pattern(query);
        let after = after.unwrap_or_default().to_owned();
        in_reader!(self, (), conn => all(conn, rows::LIST_USERS, params![after, pattern, limit], |row| sql::user(row)))
    }
}

#[async_trait]
impl LimitStore for SqliteStore {
    async fn bump(
        &self,
        key: &str,
        window_ms: i64,
        slide: bool,
        now: Timestamp,
    ) -> StoreResult<(i64, Timestamp)> {
        let restart = now.millis() - window_ms;
        in_writer!(self, (key), conn => {
            let row = one(conn, rows::BUMP_COUNTER, params![key, now.millis(), restart, slide], |row| {
                Ok((row.int("count")?, Timestamp(row.int("started_at")?)))
            })?;
            Ok(row.unwrap_or((1, now)))
        })
    }

    async fn counter(&self, key: &str) -> StoreResult<Option<(i64, Timestamp)>> {
        in_reader!(self, (key), conn => one(conn, rows::COUNTER, [key.as_str()], |row| {
            Ok((row.int("count")?, Timestamp(row.int("started_at")?)))
        }))
    }

    async fn refund(&self, key: &str) -> StoreResult<()> {
        in_writer!(self, (key), conn => {
            execute(conn, rows::REFUND_COUNTER, [key.as_str()])?;
            Ok(())
        })
    }

    async fn forget_counter(&self, key: &str) -> StoreResult<()> {
        in_writer!(self, (key), conn => {
            execute(conn, rows::FORGET_COUNTER, [key.as_str()])?;
            Ok(())
        })
    }

    async fn sweep_counters(&self, before: Timestamp) -> StoreResult<u64> {
        in_writer!(self, (), conn => Ok(execute(conn, rows::SWEEP_COUNTERS, [before.millis()])? as u64))
    }
}
