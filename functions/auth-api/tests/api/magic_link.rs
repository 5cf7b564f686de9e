//! Passwordless sign-in: a mailed link or 6-digit code, against a real Postgres.

use std::time::{Duration, Instant};

use http::{Request, StatusCode, header};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::*;

const JANE: &str = "jane@example.com";

async fn ask(app: &TestApp, email: &str) -> TestResponse {
    app.post_json("/api/v1/auth/magic-link", &json!({"email": email})).await
}

async fn verify(app: &TestApp, body: &Value) -> TestResponse {
    app.post_json("/api/v1/auth/magic-link/verify", body).await
}

/// The code of the newest sign-in mail to `to`.
fn last_code(app: &TestApp, to: &str) -> String {
    let mails = app.mails_to(to);
    let mail = mails.last().expect("a sign-in mail");
    mail.lines()
        .map(str::trim)
        .find(|line| line.len() == 6 && line.bytes().all(|byte| byte.is_ascii_digit()))
        .expect("a code")
        .to_owned()
}

/// A code that is not `code`.
fn other_than(code: &str) -> String {
    let number: u32 = code.parse().expect("digits");
    format!("{:06}", (number + 1) % 1_000_000)
}

fn session_count_sql() -> &'static str {
    "select count(*) from sessions s join users u on u.id = s.user_id where u.email = $1"
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_link_signs_in_once_like_a_login(db: PgPool) {
    let app = TestApp::new(db.clone());
    app.signed_in_user(JANE, "jane").await;

    let asked = ask(&app, "JANE@example.com").await;

    assert_eq!(asked.status, StatusCode::OK);
    assert_eq!(
        asked.body,
        json!({"message": "If an account with that email exists, a sign-in link and code have been sent.", "email_sent": true})
    );
    let mail = app.mails_to(JANE).pop().expect("mail");
    assert!(mail.contains("Subject: Your sign-in link"), "{mail}");
    assert!(mail.contains("http://localhost:3000/magic-link?token="), "{mail}");
    let token = app.last_mailed_token(JANE);

    let signed_in = verify(&app, &json!({"token": token})).await;
    let again = verify(&app, &json!({"token": token})).await;

    assert_eq!(signed_in.status, StatusCode::OK, "{:?}", signed_in.body);
    assert_eq!(signed_in.body["token_type"], "bearer");
    assert!(signed_in.body["expires_in"].as_i64().expect("expires_in") > 0);
    assert!(signed_in.refresh_cookie().is_some(), "the refresh cookie, as at login");
    let access = signed_in.body["access_token"].as_str().expect("token");
    assert_eq!(app.get_me(access).await.body["email"], JANE);
    let sessions = app.get_as(access, "/api/v1/auth/sessions").await;
    assert!(sessions.body["sessions"][0]["device_info"].is_string(), "{:?}", sessions.body);
    assert_eq!((again.status, &again.body["code"]), (StatusCode::UNAUTHORIZED, &json!("invalid_magic_link")));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_code_signs_in_and_verifies_an_unverified_address(db: PgPool) {
    let app = TestApp::new(db.clone());
    assert_eq!(app.register(JANE, "jane").await.status, StatusCode::CREATED);
    ask(&app, JANE).await;
    let code = last_code(&app, JANE);

    let signed_in = verify(&app, &json!({"email": " Jane@Example.com", "code": code})).await;

    assert_eq!(signed_in.status, StatusCode::OK, "{:?}", signed_in.body);
    let me = app.get_me(signed_in.body["access_token"].as_str().expect("token")).await;
    assert_eq!(me.body["is_verified"], true);
    assert_eq!(app.login(JANE, PASSWORD).await.status, StatusCode::OK, "the password still works too");
    let again = verify(&app, &json!({"email": JANE, "code": code})).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_fifth_wrong_code_voids_the_request(db: PgPool) {
    let app = TestApp::new(db);
    app.signed_in_user(JANE, "jane").await;
    ask(&app, JANE).await;
    let code = last_code(&app, JANE);
    let token = app.last_mailed_token(JANE);

    for attempt in 0..5 {
        let wrong = verify(&app, &json!({"email": JANE, "code": other_than(&code)})).await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
        assert_eq!(wrong.body["code"], "invalid_magic_link");
    }

    assert_eq!(verify(&app, &json!({"email": JANE, "code": code})).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(verify(&app, &json!({"token": token})).await.status, StatusCode::UNAUTHORIZED, "the link too");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn four_wrong_codes_still_leave_the_right_one_working(db: PgPool) {
    let app = TestApp::new(db);
    app.signed_in_user(JANE, "jane").await;
    ask(&app, JANE).await;
    let code = last_code(&app, JANE);
    for _ in 0..4 {
        verify(&app, &json!({"email": JANE, "code": other_than(&code)})).await;
    }
    assert_eq!(verify(&app, &json!({"email": JANE, "code": code})).await.status, StatusCode::OK);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_newer_request_voids_the_older_link_and_code(db: PgPool) {
    let app = TestApp::new(db);
    app.signed_in_user(JANE, "jane").await;
    ask(&app, JANE).await;
    let (old_token, old_code) = (app.last_mailed_token(JANE), last_code(&app, JANE));
    ask(&app, JANE).await;
    let new_code = last_code(&app, JANE);

    assert_eq!(verify(&app, &json!({"token": old_token})).await.status, StatusCode::UNAUTHORIZED);
    if old_code != new_code {
        assert_eq!(verify(&app, &json!({"email": JANE, "code": old_code})).await.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(verify(&app, &json!({"email": JANE, "code": new_code})).await.status, StatusCode::OK);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn unknown_and_known_addresses_get_the_same_answer_in_the_same_time(db: PgPool) {
    let app = TestApp::new(db);
    app.signed_in_user(JANE, "jane").await;

    let mut answers = Vec::new();
    for email in [JANE, "nobody@example.com"] {
        let started = Instant::now();
        let asked = ask(&app, email).await;
        let took_asking = started.elapsed();
        let started = Instant::now();
        let checked = verify(&app, &json!({"email": email, "code": "000000"})).await;
        let took_checking = started.elapsed();
        assert!(took_asking >= Duration::from_millis(250) && took_checking >= Duration::from_millis(250));
        answers.push((asked.status, asked.body, checked.status, checked.body));
    }
    assert_eq!(answers[0], answers[1]);
    assert!(app.mails_to("nobody@example.com").is_empty());
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn two_simultaneous_uses_of_one_link_or_code_sign_in_once(db: PgPool) {
    let app = TestApp::new(db.clone());
    app.signed_in_user(JANE, "jane").await;
    for round in 0..5 {
        ask(&app, JANE).await;
        let (token, code) = (app.last_mailed_token(JANE), last_code(&app, JANE));
        let by_link = json!({"token": token});
        let by_code = json!({"email": JANE, "code": code});
        let (one, two) = match round % 2 {
            0 => tokio::join!(verify(&app, &by_link), verify(&app, &by_link)),
            _ => tokio::join!(verify(&app, &by_code), verify(&app, &by_link)),
        };
        let mut statuses = [one.status, two.status];
        statuses.sort();
        assert_eq!(statuses, [StatusCode::OK, StatusCode::UNAUTHORIZED], "round {round}");
    }
    let sessions: i64 = sqlx::query_scalar(session_count_sql()).bind(JANE).fetch_one(&db).await.expect("count");
    assert_eq!(sessions, 1 + 5, "the first login and one per round (evicted ones included)");
    eprintln!("races run: 5 double uses of one sign-in link or code");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_deactivated_account_gets_no_mail_and_its_pending_link_dies(db: PgPool) {
    let app = TestApp::new(db);
    let boss = app.signed_in_superuser("boss@example.com", "boss").await;
    app.signed_in_user(JANE, "jane").await;
    ask(&app, JANE).await;
    let token = app.last_mailed_token(JANE);
    let mails = app.mails_to(JANE).len();

    assert_eq!(
        app.patch_user(&boss, app.user_id(JANE).await, &json!({"is_active": false})).await.status,
        StatusCode::OK
    );

    assert_eq!(verify(&app, &json!({"token": token})).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(ask(&app, JANE).await.status, StatusCode::OK);
    assert_eq!(app.mails_to(JANE).len(), mails, "nothing mailed to a deactivated account");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_password_change_voids_a_pending_link(db: PgPool) {
    let app = TestApp::new(db);
    let access = app.signed_in_user(JANE, "jane").await;
    ask(&app, JANE).await;
    let token = app.last_mailed_token(JANE);
    let body = json!({"current_password": PASSWORD, "new_password": "Brand-New-Passw0rd!"});
    assert_eq!(
        app.call("POST", "/api/v1/auth/change-password", Some(&access), Some(&body)).await.status,
        StatusCode::OK
    );

    assert_eq!(verify(&app, &json!({"token": token})).await.status, StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn bad_bodies_are_422_and_bad_tokens_401(db: PgPool) {
    let app = TestApp::new(db);
    let empty = verify(&app, &json!({})).await;
    let email_only = verify(&app, &json!({"email": JANE})).await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&Value> = empty.body["detail"].as_array().expect("list").iter().map(|e| &e["loc"][1]).collect();
    assert_eq!(fields, [&json!("token"), &json!("email"), &json!("code")]);
    assert_eq!(email_only.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(ask(&app, "not-an-address").await.status, StatusCode::UNPROCESSABLE_ENTITY);
    for token in ["", "short", &"x".repeat(43), &"z".repeat(10_000)] {
        assert_eq!(verify(&app, &json!({"token": token})).await.status, StatusCode::UNAUTHORIZED);
    }
    for code in ["", "12345", "1234567", "abcdef"] {
        assert_eq!(verify(&app, &json!({"email": JANE, "code": code})).await.status, StatusCode::UNAUTHORIZED);
    }
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn another_sites_page_cannot_sign_its_visitor_in(db: PgPool) {
    let app = TestApp::new(db);
    app.signed_in_user(JANE, "jane").await;
    ask(&app, JANE).await;
    let request = Request::post("/api/v1/auth/magic-link/verify")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ORIGIN, "https://evil.example")
        .body(axum::body::Body::from(json!({"token": app.last_mailed_token(JANE)}).to_string()))
        .expect("request");
    let response = app.send(request).await;
    assert_eq!((response.status, &response.body["code"]), (StatusCode::FORBIDDEN, &json!("cross_site_request")));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn switched_off_both_routes_are_404(db: PgPool) {
    let app = TestApp::with(db, &[("MAGIC_LINK_ENABLED", "false")]);
    app.signed_in_user(JANE, "jane").await;
    let asked = ask(&app, JANE).await;
    assert_eq!((asked.status, &asked.body["code"]), (StatusCode::NOT_FOUND, &json!("not_found")));
    assert_eq!(verify(&app, &json!({"token": "x".repeat(43)})).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.mails_to(JANE).len(), 1, "only the verification mail");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn sign_ins_are_audited_and_codes_stored_only_as_digests(db: PgPool) {
    let app = TestApp::new(db.clone());
    app.signed_in_user(JANE, "jane").await;
    ask(&app, JANE).await;
    let code = last_code(&app, JANE);
    verify(&app, &json!({"email": JANE, "code": other_than(&code)})).await;
    verify(&app, &json!({"email": JANE, "code": code})).await;

    let events: Vec<(String, bool)> =
        sqlx::query_as("select event, success from audit_log where event = 'magic_link_login' order by id")
            .fetch_all(&db)
            .await
            .expect("events");
    assert_eq!(events, [("magic_link_login".into(), false), ("magic_link_login".into(), true)]);
    let stored: Vec<u8> = sqlx::query_scalar("select code_digest from one_time_tokens where purpose = 'magic_link'")
        .fetch_one(&db)
        .await
        .expect("digest");
    assert_eq!(stored.len(), 32);
    assert!(!stored.windows(6).any(|window| window == code.as_bytes()));
}
