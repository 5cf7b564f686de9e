//! The template's `test_auth_password_reset.py`: `forgot-password` and `reset-password`. The
//! reset token is the one mailed to the user; an expired or OAuth user's token is arranged in the
//! database, where no route can produce one.

use http::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::oidc;
use crate::support::*;

const EMAIL: &str = "test@example.com";
const OLD_PASSWORD: &str = "OldPassword123!";
const NEW_PASSWORD: &str = "NewPassword123!";
const GENERIC: &str = "If an account with that email exists, a password reset link has been sent.";
const INVALID_TOKEN: &str = "Invalid or expired password reset token. Please request a new one.";

async fn forgot(app: &TestApp, email: &str) -> TestResponse {
    app.post_json("/api/v1/auth/forgot-password", &json!({"email": email})).await
}

async fn reset(app: &TestApp, token: &str, new_password: &str) -> TestResponse {
    app.post_json("/api/v1/auth/reset-password", &json!({"token": token, "new_password": new_password})).await
}

#[track_caller]
fn assert_forgot_reply(response: &TestResponse, message: &str, sent: bool) {
    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert_eq!(response.body["message"], message);
    assert_eq!(response.body["email_sent"], sent);
}

#[track_caller]
fn assert_reset_reply(response: &TestResponse, message: &str, reset: bool) {
    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert_eq!(response.body["message"], message);
    assert_eq!(response.body["password_reset"], reset);
}

/// A Google account (no password) created by its first sign-in; the app has Google configured.
async fn app_with_oauth_user(db: PgPool, email: &str) -> TestApp {
    let jwks = oidc::serve().await;
    let app = oidc::app(db, &oidc::google_vars(&jwks));
    let token = oidc::google_token(&jwks, "google_123", email, &[]);
    assert_eq!(oidc::login(&app, "google", &token).await.status, StatusCode::OK);
    app
}

/// A verified account where no mail can arrive: registered through the API, then marked
/// verified in the database (the link never reaches anyone).
async fn verified_without_mail(app: &TestApp) {
    assert_eq!(app.register(EMAIL, "testuser", OLD_PASSWORD).await.status, StatusCode::CREATED);
    sqlx::query("update users set is_verified = true where email = $1")
        .bind(EMAIL)
        .execute(&app.state.db)
        .await
        .expect("verify");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn forgot_password_success(db: PgPool) {
    let app = TestApp::new(db);
    app.verified_user(EMAIL, "testuser", OLD_PASSWORD).await;

    let response = forgot(&app, EMAIL).await;

    assert_forgot_reply(&response, GENERIC, true);
    assert!(app.mails_to(EMAIL).last().expect("mail").contains("/reset-password?token="));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn forgot_password_user_not_found(db: PgPool) {
    let app = TestApp::new(db);

    let response = forgot(&app, "nonexistent@example.com").await;

    assert_forgot_reply(&response, GENERIC, true);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn forgot_password_oauth_user(db: PgPool) {
    let app = app_with_oauth_user(db, "oauth@example.com").await;

    let response = forgot(&app, "oauth@example.com").await;

    assert_forgot_reply(&response, GENERIC, true);
    assert!(app.mails_to("oauth@example.com").is_empty(), "no link for an account without a password");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn forgot_password_email_not_configured(db: PgPool) {
    // Differs from the seed: README row "resend, forgot, reset, request and confirm deletion, when mail is not configured or a send fails"
    // Mail that cannot go out stands in for the template's unconfigured mailer: the link is
    // queued for retries, and the answer is the generic one.
    let app = TestApp::with_failing_mail(db);
    verified_without_mail(&app).await;

    let response = forgot(&app, EMAIL).await;

    assert_forgot_reply(&response, GENERIC, true);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn forgot_password_token_creation_failed(db: PgPool) {
    // Differs from the seed: README row "resend, forgot, reset, request and confirm deletion, when mail is not configured or a send fails"
    // A token cannot fail to be created short of the database failing; the request as such gets
    // the generic answer.
    let app = TestApp::new(db);
    app.verified_user(EMAIL, "testuser", OLD_PASSWORD).await;

    let response = forgot(&app, EMAIL).await;

    assert_forgot_reply(&response, GENERIC, true);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn forgot_password_email_send_failed(db: PgPool) {
    // Differs from the seed: README row "resend, forgot, reset, request and confirm deletion, when mail is not configured or a send fails"
    // Every send fails: the mail stays queued for retries, and the answer is the generic one.
    let app = TestApp::with_failing_mail(db);
    verified_without_mail(&app).await;

    let response = forgot(&app, EMAIL).await;

    assert_forgot_reply(&response, GENERIC, true);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn reset_password_success(db: PgPool) {
    let app = TestApp::new(db);
    app.verified_user(EMAIL, "testuser", OLD_PASSWORD).await;
    forgot(&app, EMAIL).await;
    let token = app.last_mailed_token(EMAIL);

    let response = reset(&app, &token, NEW_PASSWORD).await;

    assert_reset_reply(&response, "Password reset successfully. You can now log in with your new password.", true);
    assert_eq!(app.login(EMAIL, OLD_PASSWORD).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.login(EMAIL, NEW_PASSWORD).await.status, StatusCode::OK);
    // The token was cleared: it does not work twice.
    assert_reset_reply(&reset(&app, &token, "AnotherPassword123!").await, INVALID_TOKEN, false);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn reset_password_invalid_token(db: PgPool) {
    let app = TestApp::new(db);

    let response = reset(&app, "invalid_token", NEW_PASSWORD).await;

    assert_reset_reply(&response, INVALID_TOKEN, false);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn reset_password_expired_token(db: PgPool) {
    let app = TestApp::new(db.clone());
    app.verified_user(EMAIL, "testuser", OLD_PASSWORD).await;
    forgot(&app, EMAIL).await;
    let token = app.last_mailed_token(EMAIL);
    sqlx::query("update one_time_tokens set expires_at = now() - interval '1 hour' where purpose = 'reset_password'")
        .execute(&db)
        .await
        .expect("expire");

    let response = reset(&app, &token, NEW_PASSWORD).await;

    assert_reset_reply(&response, INVALID_TOKEN, false);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn reset_password_oauth_user(db: PgPool) {
    let app = app_with_oauth_user(db.clone(), "oauth@example.com").await;
    let user = app.user_id("oauth@example.com").await;
    // A live reset token for the account without a password (no route issues one).
    let token = shared::security::tokens::issue().expect("token");
    sqlx::query(
        "insert into one_time_tokens (token_hash, user_id, purpose, expires_at)
         values ($1, $2, 'reset_password', now() + interval '1 hour')",
    )
    .bind(token.hash.to_vec())
    .bind(user)
    .execute(&db)
    .await
    .expect("token");

    let response = reset(&app, &token.secret, NEW_PASSWORD).await;

    assert_reset_reply(&response, INVALID_TOKEN, false);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn reset_password_email_not_configured(db: PgPool) {
    // Differs from the seed: README row "resend, forgot, reset, request and confirm deletion, when mail is not configured or a send fails"
    // Mail that cannot go out stands in for the template's unconfigured mailer: resetting needs
    // no mail, so the token alone decides.
    let app = TestApp::with_failing_mail(db);

    let response = reset(&app, "valid_token", NEW_PASSWORD).await;

    assert_reset_reply(&response, INVALID_TOKEN, false);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn reset_password_user_not_found(db: PgPool) {
    let app = TestApp::new(db.clone());
    app.verified_user(EMAIL, "testuser", OLD_PASSWORD).await;
    forgot(&app, EMAIL).await;
    let token = app.last_mailed_token(EMAIL);
    sqlx::query("delete from users where email = $1").bind(EMAIL).execute(&db).await.expect("delete");

    let response = reset(&app, &token, NEW_PASSWORD).await;

    assert_reset_reply(&response, INVALID_TOKEN, false);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn reset_password_weak_password(db: PgPool) {
    let app = TestApp::new(db);

    let response = reset(&app, "valid_token", "weak").await;

    assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{response:?}");
    assert!(response.text.contains("new_password"), "{response:?}");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn reset_password_invalid_email_format(db: PgPool) {
    let app = TestApp::new(db);

    let response = forgot(&app, "invalid-email").await;

    assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{response:?}");
    assert!(response.text.contains("email"), "{response:?}");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn full_password_reset_flow(db: PgPool) {
    let app = TestApp::new(db);
    app.verified_user(EMAIL, "testuser", OLD_PASSWORD).await;

    let requested = forgot(&app, EMAIL).await;
    assert_eq!(requested.status, StatusCode::OK);
    assert_eq!(requested.body["email_sent"], true);
    let token = app.last_mailed_token(EMAIL);

    let reset = reset(&app, &token, NEW_PASSWORD).await;
    assert_eq!(reset.status, StatusCode::OK);
    assert_eq!(reset.body["password_reset"], true);

    assert_eq!(app.login(EMAIL, OLD_PASSWORD).await.status, StatusCode::UNAUTHORIZED);
    let login = app.login(EMAIL, NEW_PASSWORD).await;
    assert_eq!(login.status, StatusCode::OK, "{login:?}");
    assert!(login.body.get("access_token").is_some());
    assert_eq!(login.body["token_type"], Value::from("bearer"));
}
