//! The template's `test_optional_features.py` (its HTTP cases): what `/features` and the health
//! routes report with the optional features (Redis, WebSockets) left off.

use http::StatusCode;
use sqlx::PgPool;

use crate::support::*;

#[tokio::test]
async fn features_endpoint_defaults() {
    // Differs from the seed: README row "ENABLE_WEBSOCKETS, ENABLE_CELERY"
    let app = TestApp::offline(&[]);

    let response = app.get("/features").await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.body["redis"], false);
    assert_eq!(response.body["websockets"], true, "{response:?}");
}

#[tokio::test]
async fn features_endpoint_types() {
    let app = TestApp::offline(&[]);

    let response = app.get("/features").await;

    assert!(response.body["redis"].is_boolean());
    assert!(response.body["websockets"].is_boolean());
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn websocket_status_disabled(db: PgPool) {
    // Differs from the seed: README row "ENABLE_WEBSOCKETS, ENABLE_CELERY"
    let app = TestApp::new(db);

    let response = app.get("/api/v1/ws/status").await;

    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert_eq!(response.body["total_connections"], 0, "{response:?}");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn health_check_without_redis(db: PgPool) {
    let app = TestApp::new(db);

    let response = app.get("/api/v1/health").await;

    assert_eq!(response.status, StatusCode::OK);
    assert!(response.body["checks"].get("redis").is_none(), "{response:?}");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn readiness_check_without_redis(db: PgPool) {
    let app = TestApp::new(db);

    let response = app.get("/api/v1/health/ready").await;

    assert_eq!(response.status, StatusCode::OK);
    assert!(response.body["components"].get("redis").is_none(), "{response:?}");
}
