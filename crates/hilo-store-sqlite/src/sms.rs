//! Texts: routes between numbers, opt-outs, and texts handed to a provider; reads on a
//! reader, writes on the single writer.

use async_trait::async_trait;
use hilo_core::{ConversationId, DeliveryState, MessageId, SmsMeta, Timestamp};
use hilo_store::{Delivery, MailJob, SmsStore, StoreResult};
use rusqlite::params;

use crate::db::{execute, scalar};
use crate::{SqliteStore, rows, tx};

#[async_trait]
impl SmsStore for SqliteStore {
    async fn sms_route(&self, our: &str, their: &str) -> StoreResult<Option<ConversationId>> {
        in_reader!(self, (our, their), conn => Ok(
            scalar::<String>(conn, rows::SMS_ROUTE, [our.as_str(), their.as_str()])?
                .map(ConversationId::new)
        ))
    }

    async fn bind_sms_route(
        &self,
        conversation: &ConversationId,
        their: &str,
        candidates: &[String],
        now: Timestamp,
    ) -> StoreResult<Option<String>> {
        in_writer!(self, (conversation, their, candidates), conn =>
            tx::bind_sms_route(conn, &conversation, &their, &candidates, now))
    }

    async fn sms_opted_out(&self, our: &str, their: &str) -> StoreResult<bool> {
        in_reader!(self, (our, their), conn => Ok(
            scalar::<i64>(conn, rows::SMS_OPTED_OUT, [our.as_str(), their.as_str()])?.is_some()
        ))
    }

    async fn set_sms_opt_out(
        &self,
        our: &str,
        their: &str,
        out: bool,
        now: Timestamp,
    ) -> StoreResult<()> {
        in_writer!(self, (our, their), conn => {
            if out {
                execute(conn, rows::SMS_OPT_OUT, params![our, their, now.millis()])?;
            } else {
                execute(conn, rows::SMS_OPT_IN, params![our, their])?;
            }
            Ok(())
        })
    }

    async fn claim_sms(
        &self,
        now: Timestamp,
        lease_ms: i64,
        limit: i64,
    ) -> StoreResult<Vec<MailJob>> {
        in_writer!(self, (), conn => tx::claim_outbound(conn, "sms", now, lease_ms, limit))
    }

    async fn sms_sending(
        &self,
        message: &MessageId,
        lease: Timestamp,
        now: Timestamp,
    ) -> StoreResult<bool> {
        in_writer!(self, (message), conn => Ok(execute(
            conn,
            rows::SMS_SENDING,
            params![now.millis(), message.as_str(), lease.millis()],
        )? > 0))
    }

    async fn sms_handed(
        &self,
        message: &MessageId,
        sms: &SmsMeta,
        now: Timestamp,
    ) -> StoreResult<Vec<Delivery>> {
        in_writer!(self, (message, sms), conn => tx::sms_handed(conn, &message, &sms, now))
    }

    async fn sms_known(&self, provider: &str, sid: &str, inbound: bool) -> StoreResult<bool> {
        in_reader!(self, (provider, sid), conn => Ok(
            scalar::<i64>(conn, rows::SMS_KNOWN, params![provider, sid, inbound])?.is_some()
        ))
    }

    async fn sms_status(
        &self,
        provider: &str,
        sid: &str,
        state: DeliveryState,
        detail: Option<String>,
        now: Timestamp,
    ) -> StoreResult<Option<(MessageId, Vec<Delivery>)>> {
        in_writer!(self, (provider, sid), conn =>
            tx::sms_status(conn, &provider, &sid, state, detail.as_deref(), now))
    }
}
