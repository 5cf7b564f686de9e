//! Health checks with the seed's shapes (seed README "Health Check Endpoints").
//!
//! Only `ready` fails (503) when the database is unreachable, so a load balancer stops routing to
//! an instance that cannot serve, while `health` keeps reporting what is wrong with a 200.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use shared::AppState;
use shared::http::ClientIp;
use shared::time::now_rfc3339;
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

/// Body of `GET /api/v1/health/ready`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Readiness {
    ready: bool,
    timestamp: String,
    components: Components,
}

/// Body of `GET /api/v1/health/live`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Liveness {
    alive: bool,
    timestamp: String,
}

/// One configured limit.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Limit {
    /// Requests allowed per window.
    limit: u32,
    /// Window length in seconds.
    window_seconds: u32,
}

/// The per-route limits of the seed (login 5/min, register 3/min, ...).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Limits {
    default: Limit,
    login: Limit,
    register: Limit,
    email_verification: Limit,
    password_reset: Limit,
    oauth: Limit,
}

/// Body of `GET /api/v1/health/rate-limit`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RateLimitStatus {
    enabled: bool,
    /// The address limits are counted against (never taken from a caller-supplied header unless
    /// `TRUSTED_PROXY_HOPS` says so).
    client_ip: Option<String>,
    limits: Limits,
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
    let database = if database_is_up(&state).await { "healthy" } else { "unhealthy" };
    Json(Health {
        status: if database == "healthy" { "healthy" } else { "unhealthy" },
        timestamp: now_rfc3339(),
        version: env!("CARGO_PKG_VERSION"),
        environment: state.config.environment.clone(),
        checks: Checks { database, application: "healthy" },
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
    responses((status = 200, body = Readiness), (status = 503, body = Readiness))
)]
pub(crate) async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    let database_ready = database_is_up(&state).await;
    let status = if database_ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = Readiness {
        ready: database_ready,
        timestamp: now_rfc3339(),
        components: Components {
            database: Component {
                ready: database_ready,
                message: if database_ready { "Database connection successful" } else { "Database connection failed" },
            },
            application: Component { ready: true, message: "Application is running" },
        },
    };
    (status, Json(body))
}

/// Liveness probe: the process answers.
#[utoipa::path(get, path = "/api/v1/health/live", tag = "health", responses((status = 200, body = Liveness)))]
pub(crate) async fn live() -> Json<Liveness> {
    Json(Liveness { alive: true, timestamp: now_rfc3339() })
}

/// The rate limits that apply to the caller.
#[utoipa::path(get, path = "/api/v1/health/rate-limit", tag = "health", responses((status = 200, body = RateLimitStatus)))]
pub(crate) async fn rate_limit(State(state): State<AppState>, ClientIp(ip): ClientIp) -> Json<RateLimitStatus> {
    let per_minute = |limit| Limit { limit, window_seconds: 60 };
    Json(RateLimitStatus {
        enabled: state.config.rate_limit_enabled,
        client_ip: ip.map(|ip| ip.to_string()),
        limits: Limits {
            default: per_minute(100),
            login: per_minute(5),
            register: per_minute(3),
            email_verification: per_minute(3),
            password_reset: per_minute(3),
            oauth: per_minute(10),
        },
        timestamp: now_rfc3339(),
    })
}
