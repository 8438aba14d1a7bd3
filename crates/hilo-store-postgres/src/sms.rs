//! Texts: routes between numbers, opt-outs, and texts handed to a provider.

use async_trait::async_trait;
use hilo_core::{ConversationId, DeliveryState, MessageId, SmsMeta, Timestamp};
use hilo_store::{Delivery, MailJob, SmsStore, StoreResult};

use crate::{PostgresStore, db_error, rows, tx};

#[async_trait]
impl SmsStore for PostgresStore {
    async fn sms_route(&self, our: &str, their: &str) -> StoreResult<Option<ConversationId>> {
        let found: Option<String> = sqlx::query_scalar(rows::SMS_ROUTE)
            .bind(our)
            .bind(their)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(found.map(ConversationId::new))
    }

    async fn bind_sms_route(
        &self,
        conversation: &ConversationId,
        their: &str,
        candidates: &[String],
        now: Timestamp,
    ) -> StoreResult<Option<String>> {
        in_transaction!(self, conn => tx::bind_sms_route(conn, conversation, their, candidates, now))
    }

    async fn sms_opted_out(&self, our: &str, their: &str) -> StoreResult<bool> {
        let found: Option<i32> = sqlx::query_scalar(rows::SMS_OPTED_OUT)
            .bind(our)
            .bind(their)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(found.is_some())
    }

    async fn set_sms_opt_out(
        &self,
        our: &str,
        their: &str,
        out: bool,
        now: Timestamp,
    ) -> StoreResult<()> {
        let query = if out {
            sqlx::query(rows::SMS_OPT_OUT)
                .bind(our)
                .bind(their)
                .bind(now.millis())
        } else {
            sqlx::query(rows::SMS_OPT_IN).bind(our).bind(their)
        };
        query.execute(&self.pool).await.map_err(db_error)?;
        Ok(())
    }

    async fn claim_sms(
        &self,
        now: Timestamp,
        lease_ms: i64,
        limit: i64,
    ) -> StoreResult<Vec<MailJob>> {
        in_transaction!(self, conn => tx::claim_outbound(conn, "sms", now, lease_ms, limit))
    }

    async fn sms_sending(
        &self,
        message: &MessageId,
        lease: Timestamp,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let changed = sqlx::query(rows::SMS_SENDING)
            .bind(now.millis())
            .bind(message.as_str())
            .bind(lease.millis())
            .execute(&self.pool)
            .await
            .map_err(db_error)?
            .rows_affected();
        Ok(changed > 0)
    }

    async fn sms_handed(
        &self,
        message: &MessageId,
        sms: &SmsMeta,
        now: Timestamp,
    ) -> StoreResult<Vec<Delivery>> {
        in_transaction!(self, conn => tx::sms_handed(conn, message, sms, now))
    }

    async fn sms_known(&self, provider: &str, sid: &str, inbound: bool) -> StoreResult<bool> {
        let found: Option<i32> = sqlx::query_scalar(rows::SMS_KNOWN)
            .bind(provider)
            .bind(sid)
            .bind(inbound)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(found.is_some())
    }

    async fn sms_status(
        &self,
        provider: &str,
        sid: &str,
        state: DeliveryState,
        detail: Option<String>,
        now: Timestamp,
    ) -> StoreResult<Option<(MessageId, Vec<Delivery>)>> {
        in_transaction!(self, conn => tx::sms_status(conn, provider, sid, state, detail.as_deref(), now))
    }
}
