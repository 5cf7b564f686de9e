//! `deletion-reminders`: mails "your account will be deleted in N days" for each configured day
//! (3 and 1 by default), each reminder exactly once per scheduled deletion.
//!
//! The claim (marking the reminder sent) and the outbox row are written in one transaction, so a
//! crash leaves either both or neither; delivery is then queued like any mail, and the outbox
//! sends each row once and is swept for retries.

use std::time::Instant;

use super::message::Job;
use super::{BATCH_SIZE, JobError, Report, enqueue, time_left};
use crate::AppState;
use crate::domain::deletion;
use crate::mail::templates::{Template, render};
use crate::repo::{deletion as repo, outbox};

/// Claims and mails due reminders until none is left or the deadline is near.
pub(crate) async fn run(state: &AppState, stop_at: Instant, report: &mut Report) -> Result<(), JobError> {
    let configured = &state.config.deletion_reminder_days;
    for what in ["reminders_queued", "queue_failures"] {
        report.add(what, 0);
    }
    for day in deletion::claim_order(configured) {
        let covered = deletion::reminders_covered(configured, day);
        loop {
            if !time_left(stop_at) {
                report.complete = false;
                return Ok(());
            }
            let mut tx = state.db.begin().await?;
            let due = repo::claim_reminders(&mut tx, day, &covered, BATCH_SIZE).await?;
            let mut queued = Vec::with_capacity(due.len());
            for account in &due {
                let date = deletion::mail_date(account.deletion_scheduled_for);
                let days_left = day.to_string();
                let mail = render(
                    Template::DeletionReminder,
                    &account.email,
                    &[
                        ("username", &account.username),
                        ("project_name", &state.config.project_name),
                        ("deletion_date", &date),
                        ("days_left", &days_left),
                    ],
                )?;
                queued.push(outbox::insert_mail(&mut *tx, &mail).await?);
            }
            tx.commit().await?;
            report.add("reminders_queued", queued.len() as u64);
            for outbox_id in queued {
                if let Err(error) = enqueue(state, Job::SendEmail { outbox_id }).await {
                    tracing::warn!(%outbox_id, %error, "could not queue the reminder; the outbox sweep retries it");
                    report.add("queue_failures", 1);
                }
            }
            if (due.len() as i64) < BATCH_SIZE {
                break;
            }
        }
    }
    Ok(())
}
