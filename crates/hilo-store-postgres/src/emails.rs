//! Outside email addresses: an account's own and the ones it blocks; each a single
//! statement of `rows`.

use async_trait::async_trait;
use hilo_core::{ConversationId, Timestamp, UserId};
use hilo_store::{BlockedAddress, DigestDue, EmailStore, StoreResult, UserEmail};
use sqlx::Row as _;

use crate::{PostgresStore, db_error, rows};

impl PostgresStore {
    /// Runs `sql` with `user` and `address` bound as `$1` and `$2`; the rows it changed.
    async fn user_address(
        &self,
        sql: &'static str,
        user: &UserId,
        address: &str,
    ) -> StoreResult<u64> {
        Ok(sqlx::query(sql)
            .bind(user.as_str())
            .bind(address)
            .execute(&self.pool)
            .await
            .map_err(db_error)?
            .rows_affected())
    }
}

#[async_trait]
impl EmailStore for PostgresStore {
    async fn emails(&self, user: &UserId) -> StoreResult<Vec<UserEmail>> {
        let rows = sqlx::query(rows::EMAILS)
            .bind(user.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows.iter()
            .map(|row| {
                Ok(UserEmail {
                    address: row.try_get("address").map_err(db_error)?,
                    verified_at: row
                        .try_get::<Option<i64>, _>("verified_at")
                        .map_err(db_error)?
                        .map(Timestamp),
                    created_at: Timestamp(row.try_get("created_at").map_err(db_error)?),
                    digest: row.try_get("digest").map_err(db_error)?,
                })
            })
            .collect()
    }

    async fn put_email_code(
        &self,
        user: &UserId,
        address: &str,
        code_hash: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let changed = sqlx::query(rows::PUT_EMAIL_CODE)
            .bind(user.as_str())
            .bind(address)
            .bind(code_hash)
            .bind(expires_at.millis())
            .bind(now.millis())
            .execute(&self.pool)
            .await
            .map_err(db_error)?
            .rows_affected();
        Ok(changed > 0)
    }

    async fn claim_email_attempt(
        &self,
        user: &UserId,
        address: &str,
        max_attempts: i64,
    ) -> StoreResult<Option<(String, Timestamp)>> {
        let row = sqlx::query(rows::CLAIM_EMAIL_ATTEMPT)
            .bind(user.as_str())
            .bind(address)
            .bind(max_attempts)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.map(|row| {
            let hash: Option<String> = row.try_get("code_hash").map_err(db_error)?;
            let expires: Option<i64> = row.try_get("code_expires_at").map_err(db_error)?;
            Ok((hash.unwrap_or_default(), Timestamp(expires.unwrap_or(0))))
        })
        .transpose()
    }

    async fn confirm_email(
        &self,
        user: &UserId,
        address: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let changed = sqlx::query(rows::CONFIRM_EMAIL)
            .bind(now.millis())
            .bind(user.as_str())
            .bind(address)
            .execute(&self.pool)
            .await;
        match changed {
            Ok(done) => Ok(done.rows_affected() > 0),
            // Two accounts confirming one address at once: the unique index decides.
            Err(sqlx::Error::Database(error)) if error.is_unique_violation() => Ok(false),
            Err(error) => Err(db_error(error)),
        }
    }

    async fn remove_email(
        &self,
        user: &UserId,
        address: &str,
        waiting_only: bool,
    ) -> StoreResult<bool> {
        let sql = if waiting_only {
            rows::REMOVE_WAITING_EMAIL
        } else {
            rows::REMOVE_EMAIL
        };
        Ok(self.user_address(sql, user, address).await? > 0)
    }

    async fn email_owner(&self, address: &str) -> StoreResult<Option<UserId>> {
        let owner: Option<String> = sqlx::query_scalar(rows::EMAIL_OWNER)
            .bind(address)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(owner.map(UserId::new))
    }

    async fn block_address(
        &self,
        user: &UserId,
        address: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let changed = sqlx::query(rows::BLOCK_ADDRESS)
            .bind(user.as_str())
            .bind(address)
            .bind(now.millis())
            .execute(&self.pool)
            .await
            .map_err(db_error)?
            .rows_affected();
        Ok(changed > 0)
    }

    async fn unblock_address(&self, user: &UserId, address: &str) -> StoreResult<bool> {
        Ok(self
            .user_address(rows::UNBLOCK_ADDRESS, user, address)
            .await?
            > 0)
    }

    async fn blocked_addresses(&self, user: &UserId) -> StoreResult<Vec<BlockedAddress>> {
        let rows = sqlx::query(rows::BLOCKED_ADDRESSES)
            .bind(user.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows.iter()
            .map(|row| {
                Ok(BlockedAddress {
                    address: row.try_get("address").map_err(db_error)?,
                    created_at: Timestamp(row.try_get("created_at").map_err(db_error)?),
                    dropped: row.try_get("dropped").map_err(db_error)?,
                })
            })
            .collect()
    }

    async fn drop_if_blocked(&self, user: &UserId, address: &str) -> StoreResult<bool> {
        Ok(self
            .user_address(rows::DROP_IF_BLOCKED, user, address)
            .await?
            > 0)
    }

    async fn set_digest(&self, user: &UserId, address: &str, on: bool) -> StoreResult<bool> {
        let changed = sqlx::query(rows::SET_DIGEST)
            .bind(on)
            .bind(user.as_str())
            .bind(address)
            .execute(&self.pool)
            .await
            .map_err(db_error)?
            .rows_affected();
        Ok(changed > 0)
    }

    async fn digest_addresses(&self, user: &UserId) -> StoreResult<Vec<String>> {
        sqlx::query_scalar(rows::DIGEST_ADDRESSES)
            .bind(user.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)
    }

    async fn digests_due(
        &self,
        now: Timestamp,
        waited_since: Timestamp,
        after: (&UserId, &ConversationId),
        limit: i64,
    ) -> StoreResult<Vec<DigestDue>> {
        let rows = sqlx::query(rows::DIGESTS_DUE)
            .bind(now.millis())
            .bind(waited_since.millis())
            .bind(after.0.as_str())
            .bind(after.1.as_str())
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows.iter()
            .map(|row| {
                Ok(DigestDue {
                    user: UserId::new(row.try_get::<String, _>("user_id").map_err(db_error)?),
                    conversation: ConversationId::new(
                        row.try_get::<String, _>("conversation_id")
                            .map_err(db_error)?,
                    ),
                    from_seq: row.try_get("from_seq").map_err(db_error)?,
                    last_seq: row.try_get("last_seq").map_err(db_error)?,
                })
            })
            .collect()
    }

    async fn mark_digested(
        &self,
        user: &UserId,
        conversation: &ConversationId,
        seq: i64,
    ) -> StoreResult<()> {
        sqlx::query(rows::MARK_DIGESTED)
            .bind(seq)
            .bind(conversation.as_str())
            .bind(user.as_str())
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }
}
