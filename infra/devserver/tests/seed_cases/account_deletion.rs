//! The template's `test_auth_account_deletion.py`: request, confirm and cancel a deletion, its
//! status, the deletion routes' rate limits, and the purge task's route. The confirmation token
//! is the one mailed to the user.

use http::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::*;

const EMAIL: &str = "test@example.com";
const PASSWORD: &str = "TestPassword123!";
const GENERIC: &str = "If an account with that email exists, a deletion confirmation link has been sent.";

async fn request_deletion(app: &TestApp, email: &str) -> TestResponse {
    app.post_json("/api/v1/auth/request-deletion", &json!({"email": email})).await
}

async fn confirm_deletion(app: &TestApp, token: &str) -> TestResponse {
    app.post_json("/api/v1/auth/confirm-deletion", &json!({"token": token})).await
}

async fn status(app: &TestApp, access: &str) -> TestResponse {
    app.get_as(access, "/api/v1/auth/deletion-status").await
}

/// `(deletion_requested_at, deletion_scheduled_for)` are set, and the account still exists.
async fn deletion_columns(app: &TestApp) -> (bool, bool) {
    sqlx::query_as(
        "select deletion_requested_at is not null, deletion_scheduled_for is not null from users where email = $1",
    )
    .bind(EMAIL)
    .fetch_one(&app.state.db)
    .await
    .expect("the account still exists")
}

#[track_caller]
fn assert_status(response: &TestResponse, requested: bool, confirmed: bool, scheduled: bool, can_cancel: bool) {
    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert_eq!(response.body["deletion_requested"], requested, "{response:?}");
    assert_eq!(response.body["deletion_confirmed"], confirmed, "{response:?}");
    assert_eq!(!response.body["deletion_scheduled_for"].is_null(), scheduled, "{response:?}");
    assert_eq!(response.body["can_cancel"], can_cancel, "{response:?}");
    assert_eq!(response.body["grace_period_days"], 7);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn request_deletion_success(db: PgPool) {
    let app = TestApp::new(db);
    app.verified_user(EMAIL, "testuser", PASSWORD).await;

    let response = request_deletion(&app, EMAIL).await;

    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert_eq!(response.body["message"], GENERIC);
    assert_eq!(response.body["email_sent"], true);
    assert_eq!(deletion_columns(&app).await, (true, false), "requested, not yet scheduled");
    let live_tokens: i64 = sqlx::query_scalar(
        "select count(*) from one_time_tokens
         where purpose = 'confirm_deletion' and used_at is null and expires_at > now()",
    )
    .fetch_one(&app.state.db)
    .await
    .expect("tokens");
    assert_eq!(live_tokens, 1);
    assert!(app.mails_to(EMAIL).last().expect("mail").contains("/confirm-deletion?token="));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn request_deletion_nonexistent_user(db: PgPool) {
    let app = TestApp::new(db);

    let response = request_deletion(&app, "nonexistent@example.com").await;

    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert_eq!(response.body["message"], GENERIC);
    assert_eq!(response.body["email_sent"], true);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn request_deletion_already_requested(db: PgPool) {
    let app = TestApp::new(db);
    app.verified_user(EMAIL, "testuser", PASSWORD).await;
    assert_eq!(request_deletion(&app, EMAIL).await.status, StatusCode::OK);

    let response = request_deletion(&app, EMAIL).await;

    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert_eq!(response.body["message"], GENERIC);
    assert_eq!(response.body["email_sent"], true);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn request_deletion_email_not_configured(db: PgPool) {
    // Differs from the seed: README row "resend, forgot, reset, request and confirm deletion, when mail is not configured or a send fails"
    // Mail that cannot go out stands in for the template's unconfigured mailer: the request is
    // recorded, the link queued for retries, and the answer is the generic one.
    let app = TestApp::with_failing_mail(db);
    assert_eq!(app.register(EMAIL, "testuser", PASSWORD).await.status, StatusCode::CREATED);

    let response = request_deletion(&app, EMAIL).await;

    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert_eq!(response.body["message"], GENERIC);
    assert_eq!(response.body["email_sent"], true);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn confirm_deletion_success(db: PgPool) {
    let app = TestApp::new(db);
    app.verified_user(EMAIL, "testuser", PASSWORD).await;
    request_deletion(&app, EMAIL).await;
    let token = app.last_mailed_token(EMAIL);

    let response = confirm_deletion(&app, &token).await;

    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert!(response.body["message"].as_str().expect("message").contains("Account deletion confirmed"));
    assert_eq!(response.body["deletion_confirmed"], true);
    assert!(!response.body["deletion_scheduled_for"].is_null());
    assert_eq!(deletion_columns(&app).await, (true, true), "scheduled, and not deleted yet");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn confirm_deletion_invalid_token(db: PgPool) {
    let app = TestApp::new(db);

    let response = confirm_deletion(&app, "invalid_token").await;

    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert_eq!(response.body["message"], "Invalid or expired deletion token. Please request a new one.");
    assert_eq!(response.body["deletion_confirmed"], false);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn confirm_deletion_email_not_configured(db: PgPool) {
    // Differs from the seed: README row "resend, forgot, reset, request and confirm deletion, when mail is not configured or a send fails"
    // Mail that cannot go out stands in for the template's unconfigured mailer: confirming needs
    // no mail, so the token alone decides.
    let app = TestApp::with_failing_mail(db);

    let response = confirm_deletion(&app, "some_token").await;

    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert_eq!(response.body["message"], "Invalid or expired deletion token. Please request a new one.");
    assert_eq!(response.body["deletion_confirmed"], false);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn cancel_deletion_success(db: PgPool) {
    let app = TestApp::new(db);
    let session = app.signed_in(EMAIL, "testuser", PASSWORD).await;
    request_deletion(&app, EMAIL).await;
    confirm_deletion(&app, &app.last_mailed_token(EMAIL)).await;

    // Differs from the seed: README row "POST /auth/cancel-deletion, GET /auth/deletion-status"
    let response = app.call("POST", "/api/v1/auth/cancel-deletion", Some(&session.access), None).await;

    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    let message = response.body["message"].as_str().expect("message");
    assert!(message.contains("Account deletion") && message.contains("cancelled"), "{message}");
    assert_eq!(response.body["deletion_cancelled"], true);
    assert_eq!(deletion_columns(&app).await, (false, false), "every deletion field cleared");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn cancel_deletion_nonexistent_user(db: PgPool) {
    let app = TestApp::new(db);

    // Differs from the seed: README row "POST /auth/cancel-deletion, GET /auth/deletion-status"
    // (the caller's own account: an unknown address cannot be named, and no token is a 401)
    let response = app.post_json("/api/v1/auth/cancel-deletion", &json!({"email": "nonexistent@example.com"})).await;

    assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{response:?}");
    assert_eq!(response.body["detail"], "Not authenticated");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn cancel_deletion_no_pending_deletion(db: PgPool) {
    let app = TestApp::new(db);
    let session = app.signed_in(EMAIL, "testuser", PASSWORD).await;

    let response = app.call("POST", "/api/v1/auth/cancel-deletion", Some(&session.access), None).await;

    // Differs from the seed: README row "POST /auth/cancel-deletion, GET /auth/deletion-status"
    // (the caller is known, so the answer says that nothing was pending)
    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert_eq!(response.body["message"], "There is no pending account deletion to cancel.");
    assert_eq!(response.body["deletion_cancelled"], false);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn deletion_status_not_requested(db: PgPool) {
    let app = TestApp::new(db);
    let session = app.signed_in(EMAIL, "testuser", PASSWORD).await;

    // Differs from the seed: README row "POST /auth/cancel-deletion, GET /auth/deletion-status"
    let response = status(&app, &session.access).await;

    assert_status(&response, false, false, false, false);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn deletion_status_requested(db: PgPool) {
    let app = TestApp::new(db);
    let session = app.signed_in(EMAIL, "testuser", PASSWORD).await;
    request_deletion(&app, EMAIL).await;

    // Differs from the seed: README row "POST /auth/cancel-deletion, GET /auth/deletion-status"
    let response = status(&app, &session.access).await;

    assert_status(&response, true, false, false, true);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn deletion_status_confirmed(db: PgPool) {
    let app = TestApp::new(db);
    let session = app.signed_in(EMAIL, "testuser", PASSWORD).await;
    request_deletion(&app, EMAIL).await;
    confirm_deletion(&app, &app.last_mailed_token(EMAIL)).await;

    // Differs from the seed: README row "POST /auth/cancel-deletion, GET /auth/deletion-status"
    let response = status(&app, &session.access).await;

    assert_status(&response, true, true, true, true);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn deletion_status_user_not_found(db: PgPool) {
    let app = TestApp::new(db);

    // Differs from the seed: README row "POST /auth/cancel-deletion, GET /auth/deletion-status"
    // (the caller's own account: an unknown address cannot be named, and no token is a 401)
    let response = app.get("/api/v1/auth/deletion-status?email=nonexistent@example.com").await;

    assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{response:?}");
    assert_eq!(response.body["detail"], "Not authenticated");
}

/// Sends `request` four times; the last answer.
async fn fourth<F, Fut>(request: F) -> TestResponse
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = TestResponse>,
{
    let mut last = None;
    for _ in 0..4 {
        last = Some(request().await);
    }
    last.expect("four answers")
}

#[track_caller]
fn assert_too_many_requests(response: &TestResponse) {
    assert_eq!(response.status, StatusCode::TOO_MANY_REQUESTS, "{response:?}");
    assert!(response.body["detail"].as_str().expect("detail").contains("Too many requests"), "{response:?}");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn request_deletion_rate_limited(db: PgPool) {
    let app = TestApp::with(db, &[("RATE_LIMIT_ENABLED", "true")]);
    app.verified_user("rate@example.com", "rate", PASSWORD).await;

    let response = fourth(|| request_deletion(&app, "rate@example.com")).await;

    assert_too_many_requests(&response);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn confirm_deletion_rate_limited(db: PgPool) {
    let app = TestApp::with(db, &[("RATE_LIMIT_ENABLED", "true")]);

    let response = fourth(|| confirm_deletion(&app, "some_token")).await;

    assert_too_many_requests(&response);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn cancel_deletion_rate_limited(db: PgPool) {
    let app = TestApp::with(db, &[("RATE_LIMIT_ENABLED", "true")]);
    let body = json!({"email": "rate@example.com"});

    let response = fourth(|| app.post_json("/api/v1/auth/cancel-deletion", &body)).await;

    // Differs from the seed: README row "POST /auth/cancel-deletion, GET /auth/deletion-status"
    // (cancelling takes the caller's Bearer token, so a request naming an address is a 401; a
    // signed-in caller gets the ordinary per-client limit)
    assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{response:?}");
    assert_eq!(response.body["detail"], "Not authenticated");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn permanently_delete_accounts_task_endpoint(db: PgPool) {
    let app = TestApp::new(db);
    // Differs from the seed: README row "/api/v1/celery/*, /api/v1/tasks/*"
    let admin = app.superuser().await;

    let response = app.call("POST", "/api/v1/celery/tasks/permanently-delete-accounts", Some(&admin), None).await;

    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert_eq!(response.body["message"], "Permanent account deletion task submitted successfully");
    assert!(matches!(response.body["task_id"], Value::String(_)), "{response:?}");
}
