//! The template's `test_rate_limiting.py` (its HTTP cases): the rate-limit status route, a login
//! under the limits, and the feature flag.

use http::StatusCode;
use sqlx::PgPool;

use crate::support::*;

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn rate_limiting_endpoints_exist(db: PgPool) {
    let app = TestApp::new(db);

    let response = app.get("/api/v1/health/rate-limit").await;

    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert!(response.body.get("enabled").is_some());
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn auth_endpoints_have_rate_limiting(db: PgPool) {
    let app = TestApp::new(db);

    let response = app.login("test@example.com", "testpassword").await;

    assert!([StatusCode::UNAUTHORIZED, StatusCode::UNPROCESSABLE_ENTITY].contains(&response.status), "{response:?}");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn rate_limiting_headers_present(db: PgPool) {
    let app = TestApp::new(db);

    let response = app.get("/api/v1/health/rate-limit").await;

    assert_eq!(response.status, StatusCode::OK, "{response:?}");
}

#[tokio::test]
async fn rate_limiting_feature_flag() {
    let app = TestApp::offline(&[]);

    let response = app.get("/features").await;

    assert_eq!(response.status, StatusCode::OK);
    assert!(response.body["rate_limiting"].is_boolean(), "{response:?}");
}
