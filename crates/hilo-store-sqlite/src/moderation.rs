//! Reports and suspensions: write bodies on the single writer, reads through the shared
//! queries of `rows`.

use async_trait::async_trait;
use hilo_core::{
    EventKind, EventRecord, Report, ReportId, ReportStatus, SessionId, Timestamp, UserId,
};
use hilo_store::sql;
use hilo_store::{Delivery, ModerationStore, StoreError, StoreResult};
use rusqlite::{Connection, params};

use crate::db::{all, column, execute, one, scalar};
use crate::{SqliteStore, events, rows, tx};

fn resolve_report(
    conn: &Connection,
    id: &ReportId,
    status: ReportStatus,
    moderator: &UserId,
    now: Timestamp,
) -> StoreResult<Delivery> {
    let reporter: Option<String> = scalar(
        conn,
        rows::RESOLVE_REPORT,
        params![
            status.as_str(),
            now.millis(),
            moderator.as_str(),
            id.as_str()
        ],
    )?;
    let Some(reporter) = reporter else {
        let exists = one(conn, rows::REPORT_BY_ID, [id.as_str()], |row| {
            sql::report(row)
        })?;
        return Err(match exists {
            Some(_) => StoreError::Conflict("already_resolved"),
            None => StoreError::NotFound,
        });
    };
    let mut record = EventRecord::new(EventKind::ReportResolved);
    record.report_id = Some(id.clone());
    let mut deliveries = events::append(conn, &[UserId::new(reporter)], &record, now)?;
    deliveries.pop().ok_or(StoreError::NotFound)
}

fn set_suspended(
    conn: &Connection,
    user: &UserId,
    suspended: bool,
    now: Timestamp,
) -> StoreResult<Vec<(SessionId, Delivery)>> {
    let sessions: Vec<String> = if suspended {
        column(
            conn,
            "SELECT id FROM sessions WHERE user_id = ?1 AND revoked_at IS NULL ORDER BY id",
            [user.as_str()],
        )?
    } else {
        Vec::new()
    };
    if execute(
        conn,
        "UPDATE users SET suspended = ?1 WHERE id = ?2",
        params![suspended, user.as_str()],
    )? == 0
    {
        return Err(StoreError::NotFound);
    }
    tx::revoke_sessions(conn, user, sessions, now)
}

#[async_trait]
impl ModerationStore for SqliteStore {
    async fn create_report(&self, report: &Report) -> StoreResult<()> {
        let report = report.clone();
        in_writer!(self, (), conn => execute(
            conn,
            rows::INSERT_REPORT,
            params![
                report.id.as_str(),
                report.reporter.as_str(),
                report.message_id.as_ref().map(|id| id.as_str()),
                report.conversation_id.as_ref().map(|id| id.as_str()),
                report.subject.as_ref().map(|id| id.as_str()),
                report.reason,
                report.created_at.millis()
            ],
        )
        .map(|_| ()))
    }

    async fn report(&self, id: &ReportId) -> StoreResult<Option<Report>> {
        in_reader!(self, (id), conn => one(conn, rows::REPORT_BY_ID, [id.as_str()], |row| sql::report(row)))
    }

    async fn reports(&self, status: ReportStatus, limit: i64) -> StoreResult<Vec<Report>> {
        in_reader!(self, (), conn => all(conn, rows::REPORTS_WITH_STATUS, params![status.as_str(), limit], |row| sql::report(row)))
    }

    async fn resolve_report(
        &self,
        id: &ReportId,
        status: ReportStatus,
        moderator: &UserId,
        now: Timestamp,
    ) -> StoreResult<Delivery> {
        in_writer!(self, (id, moderator), conn => resolve_report(conn, &id, status, &moderator, now))
    }

    async fn set_suspended(
        &self,
        user: &UserId,
        suspended: bool,
        now: Timestamp,
    ) -> StoreResult<Vec<(SessionId, Delivery)>> {
        in_writer!(self, (user), conn => set_suspended(conn, &user, suspended, now))
    }
}
