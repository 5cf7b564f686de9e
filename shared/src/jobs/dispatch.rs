//! Queueing jobs and running queued jobs: the one path mail delivery and tasks take, whether the
//! queue is SQS (the `worker` function), the devserver's channel, or inline in tests.

use std::time::Instant;

use tracing::Instrument;

use super::message::{Envelope, Job};
use super::send_email::{self, DeliveryError};
use super::{JobError, publish_events, tasks};
use crate::AppState;
use crate::ports::{Metric, QueueError};
use crate::repo::processed_jobs;
use crate::telemetry::correlation;

/// What running a message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The job ran and its id is recorded.
    Done,
    /// The id was recorded before: a redelivery, skipped.
    AlreadyProcessed,
}

/// Why a queued job failed; the message is retried (and after 5 receives goes to the DLQ).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The mail could not be delivered (it stays in the outbox either way).
    #[error(transparent)]
    Delivery(#[from] DeliveryError),
    /// The job failed.
    #[error(transparent)]
    Job(#[from] JobError),
    /// Recording the message id failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// Queues `job`. Without a queue (`QUEUE_BACKEND=inline`) the job runs now, in this process.
/// An error means the message is not queued; callers that queue committed work (outbox mail)
/// log it and leave the rest to the outbox sweep.
pub async fn enqueue(state: &AppState, job: Job) -> Result<(), QueueError> {
    let message = Envelope::new(job).queued_by(correlation::current_request_id());
    match &state.queue {
        // Bounded: a queue that does not answer (no route from a VPC, say) must not turn a
        // committed request into a timeout; the outbox sweep covers the message.
        Some(queue) => match tokio::time::timeout(SEND_TIMEOUT, queue.send(&message)).await {
            Ok(sent) => sent,
            Err(_elapsed) => Err(QueueError::Unavailable(format!("no answer from the queue within {SEND_TIMEOUT:?}"))),
        },
        None => {
            let deadline = Instant::now() + INLINE_BUDGET;
            // Boxed: `run` can reach `dispatch` again (a job may queue jobs), and an async fn
            // that can reach itself needs an indirection.
            let running: std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send + '_>> =
                Box::pin(run(state, &message, deadline));
            if let Err(error) = running.await {
                tracing::warn!(job = job.name(), %error, "inline job failed; the outbox sweep or a retry picks it up");
            }
            Ok(())
        }
    }
}

/// Longest wait for the queue to accept a message.
pub const SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// How long an inline job may run (it holds up the request that queued it).
const INLINE_BUDGET: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs one queued message unless its id was processed before, then records the id. A job that
/// fails part-way is not recorded, so the retry runs it again; every job is safe to re-run.
pub async fn run(state: &AppState, message: &Envelope, deadline: Instant) -> Result<Outcome, RunError> {
    let span = tracing::info_span!(
        "job",
        job = message.job.name(),
        job_id = %message.id,
        request_id = message.request_id.as_deref()
    );
    // A job this one queues carries the same request id on.
    let request_id = message.request_id.clone().unwrap_or_default();
    // Boxed: every job's future nests in this one, and a release build of the worker otherwise
    // overflows the compiler's query depth computing the layout of the whole nest.
    let work: std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send + '_>> =
        Box::pin(run_once(state, message, deadline));
    correlation::within_request(request_id, work).instrument(span).await
}

async fn run_once(state: &AppState, message: &Envelope, deadline: Instant) -> Result<Outcome, RunError> {
    if processed_jobs::contains(&state.db, message.id).await? {
        return Ok(Outcome::AlreadyProcessed);
    }
    if let Err(error) = run_job(state, message.job, deadline).await {
        state.metrics.count(Metric::JobFailed);
        return Err(error);
    }
    processed_jobs::record(&state.db, message.id, message.job.name()).await?;
    state.metrics.count(Metric::JobSucceeded);
    Ok(Outcome::Done)
}

/// Runs one job's work, counting mail delivered or failed.
async fn run_job(state: &AppState, job: Job, deadline: Instant) -> Result<(), RunError> {
    match job {
        Job::SendEmail { outbox_id } => {
            let delivered = send_email::deliver(&state.db, state.mailer.as_ref(), outbox_id).await;
            match &delivered {
                Ok(send_email::Delivery::Sent) => state.metrics.count(Metric::MailSent),
                Ok(send_email::Delivery::Dropped) => state.metrics.count(Metric::MailDropped),
                Ok(send_email::Delivery::Skipped) => {}
                Err(DeliveryError::Mail(_)) => state.metrics.count(Metric::MailFailed),
                Err(DeliveryError::Database(_)) => {}
            }
            delivered?;
        }
        Job::RunTask { task_id } => tasks::run(state, task_id, deadline).await?,
        Job::PublishEvents => {
            publish_events::run(state, deadline).await?;
        }
    }
    Ok(())
}
