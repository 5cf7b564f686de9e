//! The seed's shortcut routes: `POST /tasks/send-email`, `/process-data`, `/cleanup`,
//! `/long-running`, `/permanently-delete-accounts`. Each submits one task with the request's
//! keyword arguments and answers like `POST /tasks`.
//!
//! The arguments are the JSON body (an object). Without a body they are read from the query
//! string, as the seed's documented `curl -G -d to_email=… -d subject=…` example sends them.

use std::collections::BTreeMap;

use axum::extract::{FromRequest, Request, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value};
use shared::AppState;
use shared::domain::tasks::TaskName;
use shared::error::{ApiError, ApiResult};
use shared::http::Superuser;
use shared::services::Caller;
use shared::services::tasks::{self as service, NewTask};
use utoipa::ToSchema;

use crate::tasks::{Accepted, accepted};

/// A shortcut's keyword arguments and where they came from (for 422 locations).
#[derive(Debug)]
pub(crate) struct Keywords {
    kwargs: Map<String, Value>,
    loc: &'static [&'static str],
}

impl<S: Send + Sync> FromRequest<S> for Keywords {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let query = request.uri().query().unwrap_or_default().to_owned();
        let is_json = shared::http::body::has_json_content_type(request.headers());
        let bytes = shared::http::body::body_bytes(request, state).await?;
        if bytes.is_empty() {
            let params: BTreeMap<String, String> =
                shared::http::query::parse(&query).map_err(IntoResponse::into_response)?;
            let kwargs = params.into_iter().map(|(key, value)| (key, Value::String(value))).collect();
            return Ok(Self { kwargs, loc: &["query"] });
        }
        if !is_json {
            return Err(shared::http::body::not_json());
        }
        let kwargs = shared::http::json::parse::<Map<String, Value>>(&bytes).map_err(IntoResponse::into_response)?;
        Ok(Self { kwargs, loc: &["body"] })
    }
}

impl Keywords {
    /// The task `name` with these arguments, checked (422 at their location).
    pub(crate) fn into_task(self, name: TaskName) -> Result<NewTask, ApiError> {
        NewTask::from_keywords(name, self.kwargs, self.loc)
    }
}

async fn submit(
    state: &AppState,
    admin: &Superuser,
    caller: &Caller,
    name: TaskName,
    keywords: Keywords,
) -> ApiResult<Response> {
    let task = keywords.into_task(name)?;
    let stored = service::submit(state, admin.0.user.id, task, caller).await?;
    Ok(accepted(stored))
}

/// Arguments of `send_email`.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)] // documents the body; the task's rules parse it
pub(crate) struct SendEmailArgs {
    /// Recipient (`to_email` is accepted too, as in the seed).
    #[schema(example = "user@example.com")]
    to: String,
    /// 1 to 200 characters.
    #[schema(example = "Welcome!", min_length = 1, max_length = 200)]
    subject: String,
    /// Plain text, up to 10,000 characters.
    #[schema(example = "Welcome to our platform", max_length = 10000)]
    body: String,
}

/// Arguments of `process_data`.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)] // documents the body; the task's rules parse it
pub(crate) struct ProcessDataArgs {
    /// Up to 10,000 values of any JSON type.
    #[schema(example = json!([1, 2.5, "three", null]), max_items = 10000)]
    data: Vec<Value>,
}

/// Arguments of `long_running`.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)] // documents the body; the task's rules parse it
pub(crate) struct LongRunningArgs {
    /// Total seconds, 1 to 45 (default 10): a run must fit in the worker's 60 s.
    #[schema(minimum = 1, maximum = 45, example = 10)]
    duration: Option<i64>,
    /// Progress steps, 1 to 100 (default 10).
    #[schema(minimum = 1, maximum = 100, example = 10)]
    steps: Option<i64>,
}

/// Sends one plain mail (through the outbox, so a failed delivery is retried). Result:
/// `{"outbox_id", "sent": true}`.
#[utoipa::path(
    post,
    path = "/api/v1/tasks/send-email",
    tag = "tasks",
    security(("bearer" = [])),
    request_body = SendEmailArgs,
    responses(
        (status = 202, body = Accepted),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Not enough permissions"),
        (status = 422, description = "Invalid arguments"),
        (status = 503, description = "Task queue unavailable")
    )
)]
pub(crate) async fn send_email(
    State(state): State<AppState>,
    admin: Superuser,
    caller: Caller,
    keywords: Keywords,
) -> ApiResult<Response> {
    submit(&state, &admin, &caller, TaskName::SendEmail, keywords).await
}

/// Summarises a list: item count, count per JSON type, and count/sum/min/max of the numbers.
#[utoipa::path(
    post,
    path = "/api/v1/tasks/process-data",
    tag = "tasks",
    security(("bearer" = [])),
    request_body = ProcessDataArgs,
    responses(
        (status = 202, body = Accepted),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Not enough permissions"),
        (status = 422, description = "Invalid arguments"),
        (status = 503, description = "Task queue unavailable")
    )
)]
pub(crate) async fn process_data(
    State(state): State<AppState>,
    admin: Superuser,
    caller: Caller,
    keywords: Keywords,
) -> ApiResult<Response> {
    submit(&state, &admin, &caller, TaskName::ProcessData, keywords).await
}

/// Removes expired tokens, dead sessions, old rate-limit windows, delivered mail and old
/// finished tasks now (the `cleanup-expired` schedule's job). Result: the job's report. No body.
#[utoipa::path(
    post,
    path = "/api/v1/tasks/cleanup",
    tag = "tasks",
    security(("bearer" = [])),
    responses(
        (status = 202, body = Accepted),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Not enough permissions"),
        (status = 503, description = "Task queue unavailable")
    )
)]
pub(crate) async fn cleanup(
    State(state): State<AppState>,
    admin: Superuser,
    caller: Caller,
    keywords: Keywords,
) -> ApiResult<Response> {
    submit(&state, &admin, &caller, TaskName::Cleanup, keywords).await
}

/// Sleeps `duration` seconds in `steps` steps, recording `{"progress", "step", "steps"}` in
/// `result` after each. Stops with FAILURE if the worker's time runs out first.
#[utoipa::path(
    post,
    path = "/api/v1/tasks/long-running",
    tag = "tasks",
    security(("bearer" = [])),
    request_body(
        content = Option<LongRunningArgs>,
        description = "Optional: every field has a default, and the fields may come as query parameters instead"
    ),
    responses(
        (status = 202, body = Accepted),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Not enough permissions"),
        (status = 422, description = "Invalid arguments"),
        (status = 503, description = "Task queue unavailable")
    )
)]
pub(crate) async fn long_running(
    State(state): State<AppState>,
    admin: Superuser,
    caller: Caller,
    keywords: Keywords,
) -> ApiResult<Response> {
    submit(&state, &admin, &caller, TaskName::LongRunning, keywords).await
}

/// Hard-deletes the accounts whose deletion grace period has ended, now (the
/// `purge-deleted-accounts` schedule's job). Result: the job's report. No body.
#[utoipa::path(
    post,
    path = "/api/v1/tasks/permanently-delete-accounts",
    tag = "tasks",
    security(("bearer" = [])),
    responses(
        (status = 202, body = Accepted),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Not enough permissions"),
        (status = 503, description = "Task queue unavailable")
    )
)]
pub(crate) async fn permanently_delete_accounts(
    State(state): State<AppState>,
    admin: Superuser,
    caller: Caller,
    keywords: Keywords,
) -> ApiResult<Response> {
    submit(&state, &admin, &caller, TaskName::PermanentlyDeleteAccounts, keywords).await
}
