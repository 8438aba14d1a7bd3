//! Two-factor auth, password upkeep, session sweeps and the audit log: each write one
//! statement or one transaction, reads through the shared queries of `rows`.

use async_trait::async_trait;
use hilo_core::{SessionId, Timestamp, User, UserId};
use hilo_store::sql;
use hilo_store::{AuditEvent, Delivery, LimitStore, SecurityStore, StoreResult, TwoFactor};
use sqlx::Row as _;

use crate::{PostgresStore, db_error, decode, rows, tx};

impl PostgresStore {
    /// Runs one shared write statement with `binds` in placeholder order; the rows it
    /// changed.
    async fn update(&self, sql: &'static str, binds: &[Bind<'_>]) -> StoreResult<u64> {
        let mut query = sqlx::query(sql);
        for bind in binds {
            query = match bind {
                Bind::Text(text) => query.bind(text),
                Bind::Int(n) => query.bind(*n),
            };
        }
        Ok(query
            .execute(&self.pool)
            .await
            .map_err(db_error)?
            .rows_affected())
    }
}

/// A statement parameter.
enum Bind<'a> {
    Text(&'a str),
    Int(i64),
}

#[async_trait]
impl SecurityStore for PostgresStore {
    async fn two_factor(&self, user: &UserId) -> StoreResult<TwoFactor> {
        let secrets = sqlx::query(rows::TWO_FACTOR)
            .bind(user.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        let (secret, pending) = match secrets {
            Some(row) => (
                row.try_get("totp_secret").map_err(db_error)?,
                row.try_get("totp_pending").map_err(db_error)?,
            ),
            None => (None, None),
        };
        let recovery = sqlx::query_as::<_, (i64, String)>(rows::RECOVERY_CODES)
            .bind(user.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(TwoFactor {
            secret,
            pending,
            recovery,
        })
    }

    async fn set_totp_pending(&self, user: &UserId, secret: &str) -> StoreResult<()> {
        let binds = [Bind::Text(secret), Bind::Text(user.as_str())];
        self.update(rows::SET_TOTP_PENDING, &binds).await?;
        Ok(())
    }

    async fn enable_totp(
        &self,
        user: &UserId,
        secret: &str,
        step: i64,
        recovery: &[String],
    ) -> StoreResult<bool> {
        in_transaction!(self, conn => async {
            let enabled = sqlx::query(rows::ENABLE_TOTP)
                .bind(secret)
                .bind(step)
                .bind(user.as_str())
                .execute(&mut *conn)
                .await
                .map_err(db_error)?
                .rows_affected();
            if enabled == 0 {
                return Ok(false);
            }
            sqlx::query(rows::DELETE_RECOVERY_CODES)
                .bind(user.as_str())
                .execute(&mut *conn)
                .await
                .map_err(db_error)?;
            for (n, hash) in (1_i64..).zip(recovery) {
                sqlx::query(rows::INSERT_RECOVERY_CODE)
                    .bind(user.as_str())
                    .bind(n)
                    .bind(hash)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_error)?;
            }
            Ok(true)
        })
    }

    async fn disable_totp(&self, user: &UserId) -> StoreResult<()> {
        in_transaction!(self, conn => async {
            for statement in [rows::DISABLE_TOTP, rows::DELETE_RECOVERY_CODES] {
                sqlx::query(statement)
                    .bind(user.as_str())
                    .execute(&mut *conn)
                    .await
                    .map_err(db_error)?;
            }
            Ok(())
        })
    }

    async fn claim_totp_step(&self, user: &UserId, step: i64) -> StoreResult<bool> {
        let binds = [Bind::Int(step), Bind::Text(user.as_str())];
        Ok(self.update(rows::CLAIM_TOTP_STEP, &binds).await? == 1)
    }

    async fn use_recovery_code(&self, user: &UserId, n: i64, now: Timestamp) -> StoreResult<bool> {
        let binds = [
            Bind::Int(now.millis()),
            Bind::Text(user.as_str()),
            Bind::Int(n),
        ];
        Ok(self.update(rows::USE_RECOVERY_CODE, &binds).await? == 1)
    }

    async fn rehash_password(&self, user: &UserId, old: &str, new: &str) -> StoreResult<()> {
        let binds = [Bind::Text(new), Bind::Text(user.as_str()), Bind::Text(old)];
        self.update(rows::REHASH_PASSWORD, &binds).await?;
        Ok(())
    }

    async fn revoke_sessions_except(
        &self,
        user: &UserId,
        keep: Option<&SessionId>,
        now: Timestamp,
    ) -> StoreResult<Vec<(SessionId, Delivery)>> {
        in_transaction!(self, conn => async {
            let sessions: Vec<String> = sqlx::query_scalar(concat!(
                "SELECT id FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND id IS DISTINCT FROM $2 ORDER BY id",
                row_lock!()
            ))
            .bind(user.as_str())
            .bind(keep.map(SessionId::as_str))
            .fetch_all(&mut *conn)
            .await
            .map_err(db_error)?;
            tx::revoke_sessions(conn, user, sessions, now).await
        })
    }

    async fn record_audit(&self, event: &AuditEvent) -> StoreResult<()> {
        sqlx::query(rows::INSERT_AUDIT)
            .bind(&event.id)
            .bind(event.user_id.as_ref().map(UserId::as_str))
            .bind(&event.username)
            .bind(event.actor_id.as_ref().map(UserId::as_str))
            .bind(&event.kind)
            .bind(event.at.millis())
            .bind(&event.ip)
            .bind(&event.device)
            .bind(&event.detail)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn audit_events(
        &self,
        user: Option<&UserId>,
        before: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<AuditEvent>> {
        let before = before.unwrap_or(sql::AUDIT_NEWEST);
        let query = match user {
            Some(user) => sqlx::query(rows::AUDIT_OF_USER).bind(user.as_str()),
            None => sqlx::query(rows::AUDIT_ALL),
        };
        let rows = query
            .bind(before)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows.iter().map(decode::audit_event).collect()
    }

    async fn known_client(
        &self,
        user: &UserId,
        agent: Option<&str>,
        network: Option<&str>,
    ) -> StoreResult<Option<(bool, bool)>> {
        let (baseline, agent, network): (bool, bool, bool) = sqlx::query_as(rows::KNOWN_CLIENT)
            .bind(user.as_str())
            .bind(agent)
            .bind(network)
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(baseline.then_some((agent, network)))
    }

    async fn system_account(
        &self,
        id: &UserId,
        username: &str,
        display_name: &str,
        now: Timestamp,
    ) -> StoreResult<UserId> {
        sqlx::query(rows::INSERT_SYSTEM_ACCOUNT)
            .bind(id.as_str())
            .bind(username)
            .bind(display_name)
            .bind(now.millis())
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        let id: String = sqlx::query_scalar(rows::USER_ID_BY_USERNAME)
            .bind(username)
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(UserId::new(id))
    }

    async fn delete_account(
        &self,
        user: &UserId,
        now: Timestamp,
    ) -> StoreResult<Vec<(SessionId, Delivery)>> {
        in_transaction!(self, conn => async {
            // The lock order of every body (`tx`): member rows, then session rows, then
            // the user's row last (`revoke_sessions` appends to their stream, which locks
            // it). The tombstone's update refuses an account deleted meanwhile.
            let live: bool = sqlx::query_scalar(rows::ACCOUNT_LIVE)
                .bind(user.as_str())
                .fetch_one(&mut *conn)
                .await
                .map_err(db_error)?;
            if !live {
                return Err(hilo_store::StoreError::NotFound);
            }
            for statement in rows::END_ACCOUNT_PLACES {
                sqlx::query(statement)
                    .bind(now.millis())
                    .bind(user.as_str())
                    .execute(&mut *conn)
                    .await
                    .map_err(db_error)?;
            }
            let sessions: Vec<String> = sqlx::query_scalar(concat!(
                "SELECT id FROM sessions WHERE user_id = $1 AND revoked_at IS NULL ORDER BY id",
                row_lock!()
            ))
            .bind(user.as_str())
            .fetch_all(&mut *conn)
            .await
            .map_err(db_error)?;
            let revoked = tx::revoke_sessions(conn, user, sessions, now).await?;
            for statement in rows::DELETE_ACCOUNT_DATA {
                sqlx::query(statement)
                    .bind(user.as_str())
                    .execute(&mut *conn)
                    .await
                    .map_err(db_error)?;
            }
            let changed = sqlx::query(rows::TOMBSTONE_ACCOUNT)
                .bind(now.millis())
                .bind(user.as_str())
                .execute(&mut *conn)
                .await
                .map_err(db_error)?
                .rows_affected();
            if changed == 0 {
                // Deleted by another node since the check: roll back.
                return Err(hilo_store::StoreError::NotFound);
            }
            Ok(revoked)
        })
    }

    async fn list_users(
        &self,
        query: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<User>> {
        let rows = sqlx::query(rows::LIST_USERS)
            .bind(after.unwrap_or_default())
            .bind(sql::contains_pattern(query))
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows.iter().map(decode::user).collect()
    }
}

#[async_trait]
impl LimitStore for PostgresStore {
    async fn bump(
        &self,
        key: &str,
        window_ms: i64,
        slide: bool,
        now: Timestamp,
    ) -> StoreResult<(i64, Timestamp)> {
        let (count, started_at): (i64, i64) = sqlx::query_as(rows::BUMP_COUNTER)
            .bind(key)
            .bind(now.millis())
            .bind(now.millis() - window_ms)
            .bind(slide)
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)?;
        Ok((count, Timestamp(started_at)))
    }

    async fn counter(&self, key: &str) -> StoreResult<Option<(i64, Timestamp)>> {
        let row: Option<(i64, i64)> = sqlx::query_as(rows::COUNTER)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(row.map(|(count, at)| (count, Timestamp(at))))
    }

    async fn refund(&self, key: &str) -> StoreResult<()> {
        self.update(rows::REFUND_COUNTER, &[Bind::Text(key)])
            .await?;
        Ok(())
    }

    async fn forget_counter(&self, key: &str) -> StoreResult<()> {
        self.update(rows::FORGET_COUNTER, &[Bind::Text(key)])
            .await?;
        Ok(())
    }

    async fn sweep_counters(&self, before: Timestamp) -> StoreResult<u64> {
        self.update(rows::SWEEP_COUNTERS, &[Bind::Int(before.millis())])
            .await
    }
}
