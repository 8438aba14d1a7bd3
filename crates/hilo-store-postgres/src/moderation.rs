//! Reports and suspensions: each write one transaction, reads through the shared queries
//! of `rows`.

use async_trait::async_trait;
use hilo_core::{
    EventKind, EventRecord, Report, ReportId, ReportStatus, SessionId, Timestamp, UserId,
};
use hilo_store::{Delivery, ModerationStore, StoreError, StoreResult};

use crate::{PostgresStore, db_error, decode, events, rows, tx};

async fn resolve_report(
    conn: &mut sqlx::PgConnection,
    id: &ReportId,
    status: ReportStatus,
    moderator: &UserId,
    now: Timestamp,
) -> StoreResult<Delivery> {
    let reporter: Option<String> = sqlx::query_scalar(rows::RESOLVE_REPORT)
        .bind(status.as_str())
        .bind(now.millis())
        .bind(moderator.as_str())
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?;
    let Some(reporter) = reporter else {
        let exists = sqlx::query(rows::REPORT_BY_ID)
            .bind(id.as_str())
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_error)?;
        return Err(match exists {
            Some(_) => StoreError::Conflict("already_resolved"),
            None => StoreError::NotFound,
        });
    };
    let mut record = EventRecord::new(EventKind::ReportResolved);
    record.report_id = Some(id.clone());
    let mut deliveries = events::append(conn, &[UserId::new(reporter)], &record, now).await?;
    deliveries.pop().ok_or(StoreError::NotFound)
}

async fn set_suspended(
    conn: &mut sqlx::PgConnection,
    user: &UserId,
    suspended: bool,
    now: Timestamp,
) -> StoreResult<Vec<(SessionId, Delivery)>> {
    // Sessions first, then the user's row, as `set_password` does.
    let sessions: Vec<String> = if suspended {
        sqlx::query_scalar(concat!(
            "SELECT id FROM sessions WHERE user_id = $1 AND revoked_at IS NULL ORDER BY id",
            row_lock!()
        ))
        .bind(user.as_str())
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?
    } else {
        Vec::new()
    };
    let done = sqlx::query("UPDATE users SET suspended = $1 WHERE id = $2")
        .bind(suspended)
        .bind(user.as_str())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    tx::revoke_sessions(conn, user, sessions, now).await
}

#[async_trait]
impl ModerationStore for PostgresStore {
    async fn create_report(&self, report: &Report) -> StoreResult<()> {
        sqlx::query(rows::INSERT_REPORT)
            .bind(report.id.as_str())
            .bind(report.reporter.as_str())
            .bind(report.message_id.as_ref().map(|id| id.as_str()))
            .bind(report.conversation_id.as_ref().map(|id| id.as_str()))
            .bind(report.subject.as_ref().map(|id| id.as_str()))
            .bind(&report.reason)
            .bind(report.created_at.millis())
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn report(&self, id: &ReportId) -> StoreResult<Option<Report>> {
        let row = sqlx::query(rows::REPORT_BY_ID)
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.as_ref().map(decode::report).transpose()
    }

    async fn reports(&self, status: ReportStatus, limit: i64) -> StoreResult<Vec<Report>> {
        let rows = sqlx::query(rows::REPORTS_WITH_STATUS)
            .bind(status.as_str())
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows.iter().map(decode::report).collect()
    }

    async fn resolve_report(
        &self,
        id: &ReportId,
        status: ReportStatus,
        moderator: &UserId,
        now: Timestamp,
    ) -> StoreResult<Delivery> {
        in_transaction!(self, conn => resolve_report(conn, id, status, moderator, now))
    }

    async fn set_suspended(
        &self,
        user: &UserId,
        suspended: bool,
        now: Timestamp,
    ) -> StoreResult<Vec<(SessionId, Delivery)>> {
        in_transaction!(self, conn => set_suspended(conn, user, suspended, now))
    }
}
