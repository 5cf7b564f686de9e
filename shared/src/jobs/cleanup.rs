//! `cleanup-expired`: removes rows whose purpose has passed — expired or used one-time tokens,
//! expired registration holds, expired and long-revoked sessions, old rate-limit windows, idle
//! back-off counters, delivered mail and finished tasks — so the tables stay small and hold no
//! personal data longer than needed. It also ends tasks left STARTED by runs that all died, and tasks no sweep got to a
//! worker within a day.

use std::future::Future;
use std::time::Instant;

use super::{BATCH_SIZE, JobError, Report, time_left};
use crate::AppState;
use crate::repo::maintenance;

/// Revoked sessions stay listed (and exportable) this long.
const KEEP_REVOKED_SESSIONS_DAYS: i32 = 7;
/// Delivered mail rows stay this long for support questions ("did you send it?").
const KEEP_SENT_MAIL_DAYS: i32 = 7;
/// Finished tasks stay this long so their results can be read.
const KEEP_FINISHED_TASKS_DAYS: i32 = 7;

/// Back-off counters of unknown addresses are forgotten after this long without an attempt, as
/// accounts' counters are.
const KEEP_IDLE_UNKNOWN_LOGINS_DAYS: i32 = crate::domain::login_backoff::FORGET_AFTER_DAYS;

/// A task STARTED this long ago has no run left coming (5 receives x 6 min visibility = 30 min).
const ABANDONED_TASK_MINUTES: i32 = 60;

/// A task still PENDING this long after it was stored will not be picked up: the outbox sweep
/// queued it again about 25 times.
const UNQUEUED_TASK_HOURS: i32 = 24;

/// Rows one cleanup statement deletes: deletes are cheap, so batches are larger than elsewhere.
const CLEANUP_BATCH: i64 = BATCH_SIZE * 10;

/// Rate-limit counters stay an hour, or a whole window of the longest configured limit, so a
/// counter is never deleted while its window still runs.
fn rate_limit_windows_kept_seconds(state: &AppState) -> u32 {
    state.config.rate_limits.longest_window_seconds().max(3_600)
}

/// Runs every cleanup in bounded batches.
pub(crate) async fn run(state: &AppState, stop_at: Instant, report: &mut Report) -> Result<(), JobError> {
    let db = &state.db;
    let finished = drain(report, "one_time_tokens_deleted", stop_at, || {
        maintenance::delete_dead_one_time_tokens(db, CLEANUP_BATCH)
    })
    .await?
        && drain(report, "mfa_challenges_deleted", stop_at, || {
            maintenance::delete_dead_mfa_challenges(db, CLEANUP_BATCH)
        })
        .await?
        && drain(report, "mfa_enrolments_deleted", stop_at, || {
            maintenance::delete_stale_mfa_enrolments(db, CLEANUP_BATCH)
        })
        .await?
        && drain(report, "registration_holds_deleted", stop_at, || {
            maintenance::delete_expired_registration_holds(db, CLEANUP_BATCH)
        })
        .await?
        && drain(report, "sessions_deleted", stop_at, || {
            maintenance::delete_dead_sessions(db, KEEP_REVOKED_SESSIONS_DAYS, CLEANUP_BATCH)
        })
        .await?
        && drain(report, "rate_limit_windows_deleted", stop_at, || {
            maintenance::delete_old_rate_limit_windows(db, rate_limit_windows_kept_seconds(state), CLEANUP_BATCH)
        })
        .await?
        && drain(report, "unknown_email_logins_deleted", stop_at, || {
            maintenance::delete_idle_unknown_email_logins(db, KEEP_IDLE_UNKNOWN_LOGINS_DAYS, CLEANUP_BATCH)
        })
        .await?
        && drain(report, "sent_mail_deleted", stop_at, || {
            maintenance::delete_sent_mail(db, KEEP_SENT_MAIL_DAYS, CLEANUP_BATCH)
        })
        .await?
        && drain(report, "undeliverable_mail_deleted", stop_at, || {
            maintenance::delete_undeliverable_mail(db, KEEP_SENT_MAIL_DAYS, CLEANUP_BATCH)
        })
        .await?
        && drain(report, "processed_job_ids_deleted", stop_at, || {
            maintenance::delete_old_processed_jobs(db, CLEANUP_BATCH)
        })
        .await?
        && (!state.config.on_lambda
            || drain(report, "ws_connections_forgotten", stop_at, || {
                maintenance::forget_expired_ws_connections(db, CLEANUP_BATCH)
            })
            .await?)
        && drain(report, "abandoned_tasks_failed", stop_at, || {
            maintenance::fail_abandoned_tasks(db, ABANDONED_TASK_MINUTES, CLEANUP_BATCH)
        })
        .await?
        && drain(report, "unqueued_tasks_failed", stop_at, || {
            maintenance::fail_unqueued_tasks(db, UNQUEUED_TASK_HOURS, CLEANUP_BATCH)
        })
        .await?
        && drain(report, "tasks_deleted", stop_at, || {
            maintenance::delete_finished_tasks(db, KEEP_FINISHED_TASKS_DAYS, CLEANUP_BATCH)
        })
        .await?;
    report.complete = finished;
    Ok(())
}

/// Repeats one batched delete until a batch comes back short. Returns false when the deadline
/// stopped it first.
async fn drain<F, Fut>(report: &mut Report, what: &'static str, stop_at: Instant, mut step: F) -> Result<bool, JobError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<u64, sqlx::Error>>,
{
    report.add(what, 0);
    loop {
        if !time_left(stop_at) {
            return Ok(false);
        }
        let deleted = step().await?;
        report.add(what, deleted);
        if deleted < CLEANUP_BATCH as u64 {
            return Ok(true);
        }
    }
}
