//! `GET /` and `GET /features`, as in the seed.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use shared::AppState;
use utoipa::ToSchema;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/", get(welcome)).route("/features", get(features))
}

/// Body of `GET /`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Welcome {
    message: String,
}

/// Which optional features this deployment has; the seed's keys, so seed clients keep working.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Features {
    /// Always false: this port needs no Redis.
    redis: bool,
    /// Real-time messaging over WebSockets.
    websockets: bool,
    /// Request rate limits are enforced.
    rate_limiting: bool,
    /// Background tasks are available (the seed's Celery; here SQS and a worker function).
    celery: bool,
}

/// Welcome message.
#[utoipa::path(get, path = "/", tag = "system", responses((status = 200, body = Welcome)))]
pub(crate) async fn welcome(State(state): State<AppState>) -> Json<Welcome> {
    Json(Welcome { message: format!("Welcome to {}", state.config.project_name) })
}

/// Optional features enabled in this deployment.
#[utoipa::path(get, path = "/features", tag = "system", responses((status = 200, body = Features)))]
pub(crate) async fn features(State(state): State<AppState>) -> Json<Features> {
    // Tasks run on every queue backend: SQS and the worker on AWS, the devserver's own worker, or
    // inline in tests.
    Json(Features { redis: false, websockets: true, rate_limiting: state.config.rate_limit_enabled, celery: true })
}
