//! The template's `test_api_auth.py`: registration and form login.

use axum::body::Body;
use http::{Request, StatusCode};
use serde_json::json;
use sqlx::PgPool;

use crate::support::*;

const EMAIL: &str = "test@example.com";
const USERNAME: &str = "testuser";
const PASSWORD: &str = "TestPassword123!";

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn register_user_success(db: PgPool) {
    let app = TestApp::new(db);

    let response = app.register(EMAIL, USERNAME, PASSWORD).await;

    assert_user_response(&response, StatusCode::CREATED, EMAIL, USERNAME);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn register_user_duplicate_email(db: PgPool) {
    let app = TestApp::new(db.clone());
    assert_eq!(app.register(EMAIL, USERNAME, PASSWORD).await.status, StatusCode::CREATED);

    let response = app.register(EMAIL, USERNAME, PASSWORD).await;

    // Differs from the seed: README row "POST /auth/register, email already registered" (the
    // address is not reported, and the same registration again is answered as it would be for
    // an address that had an account before it)
    assert_eq!(response.status, StatusCode::CREATED, "{response:?}");
    assert_eq!(response.body["username"], USERNAME);
    let accounts: i64 = sqlx::query_scalar("select count(*) from users").fetch_one(&db).await.expect("count");
    assert_eq!(accounts, 1, "nothing more is stored");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn register_user_duplicate_username(db: PgPool) {
    let app = TestApp::new(db);
    assert_eq!(app.register(EMAIL, USERNAME, PASSWORD).await.status, StatusCode::CREATED);

    let response = app.register("test2@example.com", USERNAME, "TestPassword456!").await;

    assert_eq!(response.status, StatusCode::BAD_REQUEST, "{response:?}");
    assert!(response.body["detail"].as_str().expect("detail").contains("Username already taken"));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn register_user_invalid_email(db: PgPool) {
    let app = TestApp::new(db);

    let response = app.register("invalid-email", USERNAME, PASSWORD).await;

    assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{response:?}");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn register_user_missing_fields(db: PgPool) {
    let app = TestApp::new(db);

    let response = app.post_json("/api/v1/auth/register", &json!({"email": EMAIL})).await;

    assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{response:?}");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn login_success(db: PgPool) {
    let app = TestApp::new(db);
    app.verified_user(EMAIL, USERNAME, PASSWORD).await;

    let response = app.login(EMAIL, PASSWORD).await;

    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert_eq!(response.body["token_type"], "bearer");
    assert!(!response.body["access_token"].as_str().expect("a string token").is_empty());
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn login_wrong_password(db: PgPool) {
    let app = TestApp::new(db);
    assert_eq!(app.register(EMAIL, USERNAME, PASSWORD).await.status, StatusCode::CREATED);

    let response = app.login(EMAIL, "wrongpassword").await;

    assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{response:?}");
    assert!(response.body["detail"].as_str().expect("detail").contains("Invalid email or password"));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn login_wrong_email(db: PgPool) {
    let app = TestApp::new(db);
    assert_eq!(app.register(EMAIL, USERNAME, PASSWORD).await.status, StatusCode::CREATED);

    let response = app.login("wrong@example.com", PASSWORD).await;

    assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{response:?}");
    assert!(response.body["detail"].as_str().expect("detail").contains("Invalid email or password"));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn login_nonexistent_user(db: PgPool) {
    let app = TestApp::new(db);

    let response = app.login("nonexistent@example.com", "anypassword").await;

    assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{response:?}");
    assert!(response.body["detail"].as_str().expect("detail").contains("Invalid email or password"));
}

#[tokio::test]
async fn login_missing_credentials() {
    let app = TestApp::offline(&[]);
    // An empty form: no body and no content type, as the seed's client sends `data={}`.
    let request = Request::post("/api/v1/auth/login").body(Body::empty()).expect("request");

    let response = app.send(request).await;

    assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{response:?}");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn login_unverified_user(db: PgPool) {
    let app = TestApp::new(db);
    assert_eq!(app.register(EMAIL, USERNAME, PASSWORD).await.status, StatusCode::CREATED);

    let response = app.login(EMAIL, PASSWORD).await;

    assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{response:?}");
    assert!(response.body["detail"].as_str().expect("detail").contains("Please verify your email before logging in"));
}
