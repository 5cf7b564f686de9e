//! Health checks with the seed's shapes (seed README "Health Check Endpoints").
//!
//! Only `ready` fails (503) when the database is unreachable, so a load balancer stops routing to
//! an instance that cannot serve, while `health` keeps reporting what is wrong with a 200.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use serde::Serialize;
use shared::AppState;
use shared::error::ApiError;
use shared::http::ClientIp;
use shared::services::rate_limits::{self, Standing};
use shared::time::now_rfc3339;
use std::collections::BTreeMap;
use utoipa::ToSchema;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/health", get(health))
        .route("/api/v1/health/", get(health))
        .route("/api/v1/health/simple", get(simple))
        .route("/api/v1/health/ready", get(ready))
        .route("/api/v1/health/readiness", get(ready))
        .route("/api/v1/health/live", get(live))
        .route("/api/v1/health/liveness", get(live))
        .route("/api/v1/health/rate-limit", get(rate_limit))
}

/// Status of each dependency: `healthy` or `unhealthy`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Checks {
    database: &'static str,
    application: &'static str,
}

/// Body of `GET /api/v1/health`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    /// `healthy` when every check passes, `unhealthy` otherwise.
    status: &'static str,
    timestamp: String,
    version: &'static str,
    environment: String,
    checks: Checks,
    /// Present when the database check fails (the seed's key).
    #[serde(skip_serializing_if = "Option::is_none")]
    database_error: Option<&'static str>,
}

/// Body of `GET /api/v1/health/simple`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SimpleHealth {
    status: &'static str,
    timestamp: String,
}

/// Readiness of one component.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Component {
    ready: bool,
    message: &'static str,
}

/// Readiness of each component.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Components {
    database: Component,
    application: Component,
}

/// Body of `GET /api/v1/health/ready` when ready.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Readiness {
    ready: bool,
    timestamp: String,
    components: Components,
}

/// Body of `GET /api/v1/health/ready` when not ready: the seed's error envelope, the report
/// under `detail`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct NotReady {
    detail: NotReadyDetail,
}

/// What is not ready.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct NotReadyDetail {
    /// Always false.
    ready: bool,
    /// `Service not ready`.
    message: &'static str,
    timestamp: String,
    components: Components,
}

/// Body of `GET /api/v1/health/live`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Liveness {
    /// The string `"true"`, as the seed sends it (not a boolean).
    #[schema(example = "true")]
    alive: &'static str,
    timestamp: String,
}

/// One limit and how much of it the caller has used in the current window.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LimitStatus {
    /// Requests allowed per window.
    limit: u32,
    /// Window length in seconds.
    window_seconds: u32,
    /// Requests counted in the current window.
    used: u32,
    /// Requests left in the current window.
    remaining: u32,
    /// Seconds until the window resets.
    reset_seconds: u64,
}

/// Body of `GET /api/v1/health/rate-limit`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RateLimitStatus {
    enabled: bool,
    /// The address limits are counted against (never taken from a caller-supplied header unless
    /// `TRUSTED_PROXY_HOPS` says so).
    client_ip: Option<String>,
    /// Per limit name (`login`, `register`, ...): the caller's real counters.
    limits: BTreeMap<&'static str, LimitStatus>,
    /// The seed's keys, for the default limit: requests allowed per window, left, and the Unix
    /// time the window ends.
    limit: u32,
    remaining: u32,
    reset_time: i64,
    /// `Rate limiting is disabled` when limits are off (the seed's message).
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'static str>,
    timestamp: String,
}

async fn database_is_up(state: &AppState) -> bool {
    match shared::db::ping(&state.db).await {
        Ok(()) => true,
        Err(error) => {
            tracing::warn!(error = %error, "database health check failed");
            false
        }
    }
}

/// Full health report; always 200 so monitoring can read what is unhealthy.
#[utoipa::path(get, path = "/api/v1/health", tag = "health", responses((status = 200, body = Health)))]
pub(crate) async fn health(State(state): State<AppState>) -> Json<Health> {
    let up = database_is_up(&state).await;
    let database = if up { "healthy" } else { "unhealthy" };
    Json(Health {
        status: database,
        timestamp: now_rfc3339(),
        version: env!("CARGO_PKG_VERSION"),
        environment: state.config.environment.clone(),
        checks: Checks { database, application: "healthy" },
        database_error: (!up).then_some("Database connection failed"),
    })
}

/// Cheap uptime check: no dependency is contacted.
#[utoipa::path(get, path = "/api/v1/health/simple", tag = "health", responses((status = 200, body = SimpleHealth)))]
pub(crate) async fn simple() -> Json<SimpleHealth> {
    Json(SimpleHealth { status: "healthy", timestamp: now_rfc3339() })
}

/// Readiness probe: 503 when the database is unreachable.
#[utoipa::path(
    get,
    path = "/api/v1/health/ready",
    tag = "health",
    responses((status = 200, body = Readiness), (status = 503, body = NotReady))
)]
pub(crate) async fn ready(State(state): State<AppState>) -> Response {
    let database_ready = database_is_up(&state).await;
    let components = Components {
        database: Component {
            ready: database_ready,
            message: if database_ready { "Database connection successful" } else { "Database connection failed" },
        },
        application: Component { ready: true, message: "Application is running" },
    };
    let timestamp = now_rfc3339();
    if database_ready {
        return Json(Readiness { ready: true, timestamp, components }).into_response();
    }
    let detail = NotReadyDetail { ready: false, message: "Service not ready", timestamp, components };
    (StatusCode::SERVICE_UNAVAILABLE, Json(NotReady { detail })).into_response()
}

/// Liveness probe: the process answers.
#[utoipa::path(get, path = "/api/v1/health/live", tag = "health", responses((status = 200, body = Liveness)))]
pub(crate) async fn live() -> Json<Liveness> {
    Json(Liveness { alive: "true", timestamp: now_rfc3339() })
}

/// The rate limits that apply to the caller, with the caller's current counters.
#[utoipa::path(get, path = "/api/v1/health/rate-limit", tag = "health", responses((status = 200, body = RateLimitStatus)))]
pub(crate) async fn rate_limit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
) -> Result<Json<RateLimitStatus>, ApiError> {
    let now = Utc::now();
    let limits: BTreeMap<&'static str, LimitStatus> = rate_limits::standings(&state, ip, now)
        .await?
        .into_iter()
        .map(|Standing { limit, used, decision }| {
            let status = LimitStatus {
                limit: limit.max,
                window_seconds: limit.window_seconds,
                used,
                remaining: decision.remaining,
                reset_seconds: decision.reset_seconds,
            };
            (limit.name, status)
        })
        .collect();
    let default = limits.get(state.config.rate_limits.default.name);
    let reset_seconds = default.map_or(0, |status| status.reset_seconds);
    Ok(Json(RateLimitStatus {
        enabled: state.config.rate_limit_enabled,
        client_ip: ip.map(|ip| ip.to_string()),
        limit: default.map_or(0, |status| status.limit),
        remaining: default.map_or(0, |status| status.remaining),
        reset_time: now.timestamp() + i64::try_from(reset_seconds).unwrap_or(0),
        message: (!state.config.rate_limit_enabled).then_some("Rate limiting is disabled"),
        limits,
        timestamp: now_rfc3339(),
    }))
}
