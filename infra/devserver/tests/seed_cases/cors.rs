//! The template's `test_cors.py` (its HTTP cases): preflights and simple requests from the
//! default origins.

use axum::body::Body;
use http::{Request, StatusCode};
use serde_json::json;
use sqlx::PgPool;

use crate::support::*;

const ORIGIN: &str = "http://localhost:3000";

async fn preflight(app: &TestApp, method: &str, headers: Option<&str>) -> TestResponse {
    let mut builder = Request::builder()
        .method("OPTIONS")
        .uri("/")
        .header("origin", ORIGIN)
        .header("access-control-request-method", method);
    if let Some(headers) = headers {
        builder = builder.header("access-control-request-headers", headers);
    }
    app.send(builder.body(Body::empty()).expect("request")).await
}

async fn get_from(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> TestResponse {
    let mut builder = Request::get(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    app.send(builder.body(Body::empty()).expect("request")).await
}

/// The template's registration body, refused for its password (no uppercase, no special).
fn register_body() -> String {
    json!({"email": "test@example.com", "username": "testuser", "password": "testpassword123"}).to_string()
}

#[tokio::test]
async fn cors_preflight_request() {
    let app = TestApp::offline(&[]);

    let response = preflight(&app, "GET", Some("Content-Type")).await;

    assert_eq!(response.status, StatusCode::OK);
    for name in [
        "access-control-allow-origin",
        "access-control-allow-methods",
        "access-control-allow-headers",
        "access-control-allow-credentials",
    ] {
        assert!(response.header(name).is_some(), "{name}: {response:?}");
    }
}

#[tokio::test]
async fn cors_allows_configured_origins() {
    let app = TestApp::offline(&[]);
    for origin in ["http://localhost:3000", "http://localhost:8080", "http://localhost:4200"] {
        let response = get_from(&app, "/", &[("origin", origin)]).await;
        assert_eq!(response.status, StatusCode::OK);
        assert_eq!(response.header("access-control-allow-origin"), Some(origin));
    }
}

#[tokio::test]
async fn cors_credentials_allowed() {
    let app = TestApp::offline(&[]);

    let response = preflight(&app, "GET", Some("Content-Type")).await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.header("access-control-allow-credentials"), Some("true"));
}

#[tokio::test]
async fn cors_all_methods_allowed() {
    let app = TestApp::offline(&[]);
    for method in ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        let response = preflight(&app, method, None).await;
        assert_eq!(response.status, StatusCode::OK, "{method}");
        assert!(response.header("access-control-allow-methods").is_some(), "{method}: {response:?}");
    }
}

#[tokio::test]
async fn cors_all_headers_allowed() {
    let app = TestApp::offline(&[]);
    for header in ["Content-Type", "Authorization", "X-Requested-With"] {
        let response = preflight(&app, "GET", Some(header)).await;
        assert_eq!(response.status, StatusCode::OK, "{header}");
        assert!(response.header("access-control-allow-headers").is_some(), "{header}: {response:?}");
    }
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn cors_api_endpoints(db: PgPool) {
    let app = TestApp::new(db);

    let response = get_from(&app, "/api/v1/health", &[("origin", ORIGIN)]).await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.header("access-control-allow-origin"), Some(ORIGIN));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn cors_with_authentication_endpoints(db: PgPool) {
    let app = TestApp::new(db);
    let request = Request::post("/api/v1/auth/register")
        .header("origin", ORIGIN)
        .header("content-type", "application/json")
        .body(Body::from(register_body()))
        .expect("request");

    let response = app.send(request).await;

    assert_eq!(response.header("access-control-allow-origin"), Some(ORIGIN), "{response:?}");
}

#[tokio::test]
async fn cors_multiple_origins_same_request() {
    let app = TestApp::offline(&[]);

    let response = get_from(&app, "/", &[("origin", ORIGIN), ("referer", "http://localhost:8080")]).await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.header("access-control-allow-origin"), Some(ORIGIN));
}

#[tokio::test]
async fn cors_no_origin_header() {
    let app = TestApp::offline(&[]);

    let response = app.get("/").await;

    assert_eq!(response.status, StatusCode::OK);
    assert!(response.header("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn cors_middleware_loaded() {
    let app = TestApp::offline(&[]);

    assert_eq!(app.get("/").await.status, StatusCode::OK);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn cors_with_different_content_types(db: PgPool) {
    let app = TestApp::new(db);
    for content_type in ["application/json", "text/plain", "application/xml"] {
        let request = Request::post("/api/v1/auth/register")
            .header("origin", ORIGIN)
            .header("content-type", content_type)
            .body(Body::from(register_body()))
            .expect("request");

        let response = app.send(request).await;

        assert_eq!(response.header("access-control-allow-origin"), Some(ORIGIN), "{content_type}: {response:?}");
    }
}
