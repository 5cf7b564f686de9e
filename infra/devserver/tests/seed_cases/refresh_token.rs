//! The template's `test_refresh_token.py` (its HTTP cases): refresh, logout and the sessions
//! API. Sessions come from real logins; the refresh token is the login's cookie.

use http::StatusCode;
use sqlx::PgPool;
use uuid::Uuid;

use crate::support::*;

const EMAIL: &str = "test@example.com";
const PASSWORD: &str = "TestPassword123!";

/// A verified account with one session.
async fn signed_in(app: &TestApp) -> Session {
    app.signed_in(EMAIL, "testuser", PASSWORD).await
}

async fn refresh(app: &TestApp, cookie: &str) -> TestResponse {
    app.with_cookie("POST", "/api/v1/auth/refresh", cookie, None).await
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn refresh_token_endpoint_success(db: PgPool) {
    let app = TestApp::new(db);
    let session = signed_in(&app).await;

    let response = refresh(&app, &session.refresh).await;

    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert!(response.body.get("access_token").is_some());
    assert_eq!(response.body["token_type"], "bearer");
    assert!(response.body["expires_in"].as_i64().expect("expires_in") > 0);
}

#[tokio::test]
async fn refresh_token_endpoint_no_cookie() {
    let app = TestApp::offline(&[]);

    let response = app.call("POST", "/api/v1/auth/refresh", None, None).await;

    assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{response:?}");
    assert!(response.body["detail"].as_str().expect("detail").contains("No refresh token provided"));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn refresh_token_endpoint_invalid_token(db: PgPool) {
    let app = TestApp::new(db);

    let response = refresh(&app, "invalid_token").await;

    assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{response:?}");
    assert!(response.body["detail"].as_str().expect("detail").contains("Invalid refresh token"));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn logout_endpoint_success(db: PgPool) {
    let app = TestApp::new(db);
    let session = signed_in(&app).await;

    let response = app.with_cookie("POST", "/api/v1/auth/logout", &session.refresh, None).await;

    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert_eq!(response.body["message"], "Successfully logged out");
    assert_eq!(refresh(&app, &session.refresh).await.status, StatusCode::UNAUTHORIZED, "the token was revoked");
}

#[tokio::test]
async fn logout_endpoint_no_cookie() {
    let app = TestApp::offline(&[]);

    let response = app.call("POST", "/api/v1/auth/logout", None, None).await;

    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert_eq!(response.body["message"], "Successfully logged out");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn get_user_sessions_endpoint(db: PgPool) {
    let app = TestApp::new(db);
    let session = signed_in(&app).await;
    let session_id: Uuid = sqlx::query_scalar("select id from sessions").fetch_one(&app.state.db).await.expect("id");

    let response = app.with_cookie("GET", "/api/v1/auth/sessions", &session.refresh, Some(&session.access)).await;

    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert_eq!(response.body["total_sessions"], 1);
    let sessions = response.body["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["id"], session_id.to_string());
    assert_eq!(sessions[0]["is_current"], true);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn revoke_session_endpoint(db: PgPool) {
    let app = TestApp::new(db);
    let session = signed_in(&app).await;
    let session_id: Uuid = sqlx::query_scalar("select id from sessions").fetch_one(&app.state.db).await.expect("id");

    let response =
        app.call("DELETE", &format!("/api/v1/auth/sessions/{session_id}"), Some(&session.access), None).await;

    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert_eq!(response.body["message"], "Session revoked successfully");
    assert_eq!(refresh(&app, &session.refresh).await.status, StatusCode::UNAUTHORIZED, "the token was revoked");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn revoke_all_sessions_endpoint(db: PgPool) {
    let app = TestApp::new(db);
    let first = signed_in(&app).await;
    let second = app.session(EMAIL, PASSWORD).await;

    let response = app.with_cookie("DELETE", "/api/v1/auth/sessions", &first.refresh, Some(&first.access)).await;

    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert!(response.body["message"].as_str().expect("message").contains("Successfully revoked 1 sessions"));
    assert_eq!(response.body["revoked_count"], 1);
    assert_eq!(refresh(&app, &first.refresh).await.status, StatusCode::OK, "the current session is kept");
    assert_eq!(refresh(&app, &second.refresh).await.status, StatusCode::UNAUTHORIZED, "the other one is revoked");
}
