//! `POST /tasks`, `GET /tasks`, `GET /tasks/{id}`, `DELETE /tasks/{id}`, and the task views the
//! other routes share.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use shared::AppState;
use shared::domain::pagination::Pagination;
use shared::domain::tasks::TaskStatus;
use shared::error::{ApiError, ApiResult};
use shared::http::{AppJson, AppQuery, IdPath, Superuser};
use shared::repo::tasks::Task;
use shared::services::Caller;
use shared::services::tasks::{self as service, NewTask};
use shared::time::rfc3339;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A task with its arguments, outcome and timestamps.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TaskView {
    task_id: Uuid,
    /// Canonical name (`send_email`, `process_data`, `cleanup`, `long_running`,
    /// `permanently_delete_accounts`).
    task_name: String,
    /// `PENDING`, `STARTED`, `SUCCESS`, `FAILURE` or `REVOKED`.
    #[schema(example = "SUCCESS")]
    status: String,
    /// Positional arguments as submitted.
    args: Value,
    /// Keyword arguments as submitted.
    kwargs: Value,
    /// What the task produced; while it runs, its progress.
    result: Option<Value>,
    /// Why it failed.
    error: Option<String>,
    /// How many times a worker started it.
    attempts: i32,
    /// The superuser who submitted it (null once that account is gone).
    created_by: Option<Uuid>,
    created_at: String,
    started_at: Option<String>,
    finished_at: Option<String>,
}

impl From<Task> for TaskView {
    fn from(task: Task) -> Self {
        Self {
            task_id: task.id,
            task_name: task.name,
            status: task.status,
            args: task.args,
            kwargs: task.kwargs,
            result: task.result,
            error: task.error,
            attempts: task.attempts,
            created_by: task.created_by,
            created_at: rfc3339(task.created_at),
            started_at: task.started_at.map(rfc3339),
            finished_at: task.finished_at.map(rfc3339),
        }
    }
}

/// Answer to a submission.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Accepted {
    task_id: Uuid,
    /// Canonical name, also when an alias was submitted.
    task_name: String,
    /// Always `PENDING`: the state the task was queued in (poll `Location` for what follows).
    #[schema(example = "PENDING")]
    status: String,
}

/// 202 with the submitted task and a `Location` to poll.
pub(crate) fn accepted(task: Task) -> Response {
    let location = HeaderValue::from_str(&format!("/api/v1/tasks/{}", task.id)).ok();
    let body = Accepted { task_id: task.id, task_name: task.name, status: task.status };
    let mut response = (StatusCode::ACCEPTED, Json(body)).into_response();
    if let Some(location) = location {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// Body of `POST /tasks`.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct SubmitTask {
    /// A task name, or the seed's alias (`send_email_task`, optionally with its
    /// `app.services.celery_tasks.` module path).
    #[schema(example = "send_email")]
    task_name: String,
    /// Positional arguments, in the task's parameter order.
    #[serde(default)]
    args: Option<Vec<Value>>,
    /// Keyword arguments.
    #[serde(default)]
    #[schema(value_type = Object, example = json!({"to": "user@example.com", "subject": "Welcome!", "body": "Hello"}))]
    kwargs: Option<Map<String, Value>>,
}

/// Queues a task. Parameters: `send_email` (`to`, `subject` ≤ 200 chars, `body` ≤ 10,000 chars),
/// `process_data` (`data`: a list of ≤ 10,000 values), `long_running` (`duration` 1–45 s,
/// default 10; `steps` 1–100, default 10), `cleanup` and `permanently_delete_accounts` (none).
/// Arguments are checked now: a bad one is a 422, not a failed task.
#[utoipa::path(
    post,
    path = "/api/v1/tasks",
    tag = "tasks",
    security(("bearer" = [])),
    request_body = SubmitTask,
    responses(
        (status = 202, body = Accepted, description = "Stored and queued; poll the `Location`"),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Not enough permissions"),
        (status = 422, description = "Unknown task name or invalid arguments"),
        (status = 503, description = "Task queue unavailable (`queue_unavailable`); the task is marked FAILURE")
    )
)]
pub(crate) async fn submit(
    State(state): State<AppState>,
    Superuser(admin): Superuser,
    caller: Caller,
    AppJson(body): AppJson<SubmitTask>,
) -> ApiResult<Response> {
    let task =
        NewTask::from_submission(&body.task_name, body.args.unwrap_or_default(), body.kwargs.unwrap_or_default())?;
    let stored = service::submit(&state, admin.user.id, task, &caller).await?;
    Ok(accepted(stored))
}

/// One task.
#[utoipa::path(
    get,
    path = "/api/v1/tasks/{id}",
    tag = "tasks",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Task id")),
    responses(
        (status = 200, body = TaskView),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Not enough permissions"),
        (status = 404, description = "Task not found"),
        (status = 422, description = "Malformed id")
    )
)]
pub(crate) async fn read(
    State(state): State<AppState>,
    _admin: Superuser,
    IdPath(id): IdPath,
) -> ApiResult<Json<TaskView>> {
    Ok(Json(TaskView::from(service::get(&state, id).await?)))
}

/// Cancels a task that has not started; the worker then skips it.
#[utoipa::path(
    delete,
    path = "/api/v1/tasks/{id}",
    tag = "tasks",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Task id")),
    responses(
        (status = 200, body = TaskView, description = "Cancelled: status `REVOKED`"),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Not enough permissions"),
        (status = 404, description = "Task not found"),
        (status = 409, description = "Task can no longer be cancelled (no longer PENDING)"),
        (status = 422, description = "Malformed id")
    )
)]
pub(crate) async fn cancel(
    State(state): State<AppState>,
    Superuser(admin): Superuser,
    caller: Caller,
    IdPath(id): IdPath,
) -> ApiResult<Json<TaskView>> {
    let cancelled = service::cancel(&state, admin.user.id, id, &caller).await?;
    Ok(Json(TaskView::from(cancelled)))
}

/// One page of tasks.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TaskPage {
    items: Vec<TaskView>,
    /// Matching tasks on all pages.
    total: i64,
    page: i64,
    size: i64,
}

/// Filter and page of `GET /tasks`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListTasksQuery {
    /// Page number, from 1.
    #[param(minimum = 1)]
    page: Option<i64>,
    /// Items per page (default 20).
    #[param(minimum = 1, maximum = 100)]
    size: Option<i64>,
    /// Only tasks in this status (`PENDING`, `STARTED`, `SUCCESS`, `FAILURE`, `REVOKED`; any case).
    status: Option<String>,
}

/// Lists tasks, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/tasks",
    tag = "tasks",
    security(("bearer" = [])),
    params(ListTasksQuery),
    responses(
        (status = 200, body = TaskPage),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Not enough permissions"),
        (status = 422, description = "Invalid query parameter")
    )
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    _admin: Superuser,
    AppQuery(query): AppQuery<ListTasksQuery>,
) -> ApiResult<Json<TaskPage>> {
    let pagination = Pagination::new(query.page, query.size)?;
    let status = match query.status.as_deref().map(str::trim).filter(|status| !status.is_empty()) {
        None => None,
        Some(raw) => Some(
            TaskStatus::parse(raw)
                .ok_or_else(|| ApiError::from(TaskStatus::unknown(raw, vec![json!("query"), json!("status")])))?,
        ),
    };
    let (items, total) = service::list(&state, status, pagination).await?;
    Ok(Json(TaskPage {
        items: items.into_iter().map(TaskView::from).collect(),
        total,
        page: pagination.page,
        size: pagination.size,
    }))
}
