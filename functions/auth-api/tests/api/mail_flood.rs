//! Unsolicited mail has a budget per recipient, whichever client asks: a flood spread over many
//! client addresses (each under its own rate limit) fills nobody's mailbox, and the answers do
//! not change when the budget is spent. Login back-off counters of accounts and of unknown
//! addresses age alike.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use http::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::*;

/// Requests per kind, each from its own client address.
const FLOOD: usize = 6;

/// `POST path body` from client `198.51.100.{client}`.
async fn from_client(app: &TestApp, client: usize, path: &str, body: &Value) -> (StatusCode, Value) {
    let mut request = json_request("POST", path, body);
    let peer: SocketAddr = format!("198.51.100.{client}:40000").parse().expect("address");
    request.extensions_mut().insert(ConnectInfo(peer));
    let response = app.send(request).await;
    (response.status, response.body)
}

fn mails_with_subject(app: &TestApp, to: &str, subject: &str) -> usize {
    app.mails_to(to).iter().filter(|mail| mail.contains(&format!("Subject: {subject}\r\n"))).count()
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn one_address_gets_at_most_three_unsolicited_mails_of_a_kind_an_hour(db: PgPool) {
    let app = TestApp::with(db, &[("RATE_LIMIT_ENABLED", "true")]);
    app.signed_in_user("jane@example.com", "jane").await;
    // An unverified account, for resend-verification.
    let joe = json!({"email": "joe@example.com", "username": "joe", "password": PASSWORD});
    assert_eq!(from_client(&app, 200, "/api/v1/auth/register", &joe).await.0, StatusCode::CREATED);

    let floods = [
        (
            "/api/v1/auth/forgot-password",
            json!({"email": "jane@example.com"}),
            "jane@example.com",
            "Reset your password",
        ),
        (
            "/api/v1/auth/request-deletion",
            json!({"email": "jane@example.com"}),
            "jane@example.com",
            "Confirm the deletion of your account",
        ),
        (
            "/api/v1/auth/resend-verification",
            json!({"email": "joe@example.com"}),
            "joe@example.com",
            "Verify your email address",
        ),
    ];
    for (path, body, to, subject) in floods {
        let mut answers = Vec::new();
        for client in 1..=FLOOD {
            answers.push(from_client(&app, client, path, &body).await);
        }
        assert!(answers.iter().all(|answer| *answer == answers[0]), "{path}: the answer changed: {answers:?}");
        assert_eq!(answers[0].0, StatusCode::OK, "{path}");
        // (joe's registration link was the first of his three verification mails.)
        assert_eq!(mails_with_subject(&app, to, subject), 3, "{path}: {FLOOD} requests from {FLOOD} clients");
    }

    // Registering a taken address mails its owner a notice, within the same budget.
    let mut answers = Vec::new();
    for client in 1..=FLOOD {
        let body = json!({"email": "jane@example.com", "username": format!("squatter{client}"), "password": PASSWORD});
        let (status, mut body) = from_client(&app, client, "/api/v1/auth/register", &body).await;
        body["id"] = json!("…");
        body["created_at"] = json!("…");
        body["date_created"] = json!("…");
        body["username"] = json!("…");
        answers.push((status, body));
    }
    assert!(answers.iter().all(|answer| *answer == answers[0]), "register: the answer changed: {answers:?}");
    assert_eq!(answers[0].0, StatusCode::CREATED);
    assert_eq!(mails_with_subject(&app, "jane@example.com", "Someone tried to register with your email address"), 3);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn without_rate_limits_the_mail_budget_is_off_too(db: PgPool) {
    let app = TestApp::new(db);
    app.signed_in_user("jane@example.com", "jane").await;
    for client in 1..=FLOOD {
        from_client(&app, client, "/api/v1/auth/forgot-password", &json!({"email": "jane@example.com"})).await;
    }
    assert_eq!(mails_with_subject(&app, "jane@example.com", "Reset your password"), FLOOD);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_month_old_failure_count_is_forgotten_alike_for_accounts_and_unknown_addresses(db: PgPool) {
    let app = TestApp::new(db.clone());
    app.signed_in_user("jane@example.com", "jane").await;
    for email in ["jane@example.com", "nobody@example.com"] {
        assert_eq!(app.login(email, "Wrong-Passw0rd!").await.status, StatusCode::UNAUTHORIZED);
    }
    // Both have failed often, the last time 31 days ago.
    for sql in [
        "update users set failed_login_count = 9, locked_until = null, last_login_attempt_at = now() - interval '31 days'",
        "update unknown_email_logins set failed_login_count = 9, locked_until = null, updated_at = now() - interval '31 days'",
    ] {
        sqlx::query(sql).execute(&db).await.expect("age the failures");
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    shared::jobs::ScheduledJob::CleanupExpired.run(&app.state, deadline).await.expect("cleanup");

    let mut answers = Vec::new();
    for email in ["jane@example.com", "nobody@example.com"] {
        let mut statuses = Vec::new();
        for _ in 0..3 {
            statuses.push(app.login(email, "Wrong-Passw0rd!").await.status);
        }
        answers.push(statuses);
    }

    assert_eq!(answers[0], answers[1], "the back-off tells a registered address from an unknown one");
    assert_eq!(answers[0], [StatusCode::UNAUTHORIZED; 3], "a month-old count is forgotten");
}
