//! The seed's Celery paths, `/api/v1/celery/...`, answering in the seed's shapes so its clients
//! keep working. They run the same tasks as `/api/v1/tasks` and, unlike the seed's (which had no
//! authentication at all), need a superuser. Submissions answer 200, as the seed's did.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use shared::AppState;
use shared::domain::pagination::Pagination;
use shared::domain::tasks::{TaskName, TaskStatus};
use shared::error::{ApiError, ApiResult, ErrorCode};
use shared::http::{AppJson, AppQuery, Superuser};
use shared::repo::tasks::Task;
use shared::services::Caller;
use shared::services::tasks::{self as service, NewTask};
use shared::time::rfc3339;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::shortcuts::Keywords;

/// The seed's full name of the purge task, which its shortcut reports.
const PURGE_TASK_PATH: &str = "app.services.celery_tasks.permanently_delete_accounts_task";

/// Seed answer of every submission.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CelerySubmitted {
    task_id: Uuid,
    /// The name as the seed reports it (`send_email_task`, ...), or as submitted.
    task_name: String,
    /// Always `PENDING`: the state the task was queued in.
    #[schema(example = "PENDING")]
    status: &'static str,
    #[schema(example = "Task submitted successfully")]
    message: String,
}

fn submitted(task: &Task, task_name: impl Into<String>, message: impl Into<String>) -> Json<CelerySubmitted> {
    Json(CelerySubmitted { task_id: task.id, task_name: task_name.into(), status: "PENDING", message: message.into() })
}

/// Body of `POST /celery/tasks/submit`.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct CelerySubmitBody {
    /// A task name or the seed's (`send_email_task`, with or without its module path).
    #[schema(example = "send_email_task")]
    task_name: String,
    #[serde(default)]
    args: Option<Vec<Value>>,
    #[serde(default)]
    #[schema(value_type = Object)]
    kwargs: Option<Map<String, Value>>,
}

async fn store(state: &AppState, admin: &Superuser, caller: &Caller, task: NewTask) -> ApiResult<Task> {
    service::submit(state, admin.0.user.id, task, caller).await
}

/// Checks `kwargs` for task `name` (a 422 points into `loc`), then stores and queues it.
async fn queue(
    state: &AppState,
    admin: &Superuser,
    caller: &Caller,
    name: TaskName,
    kwargs: Map<String, Value>,
    loc: &[&str],
) -> ApiResult<Task> {
    store(state, admin, caller, NewTask::from_keywords(name, kwargs, loc)?).await
}

/// Submits a task by name (the seed's `POST /celery/tasks/submit`).
#[utoipa::path(
    post,
    operation_id = "celery_submit",
    path = "/api/v1/celery/tasks/submit",
    tag = "celery",
    security(("bearer" = [])),
    request_body = CelerySubmitBody,
    responses(
        (status = 200, body = CelerySubmitted),
        (status = 403, description = "Not enough permissions"),
        (status = 503, description = "Task queue unavailable")
    )
)]
pub(crate) async fn submit(
    State(state): State<AppState>,
    admin: Superuser,
    caller: Caller,
    AppJson(body): AppJson<CelerySubmitBody>,
) -> ApiResult<Json<CelerySubmitted>> {
    let task =
        NewTask::from_submission(&body.task_name, body.args.unwrap_or_default(), body.kwargs.unwrap_or_default())?;
    let stored = store(&state, &admin, &caller, task).await?;
    Ok(submitted(&stored, body.task_name, "Task submitted successfully"))
}

/// Seed answer of `GET /celery/tasks/{id}/status`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CeleryTaskStatus {
    task_id: Uuid,
    #[schema(example = "SUCCESS")]
    status: String,
    /// Finished (successfully or not, or cancelled).
    ready: bool,
    successful: bool,
    failed: bool,
    /// What the task produced (only once it succeeded).
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<Value>,
    /// Why it failed (only once it failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl From<Task> for CeleryTaskStatus {
    fn from(task: Task) -> Self {
        let status = TaskStatus::parse(&task.status);
        let successful = status == Some(TaskStatus::Success);
        let failed = status == Some(TaskStatus::Failure);
        let ready = successful || failed || status == Some(TaskStatus::Revoked);
        Self {
            task_id: task.id,
            status: task.status,
            ready,
            successful,
            failed,
            result: if successful { task.result } else { None },
            error: if failed { task.error } else { None },
        }
    }
}

/// One task's state (the seed's `GET /celery/tasks/{task_id}/status`).
#[utoipa::path(
    get,
    operation_id = "celery_task_status",
    path = "/api/v1/celery/tasks/{task_id}/status",
    tag = "celery",
    security(("bearer" = [])),
    params(("task_id" = String, Path, description = "Task id")),
    responses(
        (status = 200, body = CeleryTaskStatus),
        (status = 403, description = "Not enough permissions"),
        (status = 404, description = "Task not found")
    )
)]
pub(crate) async fn task_status(
    State(state): State<AppState>,
    _admin: Superuser,
    Path(task_id): Path<String>,
) -> ApiResult<Json<CeleryTaskStatus>> {
    // The seed's 404 also for an id that is not a UUID: no task can have it.
    let id = Uuid::parse_str(&task_id).map_err(|_| service::task_not_found())?;
    let task = service::get(&state, id).await?;
    Ok(Json(CeleryTaskStatus::from(task)))
}

/// Seed answer of `DELETE /celery/tasks/{id}/cancel`: always 200, `cancelled` tells.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CeleryCancelReply {
    task_id: String,
    cancelled: bool,
    #[schema(example = "Task cancelled successfully")]
    message: &'static str,
}

/// Cancels a task that has not started (the seed's `DELETE /celery/tasks/{task_id}/cancel`).
#[utoipa::path(
    delete,
    operation_id = "celery_cancel",
    path = "/api/v1/celery/tasks/{task_id}/cancel",
    tag = "celery",
    security(("bearer" = [])),
    params(("task_id" = String, Path, description = "Task id")),
    responses((status = 200, body = CeleryCancelReply), (status = 403, description = "Not enough permissions"))
)]
pub(crate) async fn cancel(
    State(state): State<AppState>,
    Superuser(admin): Superuser,
    caller: Caller,
    Path(task_id): Path<String>,
) -> ApiResult<Json<CeleryCancelReply>> {
    let cancelled = match Uuid::parse_str(&task_id) {
        Ok(id) => match service::cancel(&state, admin.user.id, id, &caller).await {
            Ok(_) => true,
            Err(ApiError::Refused { code: ErrorCode::TaskNotFound | ErrorCode::TaskNotCancellable, .. }) => false,
            Err(other) => return Err(other),
        },
        Err(_) => false,
    };
    let message = if cancelled { "Task cancelled successfully" } else { "Failed to cancel task or task not found" };
    Ok(Json(CeleryCancelReply { task_id, cancelled, message }))
}

/// A running task, as the seed lists it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CeleryActiveTask {
    task_id: Uuid,
    name: String,
    /// Always `worker`: Lambda instances have no stable names.
    worker: &'static str,
    args: Value,
    kwargs: Value,
    /// When the current run began, RFC 3339 UTC.
    time_start: Option<String>,
}

/// Tasks running now, at most 100 (the seed's `GET /celery/tasks/active`).
#[utoipa::path(
    get,
    operation_id = "celery_active",
    path = "/api/v1/celery/tasks/active",
    tag = "celery",
    security(("bearer" = [])),
    responses((status = 200, body = [CeleryActiveTask]), (status = 403, description = "Not enough permissions"))
)]
pub(crate) async fn active(State(state): State<AppState>, _admin: Superuser) -> ApiResult<Json<Vec<CeleryActiveTask>>> {
    let first_page = Pagination::FIRST_FULL_PAGE;
    let (running, _) = service::list(&state, Some(TaskStatus::Started), first_page).await?;
    Ok(Json(
        running
            .into_iter()
            .map(|task| CeleryActiveTask {
                task_id: task.id,
                name: task.name,
                worker: "worker",
                args: task.args,
                kwargs: task.kwargs,
                time_start: task.started_at.map(rfc3339),
            })
            .collect(),
    ))
}

/// Seed answer of `GET /celery/status`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CeleryStatus {
    enabled: bool,
    /// The queue behind the tasks: `sqs`, `local` or `inline` (never a URL with credentials).
    #[schema(example = "sqs")]
    broker_url: &'static str,
    /// Where results live: `postgres`.
    #[schema(example = "postgres")]
    result_backend: &'static str,
    /// Tasks running now (Lambda scales workers with the queue; there is no fixed pool).
    active_workers: i64,
    /// The task names the seed registers.
    registered_tasks: Vec<&'static str>,
    /// Tasks running now.
    active_tasks: i64,
    error: Option<String>,
}

/// The background task system (the seed's `GET /celery/status`).
#[utoipa::path(
    get,
    operation_id = "celery_status",
    path = "/api/v1/celery/status",
    tag = "celery",
    security(("bearer" = [])),
    responses((status = 200, body = CeleryStatus), (status = 403, description = "Not enough permissions"))
)]
pub(crate) async fn status(State(state): State<AppState>, _admin: Superuser) -> ApiResult<Json<CeleryStatus>> {
    let overview = service::overview(&state).await?;
    let running = overview.tasks.get(TaskStatus::Started.as_str()).copied().unwrap_or_default();
    Ok(Json(CeleryStatus {
        enabled: true,
        broker_url: overview.queue.backend,
        result_backend: "postgres",
        active_workers: running,
        registered_tasks: TaskName::ALL.iter().map(|name| name.seed_name()).collect(),
        active_tasks: running,
        error: None,
    }))
}

/// Query of the seed's `send-email` shortcut.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documents the query; the task's rules parse it
pub(crate) struct SendEmailQuery {
    to_email: String,
    subject: String,
    body: String,
}

/// Queues `send_email` from query parameters (the seed's `POST /celery/tasks/send-email`).
#[utoipa::path(
    post,
    operation_id = "celery_send_email",
    path = "/api/v1/celery/tasks/send-email",
    tag = "celery",
    security(("bearer" = [])),
    params(SendEmailQuery),
    responses(
        (status = 200, body = CelerySubmitted),
        (status = 403, description = "Not enough permissions"),
        (status = 503, description = "Task queue unavailable")
    )
)]
pub(crate) async fn send_email(
    State(state): State<AppState>,
    admin: Superuser,
    caller: Caller,
    keywords: Keywords,
) -> ApiResult<Json<CelerySubmitted>> {
    let stored = store(&state, &admin, &caller, keywords.into_task(TaskName::SendEmail)?).await?;
    Ok(submitted(&stored, TaskName::SendEmail.seed_name(), "Email task submitted successfully"))
}

/// Queues `process_data` over a JSON array body (the seed's `POST /celery/tasks/process-data`).
#[utoipa::path(
    post,
    operation_id = "celery_process_data",
    path = "/api/v1/celery/tasks/process-data",
    tag = "celery",
    security(("bearer" = [])),
    request_body(content = Vec<Value>, description = "The values to summarise"),
    responses(
        (status = 200, body = CelerySubmitted),
        (status = 403, description = "Not enough permissions"),
        (status = 503, description = "Task queue unavailable")
    )
)]
pub(crate) async fn process_data(
    State(state): State<AppState>,
    admin: Superuser,
    caller: Caller,
    AppJson(data): AppJson<Vec<Value>>,
) -> ApiResult<Json<CelerySubmitted>> {
    let count = data.len();
    let kwargs = Map::from_iter([("data".to_owned(), Value::Array(data))]);
    let stored = queue(&state, &admin, &caller, TaskName::ProcessData, kwargs, &["body"]).await?;
    let message = format!("Data processing task submitted successfully for {count} items");
    Ok(submitted(&stored, TaskName::ProcessData.seed_name(), message))
}

/// Queues `cleanup` (the seed's `POST /celery/tasks/cleanup`).
#[utoipa::path(
    post,
    operation_id = "celery_cleanup",
    path = "/api/v1/celery/tasks/cleanup",
    tag = "celery",
    security(("bearer" = [])),
    responses(
        (status = 200, body = CelerySubmitted),
        (status = 403, description = "Not enough permissions"),
        (status = 503, description = "Task queue unavailable")
    )
)]
pub(crate) async fn cleanup(
    State(state): State<AppState>,
    admin: Superuser,
    caller: Caller,
) -> ApiResult<Json<CelerySubmitted>> {
    let stored = queue(&state, &admin, &caller, TaskName::Cleanup, Map::new(), &["query"]).await?;
    Ok(submitted(&stored, TaskName::Cleanup.seed_name(), "Cleanup task submitted successfully"))
}

/// Query of the seed's `long-running` shortcut.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct LongRunningQuery {
    /// Seconds, 1 to 45; the seed's default of 60 does not fit a Lambda worker, so ours is 10.
    #[param(minimum = 1, maximum = 45, example = 10)]
    duration: Option<i64>,
}

/// Queues `long_running` (the seed's `POST /celery/tasks/long-running?duration=`).
#[utoipa::path(
    post,
    operation_id = "celery_long_running",
    path = "/api/v1/celery/tasks/long-running",
    tag = "celery",
    security(("bearer" = [])),
    params(LongRunningQuery),
    responses(
        (status = 200, body = CelerySubmitted),
        (status = 403, description = "Not enough permissions"),
        (status = 503, description = "Task queue unavailable")
    )
)]
pub(crate) async fn long_running(
    State(state): State<AppState>,
    admin: Superuser,
    caller: Caller,
    AppQuery(query): AppQuery<LongRunningQuery>,
) -> ApiResult<Json<CelerySubmitted>> {
    let duration = query.duration.unwrap_or(shared::domain::tasks::DURATION_SECONDS.2);
    let kwargs = Map::from_iter([("duration".to_owned(), json!(duration))]);
    let stored = queue(&state, &admin, &caller, TaskName::LongRunning, kwargs, &["query"]).await?;
    let message = format!("Long-running task submitted successfully (duration: {duration}s)");
    Ok(submitted(&stored, TaskName::LongRunning.seed_name(), message))
}

/// Queues the purge of accounts past their grace period (the seed's
/// `POST /celery/tasks/permanently-delete-accounts`).
#[utoipa::path(
    post,
    operation_id = "celery_permanently_delete_accounts",
    path = "/api/v1/celery/tasks/permanently-delete-accounts",
    tag = "celery",
    security(("bearer" = [])),
    responses(
        (status = 200, body = CelerySubmitted),
        (status = 403, description = "Not enough permissions"),
        (status = 503, description = "Task queue unavailable")
    )
)]
pub(crate) async fn permanently_delete_accounts(
    State(state): State<AppState>,
    admin: Superuser,
    caller: Caller,
) -> ApiResult<Json<CelerySubmitted>> {
    let stored = queue(&state, &admin, &caller, TaskName::PermanentlyDeleteAccounts, Map::new(), &["query"]).await?;
    Ok(submitted(&stored, PURGE_TASK_PATH, "Permanent account deletion task submitted successfully"))
}
