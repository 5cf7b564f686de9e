//! The tasks API's use cases: submit a task (store it, then queue it), read and list tasks,
//! cancel one that has not started, and report the queue and task counts.
//!
//! A task is stored before its message is queued, so the worker always finds the row. When the
//! message cannot be queued the task is marked FAILURE at once ("queue unavailable") rather than
//! left PENDING forever, and the caller gets a 503 it can retry.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::Caller;
use crate::AppState;
use crate::config::QueueBackend;
use crate::domain::pagination::Pagination;
use crate::domain::tasks::{TaskName, TaskSpec, TaskStatus};
use crate::error::{ApiError, ErrorCode};
use crate::jobs::{self, message::Job};
use crate::repo::tasks::{self as repo, Task};

/// The error a task records when its message could not be queued.
pub const QUEUE_UNAVAILABLE_ERROR: &str = "queue unavailable";

/// How long the status endpoint waits for the queue's depth before reporting it unknown.
const DEPTH_TIMEOUT: Duration = Duration::from_secs(3);

/// A submission whose task name and arguments were checked.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTask {
    spec: TaskSpec,
    args: Vec<Value>,
    kwargs: Map<String, Value>,
}

impl NewTask {
    /// From `POST /tasks` `{task_name, args, kwargs}`: an unknown name is a 422 at
    /// `["body", "task_name"]`, bad arguments 422s at `["body", "args", i]` / `["body", "kwargs", k]`.
    pub fn from_submission(task_name: &str, args: Vec<Value>, kwargs: Map<String, Value>) -> Result<Self, ApiError> {
        let name = TaskName::parse(task_name)
            .ok_or_else(|| ApiError::from(TaskName::unknown(task_name, vec![json!("body"), json!("task_name")])))?;
        let spec = TaskSpec::parse(name, &args, &kwargs, &["body", "kwargs"])?;
        Ok(Self { spec, args, kwargs })
    }

    /// From a shortcut route, whose keyword arguments came from the body (`kwargs_loc`
    /// `["body"]`) or the query string (`["query"]`).
    pub fn from_keywords(name: TaskName, kwargs: Map<String, Value>, kwargs_loc: &[&str]) -> Result<Self, ApiError> {
        let spec = TaskSpec::parse(name, &[], &kwargs, kwargs_loc)?;
        Ok(Self { spec, args: Vec::new(), kwargs })
    }

    /// The task to run.
    pub fn name(&self) -> TaskName {
        self.spec.name()
    }
}

/// 404 for an unknown task id.
pub fn task_not_found() -> ApiError {
    ApiError::refused(ErrorCode::TaskNotFound, "Task not found")
}

/// 409 for cancelling a task that already started or finished.
pub fn task_not_cancellable() -> ApiError {
    ApiError::refused(ErrorCode::TaskNotCancellable, "Task can no longer be cancelled")
}

/// Stores `task` for `admin_id` (audited as `task_submitted`) and queues it. Returns the task as
/// it was queued, PENDING, whatever a worker has done with it since.
pub async fn submit(state: &AppState, admin_id: Uuid, task: NewTask, caller: &Caller) -> Result<Task, ApiError> {
    let name = task.name();
    let mut tx = state.db.begin().await?;
    let stored =
        repo::insert(&mut *tx, name.as_str(), &Value::Array(task.args), &Value::Object(task.kwargs), admin_id).await?;
    let details = json!({ "task_id": stored.id, "task_name": name.as_str() });
    caller.audit(&mut *tx, "task_submitted", Some(admin_id), true, details).await?;
    tx.commit().await?;

    if let Err(error) = jobs::enqueue(state, Job::RunTask { task_id: stored.id }).await {
        repo::fail_pending(&state.db, stored.id, QUEUE_UNAVAILABLE_ERROR).await?;
        return Err(ApiError::DependencyUnavailable {
            code: ErrorCode::QueueUnavailable,
            detail: "Task queue unavailable",
            source: Box::new(error),
        });
    }
    // The task as queued: a worker (the devserver's runs in-process) may have picked it up since,
    // and the answer must not depend on that race.
    Ok(stored)
}

/// Task `id`.
pub async fn get(state: &AppState, id: Uuid) -> Result<Task, ApiError> {
    repo::find(&state.db, id).await?.ok_or_else(task_not_found)
}

/// One page of tasks (newest first) and how many match in all.
pub async fn list(
    state: &AppState,
    status: Option<TaskStatus>,
    pagination: Pagination,
) -> Result<(Vec<Task>, i64), ApiError> {
    let status = status.map(TaskStatus::as_str);
    let total = repo::count(&state.db, status).await?;
    let items = repo::list(&state.db, status, pagination.limit(), pagination.offset()).await?;
    Ok((items, total))
}

/// Cancels task `id` for `admin_id` while it is PENDING (audited as `task_cancelled`); the worker
/// then skips it. 404 when unknown, 409 when it already started or finished.
pub async fn cancel(state: &AppState, admin_id: Uuid, id: Uuid, caller: &Caller) -> Result<Task, ApiError> {
    let mut tx = state.db.begin().await?;
    let Some(cancelled) = repo::cancel(&mut *tx, id).await? else {
        tx.rollback().await?;
        return Err(match repo::find(&state.db, id).await? {
            Some(_) => task_not_cancellable(),
            None => task_not_found(),
        });
    };
    let details = json!({ "task_id": cancelled.id, "task_name": cancelled.name });
    caller.audit(&mut *tx, "task_cancelled", Some(admin_id), true, details).await?;
    tx.commit().await?;
    Ok(cancelled)
}

/// The queue as the status endpoint shows it; depths are `None` when unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueStatus {
    /// `inline`, `local` or `sqs`.
    pub backend: &'static str,
    /// Messages waiting.
    pub pending: Option<u64>,
    /// Messages being worked on.
    pub in_flight: Option<u64>,
    /// Messages in the dead-letter queue.
    pub dead_letter: Option<u64>,
}

/// What `GET /tasks/status` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overview {
    /// Queue depth.
    pub queue: QueueStatus,
    /// Tasks per status, every status present.
    pub tasks: BTreeMap<&'static str, i64>,
}

/// Queue depth and task counts. An unreachable queue shows as unknown depths, never an error:
/// this endpoint is how an operator finds out the queue is in trouble.
pub async fn overview(state: &AppState) -> Result<Overview, ApiError> {
    let mut tasks: BTreeMap<&'static str, i64> = TaskStatus::ALL.iter().map(|status| (status.as_str(), 0)).collect();
    for (status, count) in repo::count_by_status(&state.db).await? {
        if let Some(status) = TaskStatus::parse(&status) {
            tasks.insert(status.as_str(), count);
        }
    }
    Ok(Overview { queue: queue_status(state).await, tasks })
}

async fn queue_status(state: &AppState) -> QueueStatus {
    let backend = match &state.config.queue {
        QueueBackend::Inline => "inline",
        QueueBackend::Local => "local",
        QueueBackend::Sqs { .. } => "sqs",
    };
    let Some(queue) = &state.queue else {
        // Inline: jobs run as they are queued, so nothing ever waits.
        return QueueStatus { backend, pending: Some(0), in_flight: Some(0), dead_letter: None };
    };
    match tokio::time::timeout(DEPTH_TIMEOUT, queue.depth()).await {
        Ok(Ok(depth)) => QueueStatus {
            backend,
            pending: Some(depth.pending),
            in_flight: Some(depth.in_flight),
            dead_letter: depth.dead_letter,
        },
        Ok(Err(error)) => {
            tracing::warn!(%error, "queue depth unavailable");
            QueueStatus { backend, pending: None, in_flight: None, dead_letter: None }
        }
        Err(_elapsed) => {
            tracing::warn!(timeout = ?DEPTH_TIMEOUT, "queue depth timed out");
            QueueStatus { backend, pending: None, in_flight: None, dead_letter: None }
        }
    }
}
