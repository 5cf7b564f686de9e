//! Running a task submitted through the tasks API (the seed's Celery tasks).
//!
//! A run claims the task (PENDING → STARTED, atomically), runs its body and stores SUCCESS with
//! a JSON result or FAILURE with a message. What the task itself gets wrong — bad stored
//! arguments, a mail the provider refused, a deadline reached — is a FAILURE and the run returns
//! `Ok`, so the queue does not retry a task that failed on its own. A database error returns
//! `Err` after handing the task back (PENDING), so the queue's retry runs it again.
//!
//! Every body is safe to run twice: a task that is cancelled, finished, or being run elsewhere is
//! not claimed; a `send_email` retry reuses the outbox row of the first attempt (its id is kept in
//! the task's `result`), so the mail goes out once; a worker that died mid-run leaves the task
//! STARTED, and after [`STALE_STARTED_MINUTES`](crate::repo::tasks::STALE_STARTED_MINUTES) it
//! can be claimed again. Until then a redelivered message is refused (`Err`, so SQS keeps it)
//! rather than dropped, and every write names the attempt, so a stale run cannot overwrite.

use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use serde_json::{Value, json};
use uuid::Uuid;

use super::send_email::{self, DeliveryError};
use super::{JobError, Report, ScheduledJob, stop_at};
use crate::AppState;
use crate::domain::tasks::{self as rules, TaskSpec};
use crate::mail::Mail;
use crate::repo::outbox;
use crate::repo::tasks::{self as repo, Task};

/// How a run ended, short of a database error.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    /// Store SUCCESS with this result.
    Succeeded(Value),
    /// Store FAILURE with this message (the last progress stays in `result`).
    Failed(String),
    /// The task left STARTED while running (cancelled meanwhile): leave it as it is.
    Interrupted,
}

/// Runs task `task_id` if it can be claimed, within `deadline`. See the module header for what
/// `Ok` and `Err` mean.
pub async fn run(state: &AppState, task_id: Uuid, deadline: Instant) -> Result<(), JobError> {
    let Some(task) = repo::claim(&state.db, task_id).await? else {
        if repo::find(&state.db, task_id).await?.is_some_and(|task| task.status == "STARTED") {
            // Running elsewhere, or its worker died recently: keep the message until it can be
            // claimed (stale) instead of dropping the only thing that would run it.
            return Err(JobError::Busy(format!("task {task_id} is running elsewhere")));
        }
        tracing::info!(%task_id, "task not claimable (unknown, cancelled or finished); skipped");
        return Ok(());
    };
    tracing::info!(%task_id, task = %task.name, attempt = task.attempts, "task started");
    let result = match execute(state, &task, deadline).await {
        Ok(outcome) => record(state, &task, outcome).await,
        Err(error) => Err(error),
    };
    if result.is_err()
        && let Err(release_error) = repo::release(&state.db, task_id, task.attempts).await
    {
        tracing::warn!(%task_id, error = %release_error, "could not hand the task back; it is re-run once stale");
    }
    result
}

async fn record(state: &AppState, task: &Task, outcome: Outcome) -> Result<(), JobError> {
    let stored = match &outcome {
        Outcome::Succeeded(result) => repo::finish_success(&state.db, task.id, task.attempts, result).await?,
        Outcome::Failed(error) => repo::finish_failure(&state.db, task.id, task.attempts, error).await?,
        Outcome::Interrupted => false,
    };
    match outcome {
        Outcome::Failed(error) => tracing::warn!(task_id = %task.id, task = %task.name, %error, stored, "task failed"),
        Outcome::Succeeded(_) => tracing::info!(task_id = %task.id, task = %task.name, stored, "task succeeded"),
        Outcome::Interrupted => tracing::info!(task_id = %task.id, task = %task.name, "task cancelled while running"),
    }
    Ok(())
}

async fn execute(state: &AppState, task: &Task, deadline: Instant) -> Result<Outcome, JobError> {
    let spec = match TaskSpec::from_stored(&task.name, &task.args, &task.kwargs) {
        Ok(spec) => spec,
        Err(message) => return Ok(Outcome::Failed(message)),
    };
    match spec {
        TaskSpec::SendEmail { to, subject, body } => send_mail(state, task, plain_mail(to, subject, &body)).await,
        TaskSpec::ProcessData { data } => Ok(Outcome::Succeeded(rules::summarize(&data))),
        TaskSpec::Cleanup => scheduled(state, ScheduledJob::CleanupExpired, deadline).await,
        TaskSpec::PermanentlyDeleteAccounts => scheduled(state, ScheduledJob::PurgeDeletedAccounts, deadline).await,
        TaskSpec::LongRunning { duration_seconds, steps } => {
            long_running(state, task, duration_seconds, steps, deadline).await
        }
    }
}

/// Runs a scheduled job now; its report is the result. Boxed: scheduled jobs queue work whose
/// runner leads back here, and a future cannot contain itself.
fn scheduled(
    state: &AppState,
    job: ScheduledJob,
    deadline: Instant,
) -> Pin<Box<dyn Future<Output = Result<Outcome, JobError>> + Send + '_>> {
    Box::pin(async move {
        let report: Report = job.run(state, deadline).await?;
        Ok(Outcome::Succeeded(serde_json::to_value(&report).unwrap_or(Value::Null)))
    })
}

/// The outbox row an earlier attempt of this task queued, if any.
fn queued_mail(task: &Task) -> Option<Uuid> {
    let id = task.result.as_ref()?.get("outbox_id")?.as_str()?;
    Uuid::parse_str(id).ok()
}

/// Queues the mail in the outbox (once per task: the outbox id is recorded in the task in the
/// same transaction) and delivers it. A refused mail stays in the outbox, whose sweep retries it.
async fn send_mail(state: &AppState, task: &Task, mail: Mail) -> Result<Outcome, JobError> {
    let outbox_id = match queued_mail(task) {
        Some(id) => id,
        None => {
            let mut tx = state.db.begin().await?;
            let id = outbox::insert_mail(&mut *tx, &mail).await?;
            let progress = json!({ "outbox_id": id, "sent": false });
            if !repo::set_progress(&mut *tx, task.id, task.attempts, &progress).await? {
                tx.rollback().await?;
                return Ok(Outcome::Interrupted);
            }
            tx.commit().await?;
            id
        }
    };
    match send_email::deliver(&state.db, state.mailer.as_ref(), outbox_id).await {
        // `Skipped`: an earlier attempt or the outbox sweep sent (or is sending) it.
        Ok(send_email::Delivery::Sent | send_email::Delivery::Skipped) => {
            Ok(Outcome::Succeeded(json!({ "outbox_id": outbox_id, "sent": true })))
        }
        Ok(send_email::Delivery::Dropped) => {
            state.metrics.count(crate::ports::Metric::MailDropped);
            Ok(Outcome::Failed("the address is undeliverable (SES reported a hard bounce or a complaint)".into()))
        }
        Err(DeliveryError::Database(error)) => Err(error.into()),
        Err(DeliveryError::Mail(error)) => {
            Ok(Outcome::Failed(format!("the mail was not delivered ({error}); the outbox sweep retries it")))
        }
    }
}

/// Sleeps `duration_seconds` in `steps` steps, recording progress after each. Stops with a
/// FAILURE before a step that would not end before the deadline's reserve, and quietly when the
/// task stops being STARTED (the progress write finds it changed).
async fn long_running(
    state: &AppState,
    task: &Task,
    duration_seconds: u32,
    steps: u32,
    deadline: Instant,
) -> Result<Outcome, JobError> {
    let stop_at = stop_at(deadline);
    let step_time = rules::step_duration(duration_seconds, steps);
    for step in 1..=steps {
        if Instant::now() + step_time > stop_at {
            if step == 1 {
                // Nothing done yet: this invocation was just too far along (a message late in a
                // batch). Hand the task back so a fresh invocation runs it.
                return Err(JobError::Busy("too little time left in this invocation to start".into()));
            }
            return Ok(Outcome::Failed(rules::deadline_message(step - 1, steps)));
        }
        tokio::time::sleep(step_time).await;
        if !repo::set_progress(&state.db, task.id, task.attempts, &rules::progress(step, steps)).await? {
            return Ok(Outcome::Interrupted);
        }
    }
    let mut result = rules::progress(steps, steps);
    result["duration"] = json!(duration_seconds);
    Ok(Outcome::Succeeded(result))
}

/// A plain mail: the body as text, and HTML-escaped (line breaks kept) as HTML.
fn plain_mail(to: String, subject: String, body: &str) -> Mail {
    let mut html = String::with_capacity(body.len() + 128);
    html.push_str("<!DOCTYPE html>\n<html><body><p style=\"white-space: pre-wrap\">");
    for c in body.chars() {
        match c {
            '&' => html.push_str("&amp;"),
            '<' => html.push_str("&lt;"),
            '>' => html.push_str("&gt;"),
            '"' => html.push_str("&quot;"),
            '\'' => html.push_str("&#39;"),
            other => html.push(other),
        }
    }
    html.push_str("</p></body></html>\n");
    Mail { to, subject, text: body.to_owned(), html }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_mail_escapes_the_body_in_html_only() {
        let mail = plain_mail("a@b.co".into(), "Hi".into(), "<b>bold</b> & \"quoted\"\nnext");
        assert_eq!(mail.text, "<b>bold</b> & \"quoted\"\nnext");
        assert!(mail.html.contains("&lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot;\nnext"));
        assert!(!mail.html.contains("<b>"));
    }
}
