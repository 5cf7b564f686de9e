//! The template's `test_api_users.py`: `GET /api/v1/users/me` and the Bearer token rules.
//!
//! Where the template mints a token itself, these tests log in for real, or sign with the
//! service's own key when the token's signature, expiry or subject is what the case is about.

use axum::body::Body;
use chrono::{Duration, Utc};
use http::{Request, StatusCode, header};
use shared::security::jwt::JwtKeys;
use sqlx::PgPool;
use uuid::Uuid;

use crate::support::*;

const EMAIL: &str = "test@example.com";
const USERNAME: &str = "testuser";
const PASSWORD: &str = "TestPassword123!";

/// A signed-in user's id and live session id.
async fn user_and_session(app: &TestApp) -> (Uuid, Uuid) {
    app.signed_in(EMAIL, USERNAME, PASSWORD).await;
    let user = app.user_id(EMAIL).await;
    let session: Uuid = sqlx::query_scalar("select id from sessions where user_id = $1 and revoked_at is null")
        .bind(user)
        .fetch_one(&app.state.db)
        .await
        .expect("session");
    (user, session)
}

fn keys(app: &TestApp) -> &JwtKeys {
    app.state.config.require_jwt().expect("signing key")
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn get_current_user_success(db: PgPool) {
    let app = TestApp::new(db);
    let session = app.signed_in(EMAIL, USERNAME, PASSWORD).await;

    let response = app.get_as(&session.access, "/api/v1/users/me").await;

    assert_user_response(&response, StatusCode::OK, EMAIL, USERNAME);
}

#[tokio::test]
async fn get_current_user_no_token() {
    let app = TestApp::offline(&[]);

    let response = app.get("/api/v1/users/me").await;

    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    assert!(response.body["detail"].as_str().expect("detail").contains("Not authenticated"));
}

#[tokio::test]
async fn get_current_user_invalid_token() {
    let app = TestApp::offline(&[]);

    let response = app.get_as("invalid_token", "/api/v1/users/me").await;

    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    assert!(response.body["detail"].as_str().expect("detail").contains("Could not validate credentials"));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn get_current_user_expired_token(db: PgPool) {
    let app = TestApp::new(db);
    let (user, session) = user_and_session(&app).await;
    // Issued long enough ago that it expired a while back (beyond any clock-skew leeway).
    let issued_at = Utc::now() - Duration::seconds(keys(&app).ttl_seconds() + 60);
    let (expired, _) =
        keys(&app).issue(user, EMAIL, session, &test_support::password_assurance(), issued_at).expect("token");

    let response = app.get_as(&expired, "/api/v1/users/me").await;

    assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{response:?}");
    assert!(response.body["detail"].as_str().expect("detail").contains("Could not validate credentials"));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn get_current_user_wrong_secret_key(db: PgPool) {
    let app = TestApp::new(db);
    let (user, session) = user_and_session(&app).await;
    let wrong =
        JwtKeys::from_secret(b"wrong_secret_key-wrong_secret_key-0123", keys(&app).issuer(), "serverless-auth", 900)
            .expect("keys");
    let (tampered, _) =
        wrong.issue(user, EMAIL, session, &test_support::password_assurance(), Utc::now()).expect("token");

    let response = app.get_as(&tampered, "/api/v1/users/me").await;

    assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{response:?}");
    assert!(response.body["detail"].as_str().expect("detail").contains("Could not validate credentials"));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn get_current_user_nonexistent_user(db: PgPool) {
    let app = TestApp::new(db);
    let (token, _) = keys(&app)
        .issue(
            Uuid::new_v4(),
            "nonexistent@example.com",
            Uuid::new_v4(),
            &test_support::password_assurance(),
            Utc::now(),
        )
        .expect("token");

    let response = app.get_as(&token, "/api/v1/users/me").await;

    assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{response:?}");
    assert!(response.body["detail"].as_str().expect("detail").contains("Could not validate credentials"));
}

#[tokio::test]
async fn get_current_user_malformed_token() {
    let app = TestApp::offline(&[]);

    let response = app.get_as("not.a.valid.jwt.token", "/api/v1/users/me").await;

    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    assert!(response.body["detail"].as_str().expect("detail").contains("Could not validate credentials"));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn get_current_user_wrong_auth_scheme(db: PgPool) {
    let app = TestApp::new(db);
    let session = app.signed_in(EMAIL, USERNAME, PASSWORD).await;
    let request = Request::get("/api/v1/users/me")
        .header(header::AUTHORIZATION, format!("Basic {}", session.access))
        .body(Body::empty())
        .expect("request");

    let response = app.send(request).await;

    assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{response:?}");
    assert!(response.body["detail"].as_str().expect("detail").contains("Not authenticated"));
}
