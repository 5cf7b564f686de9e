//! The devserver's composition of every function's routes, shared by its binary and its tests,
//! the ticker that stands in for EventBridge Scheduler locally, and the WebSocket endpoint.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use shared::AppState;
use shared::adapters::local_ws::LocalHub;
use shared::jobs::ScheduledJob;
use tokio::sync::Semaphore;

mod demo;
mod ws;

/// All routes the deployed functions serve, merged under one base URL, plus the WebSocket
/// endpoint (API Gateway's WebSocket API on AWS) pushing through `hub` and the demo page.
pub fn routes(state: &AppState, hub: Arc<LocalHub>) -> Router<AppState> {
    Router::new()
        .merge(system_api::routes())
        .merge(auth_api::routes(state))
        .merge(users_api::routes(state))
        .merge(tasks_api::routes(state))
        .merge(ws::routes(hub))
        .merge(demo::routes())
}

/// Jobs the local worker runs at once, like a few concurrent Lambda instances: a long task does
/// not hold back a verification mail.
const LOCAL_WORKER_CONCURRENCY: usize = 4;

/// Drains the in-process queue (`QUEUE_BACKEND=local`) with the same job code the `worker`
/// function runs, each job in its own task so a panic cannot stop the worker. A failed job is
/// logged; mail stays in the outbox for the sweep to queue again.
pub async fn run_local_worker(state: AppState) {
    let Some(mut receiver) = state.local_queue.as_ref().and_then(|queue| queue.take_receiver()) else { return };
    let slots = Arc::new(Semaphore::new(LOCAL_WORKER_CONCURRENCY));
    while let Some(message) = receiver.recv().await {
        if let Some(queue) = &state.local_queue {
            queue.mark_received();
        }
        let Ok(slot) = slots.clone().acquire_owned().await else { return };
        let state = state.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let deadline = Instant::now() + Duration::from_secs(60);
            if let Err(error) = shared::jobs::dispatch::run(&state, &message, deadline).await {
                let request_id = message.request_id.as_deref();
                tracing::warn!(job = message.job.name(), job_id = %message.id, request_id, %error, "queued job failed");
            }
        });
    }
}

/// Runs every scheduled job every `SCHEDULER_INTERVAL_SECONDS` (0: never), the way the
/// schedules in `template.yaml` do on AWS, so reminders, purges and mail retries happen locally.
/// A failing job is logged and retried on the next tick. Each tick also closes the sockets in
/// `hub` whose session ended (logout, revocation, deactivation).
pub async fn run_scheduler(state: AppState, hub: Arc<LocalHub>) {
    let seconds = state.config.scheduler_interval_seconds;
    if seconds == 0 {
        return;
    }
    let period = Duration::from_secs(u64::from(seconds));
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        for job in ScheduledJob::ALL {
            // Like a Lambda invocation, each run gets a time budget: one interval, at least a minute.
            let deadline = Instant::now() + period.max(Duration::from_secs(60));
            if let Err(error) = job.run(&state, deadline).await {
                tracing::warn!(job = job.name(), %error, "scheduled job failed; it runs again on the next tick");
            }
        }
        if let Err(error) = shared::services::ws::close_dead(&state, hub.as_ref()).await {
            tracing::warn!(error = ?error, "closing WebSockets of ended sessions failed; retried on the next tick");
        }
    }
}
