//! Reports and the moderation queue: anyone reports a message they can read or a person;
//! administrators see the open reports with the reported content in context and resolve
//! them (dismiss, delete the message for everyone, suspend the person, which ends every
//! session of theirs). The reporter hears how it was resolved (`report.resolved`).

use hilo_core::{Message, MessageId, Report, ReportAction, ReportId, ReportStatus, User, validate};
use hilo_proto::Event;
use hilo_store::MessageChange;

use crate::{Caller, Error, Hilo, Result};

/// Most reports one queue page shows.
const QUEUE_MAX: i64 = 200;
/// Messages shown on each side of a reported one.
const CONTEXT: i64 = 3;

/// A report with what it points at, as the reporter or a moderator sees it.
#[derive(Debug, Clone)]
pub struct ReportView {
    /// The report.
    pub report: Report,
    /// Who reported (gone if the account was deleted).
    pub reporter: Option<User>,
    /// The message reported, as it is now.
    pub message: Option<Message>,
    /// The person reported.
    pub subject: Option<User>,
    /// For moderators: the messages around the reported one, in order.
    pub context: Vec<Message>,
}

fn admin_only(caller: &Caller) -> Result<()> {
    if caller.user.is_admin {
        Ok(())
    } else {
        Err(Error::forbidden(
            "admin_only",
            "only administrators can moderate",
        ))
    }
}

impl Hilo {
    /// Reports a message the caller can read, a person, or both (then the person must be
    /// the message's sender). Never oneself.
    pub async fn report(
        &self,
        caller: &Caller,
        message_id: Option<&str>,
        username: Option<&str>,
        reason: &str,
    ) -> Result<ReportView> {
        let reason = validate::report_reason(reason)?;
        let message = match message_id {
            Some(id) if id.is_empty() || id.len() > 64 => {
                return Err(Error::NotFound("message"));
            }
            Some(id) => Some(self.message(caller, &MessageId::new(id)).await?),
            None => None,
        };
        let named = match username {
            Some(name) => Some(self.existing_user(name).await?),
            None => None,
        };
        let sender = message.as_ref().and_then(|m| m.sender_user().cloned());
        let subject = match (&named, &sender) {
            (None, None) if message.is_none() => {
                return Err(Error::bad_request(
                    "missing_field",
                    "a report names a message_id, a username, or both",
                ));
            }
            (Some(named), Some(sender)) if named.id != *sender => {
                return Err(Error::bad_request(
                    "invalid_report",
                    "the username must be the reported message's sender",
                ));
            }
            (Some(named), _) => Some(named.id.clone()),
            (None, sender) => sender.clone(),
        };
        if subject.as_ref() == Some(&caller.user.id) {
            return Err(Error::bad_request(
                "invalid_report",
                "you cannot report yourself",
            ));
        }
        let report = Report {
            id: ReportId::new(self.inner.ids.new_id()),
            reporter: caller.user.id.clone(),
            message_id: message.as_ref().map(|m| m.id.clone()),
            conversation_id: message.as_ref().map(|m| m.conversation_id.clone()),
            subject,
            reason,
            status: ReportStatus::Open,
            created_at: self.inner.clock.now(),
            resolved_at: None,
        };
        self.inner.store.create_report(&report).await?;
        tracing::info!(report = %report.id, "report made");
        self.report_view(report, false).await
    }

    /// The moderation queue: reports with `status` (default `open`), oldest first.
    pub async fn reports(&self, caller: &Caller, status: Option<&str>) -> Result<Vec<ReportView>> {
        admin_only(caller)?;
        let status = match status {
            None => ReportStatus::Open,
            Some(text) => ReportStatus::parse(text).ok_or_else(|| {
                Error::bad_request(
                    "invalid_status",
                    "status is open, dismissed, message_deleted or user_suspended",
                )
            })?,
        };
        let mut views = Vec::new();
        for report in self.inner.store.reports(status, QUEUE_MAX).await? {
            views.push(self.report_view(report, true).await?);
        }
        Ok(views)
    }

    /// Resolves an open report; the reporter is told.
    pub async fn resolve_report(
        &self,
        caller: &Caller,
        id: &ReportId,
        action: &str,
    ) -> Result<ReportView> {
        admin_only(caller)?;
        let action = ReportAction::parse(action).ok_or_else(|| {
            Error::bad_request(
                "invalid_action",
                "action is dismiss, delete_message or suspend_user",
            )
        })?;
        let report = self.stored_report(id).await?;
        if report.status != ReportStatus::Open {
            return Err(already_resolved());
        }
        let now = self.inner.clock.now();
        // A report a moderator acts on teaches the spam filter its message (read before a
        // delete takes the text).
        if action != ReportAction::Dismiss
            && let Some(message) = &report.message_id
            && let Some(message) = self.inner.store.message(message, None).await?
        {
            self.teach_confirmed_spam(&message).await?;
        }
        match action {
            ReportAction::Dismiss => {}
            ReportAction::DeleteMessage => {
                let Some(message) = &report.message_id else {
                    return Err(Error::bad_request(
                        "no_message",
                        "this report names no message",
                    ));
                };
                match self.inner.store.delete_message(message, None, now).await? {
                    // Gone already: deleted by its sender meanwhile, or its account.
                    MessageChange::NotFound => {}
                    change => {
                        self.changed(change).await?;
                    }
                }
            }
            ReportAction::SuspendUser => {
                let Some(subject) = &report.subject else {
                    return Err(Error::bad_request("no_user", "this report names no person"));
                };
                if *subject == caller.user.id {
                    return Err(Error::bad_request(
                        "invalid_action",
                        "you cannot suspend yourself",
                    ));
                }
                let revoked = self.inner.store.set_suspended(subject, true, now).await?;
                for (session, delivery) in revoked {
                    let event = Event::SessionRevoked {
                        session_id: session.to_string(),
                    };
                    self.publish_revocations(vec![(session, delivery)], &event)
                        .await;
                }
                tracing::info!(user = %subject, report = %report.id, "account suspended");
            }
        }
        let status = action.status();
        let delivery = match self
            .inner
            .store
            .resolve_report(id, status, &caller.user.id, now)
            .await
        {
            Err(hilo_store::StoreError::Conflict(_)) => return Err(already_resolved()),
            other => other?,
        };
        let event = Event::ReportResolved {
            report_id: id.to_string(),
            status: status.as_str().to_owned(),
        };
        self.publish(&[delivery], &event).await;
        let report = self.stored_report(id).await?;
        self.report_view(report, true).await
    }

    async fn stored_report(&self, id: &ReportId) -> Result<Report> {
        self.inner
            .store
            .report(id)
            .await?
            .ok_or(Error::NotFound("report"))
    }

    async fn report_view(&self, report: Report, with_context: bool) -> Result<ReportView> {
        let store = &self.inner.store;
        let reporter = store.user(&report.reporter).await?;
        let subject = match &report.subject {
            Some(id) => store.user(id).await?,
            None => None,
        };
        let message = match &report.message_id {
            Some(id) => store.message(id, None).await?,
            None => None,
        };
        let context = match (&message, with_context) {
            (Some(message), true) => {
                // What the reporter could see around it.
                store
                    .messages(
                        &message.conversation_id,
                        &report.reporter,
                        Some(message.seq + CONTEXT + 1),
                        None,
                        2 * CONTEXT + 1,
                    )
                    .await?
                    .messages
                    .into_iter()
                    .filter(|m| m.seq >= message.seq - CONTEXT)
                    .collect()
            }
            _ => Vec::new(),
        };
        Ok(ReportView {
            report,
            reporter,
            message,
            subject,
            context,
        })
    }
}

fn already_resolved() -> Error {
    Error::conflict("already_resolved", "this report was resolved already")
}
