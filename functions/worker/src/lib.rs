//! `worker`: the function SQS triggers with job messages (template.yaml hands it one at a time,
//! so none waits behind a long task; any batch works). Each message runs on its own; the answer
//! lists only the messages that failed (`ReportBatchItemFailures`), so SQS retries those alone
//! and, after five receives, moves them to the dead-letter queue. SES's bounce and complaint
//! reports come through the same queue (SES → SNS → SQS) and mark addresses undeliverable.

use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use shared::AppState;
use shared::domain::mail_feedback::{self, MailFeedback};
use shared::jobs::dispatch::{self, Outcome};
use shared::jobs::message::Envelope;
use tracing::Instrument;

/// Time a message needs at least: one mail delivery (bounded by the mail timeout) and margin.
/// Messages that would start with less are handed back unrun, so a slow batch ends with a
/// partial answer instead of the invocation timing out and every message being retried.
pub const MIN_TIME_PER_MESSAGE: Duration = Duration::from_secs(15);

/// Runs every message of a batch; returns the ids of those to retry.
pub async fn handle(state: &AppState, event: SqsEvent, deadline: Instant) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let message_id = record.message_id.clone().unwrap_or_default();
        if deadline.saturating_duration_since(Instant::now()) < MIN_TIME_PER_MESSAGE {
            tracing::warn!(%message_id, "too little time left in this invocation; handed back to the queue");
            response.add_failure(message_id);
            continue;
        }
        let span = tracing::info_span!("message", %message_id);
        if !run_one(state, &record, deadline).instrument(span).await {
            response.add_failure(message_id);
        }
    }
    response
}

/// Runs one message; false when it has to be retried (or was malformed, which sends it on its
/// way to the dead-letter queue where someone can look at it).
async fn run_one(state: &AppState, record: &SqsMessage, deadline: Instant) -> bool {
    let body = record.body.as_deref().unwrap_or_default();
    let envelope = match Envelope::decode(body) {
        Ok(envelope) => envelope,
        // SES's bounce and complaint reports arrive on the same queue, through SNS.
        Err(error) => match mail_feedback::parse(body) {
            Ok(feedback) => return record_feedback(state, &feedback).await,
            Err(_) => {
                tracing::error!(%error, "malformed message; reported as failed");
                return false;
            }
        },
    };
    let (job, job_id, request_id) = (envelope.job.name(), envelope.id, envelope.request_id.as_deref());
    match dispatch::run(state, &envelope, deadline).await {
        Ok(Outcome::Done) => {
            tracing::info!(job, %job_id, request_id, "job done");
            true
        }
        Ok(Outcome::AlreadyProcessed) => {
            tracing::info!(job, %job_id, request_id, "redelivered message skipped");
            true
        }
        Err(error) => {
            tracing::warn!(job, %job_id, request_id, %error, "job failed; SQS retries the message");
            false
        }
    }
}

/// Marks what SES reported; false (retried) when the database failed.
async fn record_feedback(state: &AppState, feedback: &MailFeedback) -> bool {
    match shared::services::mail_feedback::record(state, feedback).await {
        Ok(()) => true,
        Err(error) => {
            tracing::warn!(%error, "could not record SES's report; SQS retries the message");
            false
        }
    }
}
