//! The template's `test_auth_password_change.py`: `POST /api/v1/auth/change-password`.

use http::StatusCode;
use serde_json::json;
use sqlx::PgPool;

use crate::support::oidc;
use crate::support::*;

async fn change(app: &TestApp, token: Option<&str>, current: &str, new: &str) -> TestResponse {
    let body = json!({"current_password": current, "new_password": new});
    app.call("POST", "/api/v1/auth/change-password", token, Some(&body)).await
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn change_password_success(db: PgPool) {
    let app = TestApp::new(db);
    let session = app.signed_in("test@example.com", "testuser", "OldPassword123!").await;

    let response = change(&app, Some(&session.access), "OldPassword123!", "NewPassword456!").await;

    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert_eq!(response.body["detail"], "Password updated successfully");
    assert_eq!(app.login("test@example.com", "NewPassword456!").await.status, StatusCode::OK);
    assert_eq!(app.login("test@example.com", "OldPassword123!").await.status, StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn change_password_wrong_current_password(db: PgPool) {
    let app = TestApp::new(db);
    let session = app.signed_in("test@example.com", "testuser", "CorrectPassword123!").await;

    let response = change(&app, Some(&session.access), "WrongPassword123!", "NewPassword456!").await;

    assert_eq!(response.status, StatusCode::BAD_REQUEST, "{response:?}");
    assert_eq!(response.body["detail"], "Incorrect current password");
    assert_eq!(app.login("test@example.com", "CorrectPassword123!").await.status, StatusCode::OK);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn change_password_weak_new_password(db: PgPool) {
    let app = TestApp::new(db);
    let session = app.signed_in("test@example.com", "testuser", "CorrectPassword123!").await;

    let response = change(&app, Some(&session.access), "CorrectPassword123!", "weak").await;

    assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{response:?}");
    let errors = response.body["detail"].as_array().expect("a list of errors");
    assert!(
        errors.iter().any(|error| error.to_string().contains("Password must be at least 8 characters long")),
        "{response:?}"
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn change_password_oauth_user(db: PgPool) {
    // The OAuth account and its token come from a real Google sign-in.
    let jwks = oidc::serve().await;
    let app = oidc::app(db, &oidc::google_vars(&jwks));
    let id_token = oidc::google_token(&jwks, "google123", "oauth@example.com", &[]);
    let login = oidc::login(&app, "google", &id_token).await;
    assert_eq!(login.status, StatusCode::OK, "{login:?}");
    let access = login.body["access_token"].as_str().expect("token");

    let response = change(&app, Some(access), "SomePassword123!", "NewPassword456!").await;

    assert_eq!(response.status, StatusCode::BAD_REQUEST, "{response:?}");
    assert_eq!(response.body["detail"], "OAuth users cannot change password");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn change_password_oauth_user_regular_user(db: PgPool) {
    let app = TestApp::new(db);
    let session = app.signed_in("regular@example.com", "regularuser", "SomePassword123!").await;

    let response = change(&app, Some(&session.access), "SomePassword123!", "NewPassword456!").await;

    assert_eq!(response.status, StatusCode::OK, "{response:?}");
}

#[tokio::test]
async fn change_password_no_auth_token() {
    let app = TestApp::offline(&[]);

    let response = change(&app, None, "OldPassword123!", "NewPassword456!").await;

    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    assert!(response.body["detail"].as_str().expect("detail").contains("Not authenticated"));
}

#[tokio::test]
async fn change_password_invalid_token() {
    let app = TestApp::offline(&[]);

    let response = change(&app, Some("invalid_token"), "OldPassword123!", "NewPassword456!").await;

    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    assert!(response.body["detail"].as_str().expect("detail").contains("Could not validate credentials"));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn change_password_invalidates_reset_tokens(db: PgPool) {
    let app = TestApp::new(db);
    let session = app.signed_in("test@example.com", "testuser", "OldPassword123!").await;

    let response = change(&app, Some(&session.access), "OldPassword123!", "NewPassword456!").await;

    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert_eq!(app.login("test@example.com", "NewPassword456!").await.status, StatusCode::OK);
}
