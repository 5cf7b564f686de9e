//! The template's health tests: `/api/v1/health`, `/simple`, `/ready` and `/live`.

use http::StatusCode;
use sqlx::PgPool;

use crate::support::*;

const ENDPOINTS: [&str; 4] = ["/api/v1/health", "/api/v1/health/simple", "/api/v1/health/ready", "/api/v1/health/live"];

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn comprehensive_health_check(db: PgPool) {
    let app = TestApp::new(db);

    let response = app.get("/api/v1/health").await;

    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    for key in ["status", "timestamp", "version", "environment", "checks"] {
        assert!(response.body.get(key).is_some(), "{key}: {response:?}");
    }
    assert!(response.body["checks"].get("database").is_some());
    assert_eq!(response.body["checks"]["application"], "healthy");
    let status = response.body["status"].as_str().expect("status");
    assert!(["healthy", "unhealthy"].contains(&status));
    if status == "unhealthy" {
        assert!(response.body.get("database_error").is_some());
    }
}

#[tokio::test]
async fn simple_health_check() {
    let app = TestApp::offline(&[]);

    let response = app.get("/api/v1/health/simple").await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.body["status"], "healthy");
    assert!(response.body.get("timestamp").is_some());
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn readiness_check(db: PgPool) {
    let app = TestApp::new(db);

    let response = app.get("/api/v1/health/ready").await;

    // The database is up: ready (the template also accepted a 503 naming what is not ready).
    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert_eq!(response.body["ready"], true);
    assert!(response.body.get("timestamp").is_some());
    let components = &response.body["components"];
    assert!(components.get("database").is_some());
    assert!(components.get("application").is_some());
    assert_eq!(components["application"]["ready"], true);
}

#[tokio::test]
async fn liveness_check() {
    let app = TestApp::offline(&[]);

    let response = app.get("/api/v1/health/live").await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.body["alive"], "true");
    assert!(response.body.get("timestamp").is_some());
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn health_endpoints_are_public(db: PgPool) {
    let app = TestApp::new(db);
    for endpoint in ENDPOINTS {
        let response = app.get(endpoint).await;
        assert_ne!(response.status, StatusCode::UNAUTHORIZED, "{endpoint}");
    }
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn health_endpoints_response_format(db: PgPool) {
    let app = TestApp::new(db);
    for endpoint in ENDPOINTS {
        let response = app.get(endpoint).await;
        assert!([StatusCode::OK, StatusCode::SERVICE_UNAVAILABLE].contains(&response.status), "{endpoint}");
        assert!(response.header("content-type").expect("content type").contains("application/json"), "{endpoint}");
        assert!(response.body.is_object(), "{endpoint}: {response:?}");
    }
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn health_endpoints_include_timestamps(db: PgPool) {
    let app = TestApp::new(db);
    for endpoint in ENDPOINTS {
        let response = app.get(endpoint).await;
        if response.status == StatusCode::OK {
            let timestamp = response.body["timestamp"].as_str().expect("timestamp");
            assert!(timestamp.contains('T'), "{endpoint}: {timestamp}");
            assert!(timestamp.contains('Z') || timestamp.contains('+') || timestamp.contains('-'), "{timestamp}");
        }
    }
}
