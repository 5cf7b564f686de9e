//! Test helpers: state around a test database, and one-call request/response plumbing.

use axum::Router;
use axum::body::Body;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use shared::{AppState, Config};
use sqlx::PgPool;
use tower::ServiceExt;

/// Configuration for tests; the database URL is never dialled because tests hand in a pool.
pub(crate) fn test_config(extra: &[(&str, &str)]) -> Config {
    let mut vars: Vec<(String, String)> = vec![("DATABASE_URL".into(), "postgres://test@127.0.0.1:1/unused".into())];
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Config::from_lookup(|name| vars.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
        .expect("test config is valid")
}

/// The real router around a migrated test database.
pub(crate) fn app(pool: PgPool) -> Router {
    system_api::router(AppState::with_pool(test_config(&[]), pool))
}

/// The real router whose database is unreachable (nothing listens on port 1).
pub(crate) fn app_without_database() -> Router {
    system_api::router(AppState::new(test_config(&[("DB_ACQUIRE_TIMEOUT_MS", "500")])))
}

/// A response reduced to what tests assert on.
pub(crate) struct TestResponse {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) text: String,
}

impl TestResponse {
    #[track_caller]
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text))
    }
}

pub(crate) async fn send(app: Router, request: Request<Body>) -> TestResponse {
    let response = app.oneshot(request).await.expect("router is infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.expect("body").to_bytes();
    TestResponse { status, headers, text: String::from_utf8_lossy(&bytes).into_owned() }
}

pub(crate) fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).expect("request")
}

#[track_caller]
pub(crate) fn assert_rfc3339_utc(value: &Value) {
    let text = value.as_str().expect("timestamp is a string");
    assert!(text.ends_with('Z'), "{text} is not UTC with Z");
    chrono::DateTime::parse_from_rfc3339(text).expect("timestamp is RFC 3339");
}
