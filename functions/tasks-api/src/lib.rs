//! `tasks-api`: `/api/v1/tasks/*`, the seed's Celery API for superusers — submit a task, read
//! it, list and cancel tasks, the seed's shortcut routes, and the queue's status — and the
//! seed's own `/api/v1/celery/*` paths over the same tasks, in its shapes.
//!
//! A submitted task is stored PENDING and its run is queued (SQS on AWS, the devserver's
//! in-process queue locally, or run at once when no queue is configured); the `worker` function
//! runs it. See `shared::jobs::tasks` for what each task does.

mod celery;
mod shortcuts;
mod status;
mod tasks;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::routing::{delete, get, post};
use shared::AppState;
use shared::http::rate_limit;
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::OpenApi;

/// OpenAPI description of this function's routes.
#[derive(OpenApi)]
#[openapi(
    paths(
        tasks::submit,
        tasks::list,
        tasks::read,
        tasks::cancel,
        shortcuts::send_email,
        shortcuts::process_data,
        shortcuts::cleanup,
        shortcuts::long_running,
        shortcuts::permanently_delete_accounts,
        status::status,
        celery::status,
        celery::submit,
        celery::task_status,
        celery::cancel,
        celery::active,
        celery::send_email,
        celery::process_data,
        celery::cleanup,
        celery::long_running,
        celery::permanently_delete_accounts,
    ),
    tags(
        (name = "tasks", description = "Background tasks (superusers only)"),
        (name = "celery", description = "The seed's Celery routes over the same tasks, in its shapes (superusers only)")
    )
)]
pub struct ApiDoc;

/// The routes of this function, without fallback or shared middleware; the seed's default
/// limit (100/min per client) is attached here, so it needs the state.
///
/// `/api/v1/tasks/status` and the shortcut paths are static segments, which the router matches
/// before the `{id}` capture, so they are never read as task ids.
pub fn routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/api/v1/tasks", post(tasks::submit).get(tasks::list))
        .route("/api/v1/tasks/status", get(status::status))
        .route("/api/v1/tasks/send-email", post(shortcuts::send_email))
        .route("/api/v1/tasks/process-data", post(shortcuts::process_data))
        .route("/api/v1/tasks/cleanup", post(shortcuts::cleanup))
        .route("/api/v1/tasks/long-running", post(shortcuts::long_running))
        .route("/api/v1/tasks/permanently-delete-accounts", post(shortcuts::permanently_delete_accounts))
        .route("/api/v1/tasks/{id}", get(tasks::read).delete(tasks::cancel))
        .route("/api/v1/celery/status", get(celery::status))
        .route("/api/v1/celery/tasks/submit", post(celery::submit))
        .route("/api/v1/celery/tasks/active", get(celery::active))
        .route("/api/v1/celery/tasks/send-email", post(celery::send_email))
        .route("/api/v1/celery/tasks/process-data", post(celery::process_data))
        .route("/api/v1/celery/tasks/cleanup", post(celery::cleanup))
        .route("/api/v1/celery/tasks/long-running", post(celery::long_running))
        .route("/api/v1/celery/tasks/permanently-delete-accounts", post(celery::permanently_delete_accounts))
        .route("/api/v1/celery/tasks/{task_id}/status", get(celery::task_status))
        .route("/api/v1/celery/tasks/{task_id}/cancel", delete(celery::cancel))
        .route_layer(rate_limit::layer(state, state.config.rate_limits.default))
        // Task arguments and results may be personal (mail addresses): never cache them.
        .layer(SetResponseHeaderLayer::overriding(header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
}

/// The complete, ready-to-serve router of this function.
pub fn router(state: AppState) -> Router {
    shared::http::finish(routes(&state), state)
}
