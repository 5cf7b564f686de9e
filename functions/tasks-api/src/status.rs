//! `GET /tasks/status`: the queue's depth and how many tasks are in each status.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use shared::AppState;
use shared::error::ApiResult;
use shared::http::Superuser;
use shared::services::tasks as service;
use utoipa::ToSchema;

/// The queue the tasks go through. Depths are null when unknown (the queue could not be
/// reached, or keeps no such count).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct QueueView {
    /// `sqs` (AWS), `local` (the devserver's in-process queue) or `inline` (tasks run as they
    /// are submitted; nothing ever waits).
    #[schema(example = "sqs")]
    backend: &'static str,
    /// Messages waiting for a worker (approximate on SQS).
    pending: Option<u64>,
    /// Messages a worker has received and not finished.
    in_flight: Option<u64>,
    /// Messages in the dead-letter queue (failed 5 times).
    dead_letter: Option<u64>,
}

/// Answer of `GET /tasks/status`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TasksStatus {
    queue: QueueView,
    /// Tasks per status: `PENDING`, `STARTED`, `SUCCESS`, `FAILURE`, `REVOKED` (all present).
    #[schema(example = json!({"PENDING": 0, "STARTED": 1, "SUCCESS": 12, "FAILURE": 0, "REVOKED": 2}))]
    tasks: BTreeMap<&'static str, i64>,
}

/// Queue depth (pending, in flight, dead-letter) and task counts by status. An unreachable queue
/// shows as null depths, not an error.
#[utoipa::path(
    get,
    path = "/api/v1/tasks/status",
    tag = "tasks",
    security(("bearer" = [])),
    responses(
        (status = 200, body = TasksStatus),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Not enough permissions")
    )
)]
pub(crate) async fn status(State(state): State<AppState>, _admin: Superuser) -> ApiResult<Json<TasksStatus>> {
    let overview = service::overview(&state).await?;
    let queue = overview.queue;
    Ok(Json(TasksStatus {
        queue: QueueView {
            backend: queue.backend,
            pending: queue.pending,
            in_flight: queue.in_flight,
            dead_letter: queue.dead_letter,
        },
        tasks: overview.tasks,
    }))
}
