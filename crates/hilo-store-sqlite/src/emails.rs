//! Outside email addresses: an account's own and the ones it blocks; each a single
//! statement of `rows`, writes on the single writer.

use async_trait::async_trait;
use hilo_core::{ConversationId, Timestamp, UserId};
use hilo_store::sql::Columns;
use hilo_store::{BlockedAddress, DigestDue, EmailStore, StoreResult, UserEmail};
use rusqlite::params;

use crate::db::{all, column, execute, one, scalar};
use crate::{SqliteStore, rows};

#[async_trait]
impl EmailStore for SqliteStore {
    async fn emails(&self, user: &UserId) -> StoreResult<Vec<UserEmail>> {
        in_reader!(self, (user), conn => all(conn, rows::EMAILS, [user.as_str()], |row| {
            Ok(UserEmail {
                address: row.text("address")?,
                verified_at: row.opt_int("verified_at")?.map(Timestamp),
                created_at: Timestamp(row.int("created_at")?),
                digest: row.flag("digest")?,
            })
        }))
    }

    async fn put_email_code(
        &self,
        user: &UserId,
        address: &str,
        code_hash: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> StoreResult<bool> {
        in_writer!(self, (user, address, code_hash), conn => {
            let changed = execute(
                conn,
                rows::PUT_EMAIL_CODE,
                params![user.as_str(), address, code_hash, expires_at.millis(), now.millis()],
            )?;
            Ok(changed > 0)
        })
    }

    async fn claim_email_attempt(
        &self,
        user: &UserId,
        address: &str,
        max_attempts: i64,
    ) -> StoreResult<Option<(String, Timestamp)>> {
        in_writer!(self, (user, address), conn => one(
            conn,
            rows::CLAIM_EMAIL_ATTEMPT,
            params![user.as_str(), address, max_attempts],
            |row| Ok((
                row.opt_text("code_hash")?.unwrap_or_default(),
                Timestamp(row.opt_int("code_expires_at")?.unwrap_or(0)),
            )),
        ))
    }

    async fn confirm_email(
        &self,
        user: &UserId,
        address: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        // One writer: the statement's NOT EXISTS sees every confirmation before it.
        in_writer!(self, (user, address), conn => {
            Ok(execute(conn, rows::CONFIRM_EMAIL, params![now.millis(), user.as_str(), address])? > 0)
        })
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
        in_writer!(self, (user, address), conn => {
            Ok(execute(conn, sql, [user.as_str(), address.as_str()])? > 0)
        })
    }

    async fn email_owner(&self, address: &str) -> StoreResult<Option<UserId>> {
        in_reader!(self, (address), conn => {
            Ok(scalar::<String>(conn, rows::EMAIL_OWNER, [address.as_str()])?.map(UserId::new))
        })
    }

    async fn block_address(
        &self,
        user: &UserId,
        address: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        in_writer!(self, (user, address), conn => {
            Ok(execute(conn, rows::BLOCK_ADDRESS, params![user.as_str(), address, now.millis()])? > 0)
        })
    }

    async fn unblock_address(&self, user: &UserId, address: &str) -> StoreResult<bool> {
        in_writer!(self, (user, address), conn => {
            Ok(execute(conn, rows::UNBLOCK_ADDRESS, [user.as_str(), address.as_str()])? > 0)
        })
    }

    async fn blocked_addresses(&self, user: &UserId) -> StoreResult<Vec<BlockedAddress>> {
        in_reader!(self, (user), conn => all(conn, rows::BLOCKED_ADDRESSES, [user.as_str()], |row| {
            Ok(BlockedAddress {
                address: row.text("address")?,
                created_at: Timestamp(row.int("created_at")?),
                dropped: row.int("dropped")?,
            })
        }))
    }

    async fn drop_if_blocked(&self, user: &UserId, address: &str) -> StoreResult<bool> {
        in_writer!(self, (user, address), conn => {
            Ok(execute(conn, rows::DROP_IF_BLOCKED, [user.as_str(), address.as_str()])? > 0)
        })
    }

    async fn set_digest(&self, user: &UserId, address: &str, on: bool) -> StoreResult<bool> {
        in_writer!(self, (user, address), conn => {
            Ok(execute(conn, rows::SET_DIGEST, params![on, user.as_str(), address])? > 0)
        })
    }

    async fn digest_addresses(&self, user: &UserId) -> StoreResult<Vec<String>> {
        in_reader!(self, (user), conn => column(conn, rows::DIGEST_ADDRESSES, [user.as_str()]))
    }

    async fn digests_due(
        &self,
        now: Timestamp,
        waited_since: Timestamp,
        after: (&UserId, &ConversationId),
        limit: i64,
    ) -> StoreResult<Vec<DigestDue>> {
        let (user, conversation) = after;
        in_reader!(self, (user, conversation), conn => all(
            conn,
            rows::DIGESTS_DUE,
            params![now.millis(), waited_since.millis(), user.as_str(), conversation.as_str(), limit],
            |row| Ok(DigestDue {
                user: UserId::new(row.text("user_id")?),
                conversation: ConversationId::new(row.text("conversation_id")?),
                from_seq: row.int("from_seq")?,
                last_seq: row.int("last_seq")?,
            }),
        ))
    }

    async fn mark_digested(
        &self,
        user: &UserId,
        conversation: &ConversationId,
        seq: i64,
    ) -> StoreResult<()> {
        in_writer!(self, (user, conversation), conn => {
            execute(conn, rows::MARK_DIGESTED, params![seq, conversation.as_str(), user.as_str()])?;
            Ok(())
        })
    }
}
