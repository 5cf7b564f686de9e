//! Test helpers: the real router around a test database (or none), called through
//! [`test_support::send`].

use axum::Router;
use serde_json::Value;
use shared::AppState;
use sqlx::PgPool;

pub(crate) use test_support::{get, send, test_config};

/// The real router around a migrated test database.
pub(crate) fn app(pool: PgPool) -> Router {
    system_api::router(AppState::with_pool(test_config(&[]), pool))
}

/// The real router whose database is unreachable (nothing listens on port 1).
pub(crate) fn app_without_database() -> Router {
    system_api::router(AppState::new(test_config(&[("DB_ACQUIRE_TIMEOUT_MS", "500")])))
}

#[track_caller]
pub(crate) fn assert_rfc3339_utc(value: &Value) {
    let text = value.as_str().expect("timestamp is a string");
    assert!(text.ends_with('Z'), "{text} is not UTC with Z");
    chrono::DateTime::parse_from_rfc3339(text).expect("timestamp is RFC 3339");
}
