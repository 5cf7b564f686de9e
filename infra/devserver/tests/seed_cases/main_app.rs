//! The template's `test_main.py`: the root, docs, OpenAPI document, CORS preflight, unknown
//! routes and the `/api/v1` prefix.

use axum::body::Body;
use http::{Request, StatusCode};
use sqlx::PgPool;

use crate::support::*;

#[tokio::test]
async fn root_endpoint() {
    let app = TestApp::offline(&[]);

    let response = app.get("/").await;

    // Differs from the seed: README row "GET /"
    assert_eq!(response.status, StatusCode::OK);
    let message = response.body["message"].as_str().expect("message");
    assert!(message.contains("Welcome to Serverless Auth"), "{message}");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn health_check_endpoint_moved_to_api(db: PgPool) {
    let app = TestApp::new(db);

    let response = app.get("/api/v1/health").await;

    assert_eq!(response.status, StatusCode::OK);
    for key in ["status", "timestamp", "version"] {
        assert!(response.body.get(key).is_some(), "{key}: {response:?}");
    }
}

#[tokio::test]
async fn openapi_docs_accessible() {
    let app = TestApp::offline(&[]);

    let response = app.get("/docs").await;

    assert_eq!(response.status, StatusCode::OK);
    assert!(response.header("content-type").expect("content type").contains("text/html"));
}

#[tokio::test]
async fn redoc_docs_accessible() {
    let app = TestApp::offline(&[]);

    let response = app.get("/redoc").await;

    assert_eq!(response.status, StatusCode::OK);
    assert!(response.header("content-type").expect("content type").contains("text/html"));
}

#[tokio::test]
async fn openapi_json_accessible() {
    let app = TestApp::offline(&[]);

    let response = app.get("/api/v1/openapi.json").await;

    assert_eq!(response.status, StatusCode::OK);
    assert!(response.header("content-type").expect("content type").contains("application/json"));
    for key in ["openapi", "info", "paths"] {
        assert!(response.body.get(key).is_some(), "{key}");
    }
}

#[tokio::test]
async fn cors_headers() {
    let app = TestApp::offline(&[]);
    let request = Request::builder()
        .method("OPTIONS")
        .uri("/api/v1/auth/register")
        .header("origin", "http://localhost:3000")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "Content-Type")
        .body(Body::empty())
        .expect("request");

    let response = app.send(request).await;

    assert_eq!(response.status, StatusCode::OK);
}

#[tokio::test]
async fn nonexistent_endpoint() {
    let app = TestApp::offline(&[]);

    let response = app.get("/nonexistent").await;

    assert_eq!(response.status, StatusCode::NOT_FOUND);
    assert!(response.body["detail"].as_str().expect("detail").contains("Not Found"));
}

#[tokio::test]
async fn api_v1_prefix() {
    let app = TestApp::offline(&[]);

    let register = app.get("/api/v1/auth/register").await;
    let me = app.get("/api/v1/users/me").await;

    assert_eq!(register.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn endpoints_without_prefix_not_found() {
    let app = TestApp::offline(&[]);

    let register = app.call("POST", "/auth/register", None, None).await;
    let me = app.get("/users/me").await;

    assert_eq!(register.status, StatusCode::NOT_FOUND);
    assert_eq!(me.status, StatusCode::NOT_FOUND);
}
