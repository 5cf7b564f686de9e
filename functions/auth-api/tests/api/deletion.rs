//! GDPR deletion: request → mail → confirm → status → cancel, the reminder and purge jobs, and
//! what is left of an account after the purge.

use std::time::{Duration, Instant};

use axum::body::Body;
use http::{Request, StatusCode, header};
use serde_json::{Value, json};
use shared::domain::deletion::PURGED_ADDRESS as PURGED;
use shared::jobs::ScheduledJob;
use shared::services::Caller;
use shared::services::tasks::{self, NewTask};
use sqlx::PgPool;

use crate::helpers::*;

const JANE: &str = "jane@example.com";

async fn status(app: &TestApp, access: &str) -> TestResponse {
    app.call("GET", "/api/v1/auth/deletion-status", Some(access), None).await
}

async fn run(app: &TestApp, job: ScheduledJob) -> shared::jobs::Report {
    job.run(&app.state, Instant::now() + Duration::from_secs(60)).await.expect("job runs")
}

fn subjects(app: &TestApp, to: &str) -> Vec<String> {
    app.mails_to(to)
        .iter()
        .filter_map(|mail| mail.lines().find_map(|line| line.strip_prefix("Subject: ")).map(str::to_owned))
        .collect()
}

/// Requests deletion by email and confirms it through the mailed link; returns the confirm answer.
async fn request_and_confirm(app: &TestApp, email: &str) -> TestResponse {
    let requested = app.post_json("/api/v1/auth/request-deletion", &json!({"email": email})).await;
    assert_eq!(requested.status, StatusCode::OK);
    let token = app.last_mailed_token(email);
    app.post_json("/api/v1/auth/confirm-deletion", &json!({"token": token})).await
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_whole_flow_request_mail_confirm_status_cancel(db: PgPool) {
    let app = TestApp::new(db);
    let access = app.signed_in_user(JANE, "jane").await;

    let requested = app.post_json("/api/v1/auth/request-deletion", &json!({"email": "Jane@Example.com"})).await;
    assert_eq!(requested.status, StatusCode::OK);
    assert_eq!(
        requested.body,
        json!({"message": "If an account with that email exists, a deletion confirmation link has been sent.", "email_sent": true})
    );
    let mail = app.mails_to(JANE).pop().expect("confirm mail");
    assert!(mail.contains("Subject: Confirm the deletion of your account"));
    assert!(mail.contains("http://localhost:3000/confirm-deletion?token="));
    let pending = status(&app, &access).await;
    assert_eq!(
        (pending.body["deletion_requested"].clone(), pending.body["deletion_confirmed"].clone()),
        (json!(true), json!(false))
    );

    let token = app.last_mailed_token(JANE);
    let before = chrono::Utc::now();
    let confirmed = app.post_json("/api/v1/auth/confirm-deletion", &json!({"token": token})).await;
    assert_eq!(confirmed.status, StatusCode::OK, "{:?}", confirmed.body);
    assert_eq!(confirmed.body["deletion_confirmed"], true);
    let at: chrono::DateTime<chrono::Utc> =
        confirmed.body["deletion_scheduled_for"].as_str().expect("date").parse().expect("rfc3339");
    let grace = at - before;
    assert!(grace >= chrono::Duration::days(7) && grace < chrono::Duration::days(7) + chrono::Duration::minutes(1));
    let message = confirmed.body["message"].as_str().expect("message");
    assert!(
        message.starts_with("Account deletion confirmed. Your account will be permanently deleted on "),
        "{message}"
    );
    assert!(message.ends_with("You can still log in and cancel the deletion during this time."));
    assert_eq!(subjects(&app, JANE).last().map(String::as_str), Some("Your account is scheduled for deletion"));

    let scheduled = status(&app, &access).await;
    assert_eq!(scheduled.status, StatusCode::OK);
    assert_eq!(
        scheduled.body,
        json!({
            "deletion_requested": true,
            "deletion_confirmed": true,
            "deletion_scheduled_for": confirmed.body["deletion_scheduled_for"],
            "can_cancel": true,
            "grace_period_days": 7
        })
    );
    assert_eq!(
        app.login(JANE, PASSWORD).await.status,
        StatusCode::OK,
        "the user can still sign in during the grace period"
    );

    let cancelled = app.call("POST", "/api/v1/auth/cancel-deletion", Some(&access), None).await;
    assert_eq!(cancelled.status, StatusCode::OK);
    assert_eq!(
        cancelled.body,
        json!({"message": "Account deletion has been cancelled. Your account is safe.", "deletion_cancelled": true})
    );
    assert_eq!(subjects(&app, JANE).last().map(String::as_str), Some("Your account deletion was cancelled"));
    let after = status(&app, &access).await;
    assert_eq!(
        after.body,
        json!({"deletion_requested": false, "deletion_confirmed": false, "deletion_scheduled_for": null, "can_cancel": false, "grace_period_days": 7})
    );
    let again = app.call("POST", "/api/v1/auth/cancel-deletion", Some(&access), None).await;
    assert_eq!(again.body["deletion_cancelled"], false);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn request_deletion_gives_one_answer_for_known_and_unknown_addresses(db: PgPool) {
    let app = TestApp::new(db);
    app.signed_in_user(JANE, "jane").await;
    let mails_before = app.mails_to(JANE).len();

    let known = app.post_json("/api/v1/auth/request-deletion", &json!({"email": JANE})).await;
    let unknown = app.post_json("/api/v1/auth/request-deletion", &json!({"email": "nobody@example.com"})).await;
    let malformed = app.post_json("/api/v1/auth/request-deletion", &json!({"email": "not-an-email"})).await;
    let empty = app.post_json("/api/v1/auth/request-deletion", &json!({})).await;

    assert_eq!((known.status, unknown.status), (StatusCode::OK, StatusCode::OK));
    assert_eq!(known.body, unknown.body);
    assert_eq!(app.mails_to(JANE).len(), mails_before + 1);
    assert!(app.mails_to("nobody@example.com").is_empty());
    assert_eq!(malformed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(empty.body["detail"][0]["loc"], json!(["body", "email"]));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_signed_in_user_can_request_deletion_without_an_email(db: PgPool) {
    let app = TestApp::new(db);
    let access = app.signed_in_user(JANE, "jane").await;
    app.signed_in_user("other@example.com", "other").await;

    let response = app.call("POST", "/api/v1/auth/request-deletion", Some(&access), Some(&json!({}))).await;
    // With a token, the caller's own account is meant, whatever address the body names.
    let named_other = app
        .call("POST", "/api/v1/auth/request-deletion", Some(&access), Some(&json!({"email": "other@example.com"})))
        .await;
    let bad_token =
        app.call("POST", "/api/v1/auth/request-deletion", Some("not-a-token"), Some(&json!({"email": JANE}))).await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(named_other.status, StatusCode::OK);
    assert_eq!(subjects(&app, JANE).iter().filter(|s| s.contains("Confirm the deletion")).count(), 2);
    assert!(!subjects(&app, "other@example.com").iter().any(|s| s.contains("Confirm the deletion")));
    assert_eq!(bad_token.status, StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_confirm_token_works_once_and_not_after_expiry_or_cancel(db: PgPool) {
    let app = TestApp::new(db);
    let access = app.signed_in_user(JANE, "jane").await;
    // The seed answers a bad token with 200, `deletion_confirmed: false` and "now" as the date.
    let refused = |response: &TestResponse| {
        assert_eq!(response.status, StatusCode::OK);
        assert_eq!(response.body["message"], "Invalid or expired deletion token. Please request a new one.");
        assert_eq!(response.body["deletion_confirmed"], false);
        let now = chrono::Utc::now();
        let at: chrono::DateTime<chrono::Utc> =
            response.body["deletion_scheduled_for"].as_str().expect("date").parse().expect("RFC 3339");
        assert!((now - at).num_seconds().abs() < 60, "{at} is now");
    };

    let first = request_and_confirm(&app, JANE).await;
    assert_eq!(first.status, StatusCode::OK);
    let token = app
        .mails_to(JANE)
        .iter()
        .rev()
        .find(|m| m.contains("confirm-deletion?token="))
        .map(|m| token_in(m))
        .expect("link");
    let reused = app.post_json("/api/v1/auth/confirm-deletion", &json!({"token": token})).await;
    refused(&reused);

    app.call("POST", "/api/v1/auth/cancel-deletion", Some(&access), None).await;
    app.post_json("/api/v1/auth/request-deletion", &json!({"email": JANE})).await;
    let expiring = app.last_mailed_token(JANE);
    sqlx::query("update one_time_tokens set expires_at = now() - interval '1 second' where purpose = 'confirm_deletion' and used_at is null")
        .execute(&app.state.db)
        .await
        .expect("expire");
    let expired = app.post_json("/api/v1/auth/confirm-deletion", &json!({"token": expiring})).await;
    refused(&expired);

    app.post_json("/api/v1/auth/request-deletion", &json!({"email": JANE})).await;
    let outstanding = app.last_mailed_token(JANE);
    app.call("POST", "/api/v1/auth/cancel-deletion", Some(&access), None).await;
    let after_cancel = app.post_json("/api/v1/auth/confirm-deletion", &json!({"token": outstanding})).await;
    assert_eq!(after_cancel.body["deletion_confirmed"], false, "cancelling voids the outstanding link");

    let garbage = app.post_json("/api/v1/auth/confirm-deletion", &json!({"token": "x' or '1'='1"})).await;
    refused(&garbage);
    assert_eq!(status(&app, &access).await.body["deletion_confirmed"], false);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn cancel_and_status_need_a_bearer_token(db: PgPool) {
    let app = TestApp::new(db);
    app.signed_in_user(JANE, "jane").await;

    let cancel = app.post_json("/api/v1/auth/cancel-deletion", &json!({"email": JANE})).await;
    let status = app
        .send(Request::get("/api/v1/auth/deletion-status?email=jane@example.com").body(Body::empty()).expect("request"))
        .await;

    assert_eq!(cancel.status, StatusCode::UNAUTHORIZED);
    assert_eq!(status.status, StatusCode::UNAUTHORIZED);
    assert_eq!(cancel.headers[header::WWW_AUTHENTICATE], "Bearer");
}

/// Moves a user's scheduled deletion to `hours` from now.
async fn schedule_in_hours(app: &TestApp, email: &str, hours: i32) {
    sqlx::query("update users set deletion_scheduled_for = now() + make_interval(hours => $2) where email = $1")
        .bind(email)
        .bind(hours)
        .execute(&app.state.db)
        .await
        .expect("reschedule");
}

fn reminders(app: &TestApp, to: &str) -> Vec<String> {
    subjects(app, to).into_iter().filter(|s| s.starts_with("Reminder:")).collect()
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn each_reminder_is_sent_once_across_repeated_runs(db: PgPool) {
    let app = TestApp::new(db);
    app.signed_in_user(JANE, "jane").await;
    assert_eq!(request_and_confirm(&app, JANE).await.status, StatusCode::OK);

    let early = run(&app, ScheduledJob::DeletionReminders).await;
    assert_eq!(early.count("reminders_queued"), 0, "seven days out, nothing is due");

    schedule_in_hours(&app, JANE, 71).await;
    let first = run(&app, ScheduledJob::DeletionReminders).await;
    let second = run(&app, ScheduledJob::DeletionReminders).await;
    assert_eq!((first.count("reminders_queued"), second.count("reminders_queued")), (1, 0));
    assert_eq!(reminders(&app, JANE), vec!["Reminder: your account will be deleted in 3 day(s)"]);

    schedule_in_hours(&app, JANE, 23).await;
    run(&app, ScheduledJob::DeletionReminders).await;
    run(&app, ScheduledJob::DeletionReminders).await;
    assert_eq!(
        reminders(&app, JANE),
        vec![
            "Reminder: your account will be deleted in 3 day(s)",
            "Reminder: your account will be deleted in 1 day(s)"
        ]
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn concurrent_reminder_runs_send_each_reminder_once(db: PgPool) {
    let app = TestApp::new(db);
    let users: Vec<String> = (0..6).map(|i| format!("user{i}@example.com")).collect();
    for (i, email) in users.iter().enumerate() {
        app.signed_in_user(email, &format!("user{i}")).await;
        assert_eq!(request_and_confirm(&app, email).await.status, StatusCode::OK);
        schedule_in_hours(&app, email, 60).await;
    }

    let (a, b, c) = tokio::join!(
        run(&app, ScheduledJob::DeletionReminders),
        run(&app, ScheduledJob::DeletionReminders),
        run(&app, ScheduledJob::DeletionReminders)
    );

    assert_eq!(a.count("reminders_queued") + b.count("reminders_queued") + c.count("reminders_queued"), 6);
    for email in &users {
        assert_eq!(reminders(&app, email).len(), 1, "{email}");
    }
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_late_run_sends_only_the_most_urgent_reminder(db: PgPool) {
    let app = TestApp::new(db);
    app.signed_in_user(JANE, "jane").await;
    request_and_confirm(&app, JANE).await;
    schedule_in_hours(&app, JANE, 12).await;

    run(&app, ScheduledJob::DeletionReminders).await;
    run(&app, ScheduledJob::DeletionReminders).await;

    assert_eq!(reminders(&app, JANE), vec!["Reminder: your account will be deleted in 1 day(s)"]);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_purge_removes_the_account_and_everything_that_points_to_it(db: PgPool) {
    let app = TestApp::with(db, &[("RATE_LIMIT_ENABLED", "false"), ("DELETION_GRACE_DAYS", "0")]);
    let access = app.signed_in_user(JANE, "jane").await;
    let login = app.login(JANE, PASSWORD).await;
    let cookie =
        login.headers[header::SET_COOKIE].to_str().expect("cookie").split(';').next().expect("pair").to_owned();
    app.signed_in_user("keep@example.com", "keeper").await;
    let jane_id: uuid::Uuid = sqlx::query_scalar("select id from users where email = $1")
        .bind(JANE)
        .fetch_one(&app.state.db)
        .await
        .expect("id");
    sqlx::query("insert into oauth_identities (provider, subject, user_id, email) values ('google', 'g-123', $1, $2)")
        .bind(jane_id)
        .bind(JANE)
        .execute(&app.state.db)
        .await
        .expect("identity");
    // A second factor with its recovery code, a pending sign-in challenge and wrong-code counter.
    sqlx::query(
        "with f as (insert into mfa_factors (user_id, secret_sealed, key_id, activated_at)
                    values ($1, '\\x00', 'default', now()) returning id)
         insert into mfa_recovery_codes (factor_id, code_digest) select id, sha256('code') from f",
    )
    .bind(jane_id)
    .execute(&app.state.db)
    .await
    .expect("factor");
    for insert in [
        "insert into mfa_challenges (token_hash, user_id, amr, expires_at)
         values (sha256('t'), $1, '{pwd}', now() + interval '5 minutes')",
        "insert into mfa_attempts (user_id, failed_login_count) values ($1, 2)",
    ] {
        sqlx::query(insert).bind(jane_id).execute(&app.state.db).await.expect("second-factor state");
    }
    sqlx::query(
        "insert into ws_connections (connection_id, user_id, session_id)
         select 'conn-1', $1, id from sessions where user_id = $1 limit 1",
    )
    .bind(jane_id)
    .execute(&app.state.db)
    .await
    .expect("connection");
    // A sign-in recorded from a real address and browser: personal data the purge must strip.
    sqlx::query(
        "insert into audit_log (event, user_id, ip, user_agent, success, details)
         values ('login', $1, '198.51.100.23', 'JaneBrowser/1.0', true, '{\"session_id\": \"s-1\"}')",
    )
    .bind(jane_id)
    .execute(&app.state.db)
    .await
    .expect("audit row");
    assert_eq!(request_and_confirm(&app, JANE).await.status, StatusCode::OK);

    let report = run(&app, ScheduledJob::PurgeDeletedAccounts).await;
    let again = run(&app, ScheduledJob::PurgeDeletedAccounts).await;

    assert_eq!((report.count("accounts_purged"), again.count("accounts_purged")), (1, 0));
    let db = &app.state.db;
    for (table, column) in [
        ("users", "id"),
        ("sessions", "user_id"),
        ("one_time_tokens", "user_id"),
        ("oauth_identities", "user_id"),
        ("ws_connections", "user_id"),
        ("mfa_factors", "user_id"),
        ("mfa_challenges", "user_id"),
        ("mfa_attempts", "user_id"),
    ] {
        let sql = format!("select count(*) from {table} where {column} = $1");
        let left: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(jane_id).fetch_one(db).await.expect("count");
        assert_eq!(left, 0, "{table}");
    }
    let tokens: i64 = sqlx::query_scalar(
        "select count(*) from refresh_tokens r left join sessions s on s.id = r.session_id where s.id is null",
    )
    .fetch_one(db)
    .await
    .expect("orphans");
    assert_eq!(tokens, 0);
    let recovery_codes: i64 =
        sqlx::query_scalar("select count(*) from mfa_recovery_codes").fetch_one(db).await.expect("codes");
    assert_eq!(recovery_codes, 0, "the factor's recovery codes go with it");
    let mail_rows: i64 = sqlx::query_scalar("select count(*) from outbox where payload->>'to' = $1")
        .bind(JANE)
        .fetch_one(db)
        .await
        .expect("outbox");
    assert_eq!(mail_rows, 0);
    let audit: String =
        sqlx::query_scalar("select coalesce(string_agg(a::text, ' '), '') from audit_log a where user_id is null")
            .fetch_one(db)
            .await
            .expect("audit");
    assert!(audit.contains("account_purged"));
    for personal in [JANE, "jane", &jane_id.to_string(), "198.51.100.23", "JaneBrowser", "s-1"] {
        assert!(!audit.contains(personal), "audit rows keep no {personal:?}: {audit}");
    }
    let keeper: i64 = sqlx::query_scalar("select count(*) from users where email = 'keep@example.com'")
        .fetch_one(db)
        .await
        .expect("keeper");
    assert_eq!(keeper, 1, "accounts without a due deletion stay");

    assert_eq!(app.get_me(&access).await.status, StatusCode::UNAUTHORIZED);
    let refresh = app
        .send(
            Request::post("/api/v1/auth/refresh").header(header::COOKIE, cookie).body(Body::empty()).expect("request"),
        )
        .await;
    assert_eq!(refresh.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.login(JANE, PASSWORD).await.status, StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn concurrent_purges_delete_each_account_once(db: PgPool) {
    let app = TestApp::with(db, &[("RATE_LIMIT_ENABLED", "false"), ("DELETION_GRACE_DAYS", "0")]);
    for i in 0..4 {
        let email = format!("gone{i}@example.com");
        app.signed_in_user(&email, &format!("gone{i}")).await;
        request_and_confirm(&app, &email).await;
    }

    let (a, b) =
        tokio::join!(run(&app, ScheduledJob::PurgeDeletedAccounts), run(&app, ScheduledJob::PurgeDeletedAccounts));

    assert_eq!(a.count("accounts_purged") + b.count("accounts_purged"), 4);
    let entries: i64 = sqlx::query_scalar("select count(*) from audit_log where event = 'account_purged'")
        .fetch_one(&app.state.db)
        .await
        .expect("audit");
    assert_eq!(entries, 4);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn cleanup_removes_dead_rows_and_the_sweep_delivers_stuck_mail(db: PgPool) {
    let app = TestApp::new(db);
    app.signed_in_user(JANE, "jane").await;
    let db = &app.state.db;
    sqlx::query(
        "update one_time_tokens set expires_at = now() - interval '2 days', created_at = now() - interval '3 days'",
    )
    .execute(db)
    .await
    .expect("age tokens");
    sqlx::query(
        "insert into rate_limits (key, window_start, count) values ('login:1.2.3.4', now() - interval '2 hours', 3)",
    )
    .execute(db)
    .await
    .expect("old window");
    for (digest, idle_days) in [([1u8; 32], 31), ([2u8; 32], 29)] {
        sqlx::query(
            "insert into unknown_email_logins (email_hash, failed_login_count, updated_at)
             values ($1, 3, now() - make_interval(days => $2))",
        )
        .bind(&digest[..])
        .bind(idle_days)
        .execute(db)
        .await
        .expect("back-off of an unknown address");
    }
    for started in ["2 hours", "10 minutes"] {
        sqlx::query(
            "insert into tasks (name, status, started_at) values ('long_running', 'STARTED', now() - $1::interval)",
        )
        .bind(started)
        .execute(db)
        .await
        .expect("a started task");
    }
    sqlx::query("update sessions set revoked_at = now() - interval '8 days', created_at = now() - interval '9 days'")
        .execute(db)
        .await
        .expect("old revocation");
    // A mail whose delivery never happened (the function stopped after commit).
    let stuck =
        shared::mail::Mail { to: JANE.into(), subject: "Stuck".into(), text: "t".into(), html: "<p>t</p>".into() };
    let id = shared::repo::outbox::insert_mail(db, &stuck).await.expect("queue");
    sqlx::query("update outbox set created_at = now() - interval '2 minutes', next_attempt_at = now() where id = $1")
        .bind(id)
        .execute(db)
        .await
        .expect("age");

    let cleanup = run(&app, ScheduledJob::CleanupExpired).await;
    let sweep = run(&app, ScheduledJob::OutboxSweep).await;
    let sweep_again = run(&app, ScheduledJob::OutboxSweep).await;

    assert!(cleanup.count("one_time_tokens_deleted") >= 1, "{cleanup:?}");
    assert_eq!(cleanup.count("rate_limit_windows_deleted"), 1);
    assert_eq!(cleanup.count("unknown_email_logins_deleted"), 1, "only the one idle for over 30 days");
    assert_eq!(cleanup.count("abandoned_tasks_failed"), 1, "only the task started over an hour ago");
    let statuses: Vec<String> =
        sqlx::query_scalar("select status from tasks order by started_at").fetch_all(db).await.expect("tasks");
    assert_eq!(statuses, ["FAILURE", "STARTED"]);
    assert!(cleanup.count("sessions_deleted") >= 1);
    assert!(cleanup.complete);
    assert_eq!((sweep.count("mail_queued"), sweep_again.count("mail_queued")), (1, 0));
    assert_eq!(subjects(&app, JANE).iter().filter(|s| *s == "Stuck").count(), 1);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_only_superuser_cannot_delete_their_account_until_another_exists(db: PgPool) {
    let app = TestApp::new(db);
    let boss = app.signed_in_superuser("boss@example.com", "boss").await;

    let refused = request_and_confirm(&app, "boss@example.com").await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.body["code"], "last_superuser");
    assert_eq!(status(&app, &boss).await.body["deletion_confirmed"], false, "nothing was scheduled");

    app.signed_in_superuser("deputy@example.com", "deputy").await;
    let allowed = request_and_confirm(&app, "boss@example.com").await;
    assert_eq!(allowed.status, StatusCode::OK, "{:?}", allowed.body);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_purge_keeps_a_due_superuser_while_no_other_would_remain(db: PgPool) {
    let app = TestApp::new(db);
    app.signed_in_superuser("boss@example.com", "boss").await;
    // Scheduled behind the API's back (say, the only other superuser was demoted meanwhile).
    sqlx::query(
        "update users set deletion_scheduled_for = now() - interval '1 minute' where email = 'boss@example.com'",
    )
    .execute(&app.state.db)
    .await
    .expect("schedule");

    let report = run(&app, ScheduledJob::PurgeDeletedAccounts).await;

    assert_eq!(report.count("accounts_purged"), 0);
    assert_eq!(app.login("boss@example.com", PASSWORD).await.status, StatusCode::OK);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_purge_removes_the_users_tasks_and_references_in_other_audit_entries(db: PgPool) {
    let app = TestApp::with(db, &[("RATE_LIMIT_ENABLED", "false"), ("DELETION_GRACE_DAYS", "0")]);
    let admin = app.signed_in_superuser("boss@example.com", "boss").await;
    app.signed_in_user(JANE, "jane").await;
    let jane_id = app.user_id(JANE).await;
    assert_eq!(app.patch_user(&admin, jane_id, &json!({"is_verified": false})).await.status, StatusCode::OK);
    assert_eq!(app.patch_user(&admin, jane_id, &json!({"is_verified": true})).await.status, StatusCode::OK);
    sqlx::query(
        "insert into tasks (name, kwargs, created_by) values ('send_email', '{\"to\": \"jane@example.com\"}', $1)",
    )
    .bind(jane_id)
    .execute(&app.state.db)
    .await
    .expect("task");
    assert_eq!(request_and_confirm(&app, JANE).await.status, StatusCode::OK);

    assert_eq!(run(&app, ScheduledJob::PurgeDeletedAccounts).await.count("accounts_purged"), 1);

    let db = &app.state.db;
    let tasks: i64 = sqlx::query_scalar("select count(*) from tasks").fetch_one(db).await.expect("tasks");
    assert_eq!(tasks, 0);
    let everything: String =
        sqlx::query_scalar("select string_agg(a::text, ' ') from audit_log a").fetch_one(db).await.expect("audit");
    assert!(everything.contains("admin_user_updated"), "the admin's actions stay on record");
    assert!(!everything.contains(&jane_id.to_string()), "but no entry points to the purged account");
}

/// Submits a `send_email` task for `admin_id` as the tasks API does: stored with its arguments as
/// given, then run inline (its mail is queued in the outbox and delivered). Returns the task id.
async fn submit_send_email(app: &TestApp, admin_id: uuid::Uuid, args: Value, kwargs: Value) -> uuid::Uuid {
    let (Value::Array(args), Value::Object(kwargs)) = (args, kwargs) else { panic!("a list and an object") };
    let task = NewTask::from_submission("send_email", args, kwargs).expect("a valid task");
    tasks::submit(&app.state, admin_id, task, &Caller::default()).await.expect("submitted").id
}

/// Every row of `table` as text, lowercased, for "is the address anywhere" checks.
async fn table_text(db: &PgPool, table: &str) -> String {
    let sql = format!("select coalesce(lower(string_agg(t::text, ' ')), '') from {table} t");
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(db).await.expect("rows")
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_purge_scrubs_the_address_from_other_users_tasks_and_the_outbox(db: PgPool) {
    let app = TestApp::with(db, &[("RATE_LIMIT_ENABLED", "false"), ("DELETION_GRACE_DAYS", "0")]);
    app.signed_in_superuser("boss@example.com", "boss").await;
    let boss = app.user_id("boss@example.com").await;
    app.signed_in_user(JANE, "jane").await;
    // An administrator's mails to Jane, her address typed as it came, and one to someone else.
    let by_keyword = submit_send_email(
        &app,
        boss,
        json!([]),
        json!({"to": " Jane@Example.COM", "subject": "Your invoice", "body": "Paid, thanks."}),
    )
    .await;
    let by_position = submit_send_email(&app, boss, json!(["JANE@example.com", "Hello", "Hi there."]), json!({})).await;
    let to_keeper = submit_send_email(
        &app,
        boss,
        json!([]),
        json!({"to_email": "keep@example.com", "subject": "Welcome", "body": "Hi."}),
    )
    .await;
    let db = &app.state.db;
    // A provider refusal quotes the recipient (SES does), in the task and on the outbox row.
    sqlx::query("update tasks set status = 'FAILURE', error = 'the mail was not delivered (rejected: Jane@Example.com)' where id = $1")
        .bind(by_position)
        .execute(db)
        .await
        .expect("a failed task");
    // Mail to her address that no account links to: a notice still queued, and one the sweep
    // gave up on two days ago.
    let mail = |subject: &str| shared::mail::Mail {
        to: "Jane@Example.com".into(),
        subject: subject.into(),
        text: "Someone used your address.".into(),
        html: "<p>Someone used your address.</p>".into(),
    };
    shared::repo::outbox::insert_mail(db, &mail("Queued notice")).await.expect("queued notice");
    let dead = shared::repo::outbox::insert_mail(db, &mail("Dead notice")).await.expect("dead notice");
    sqlx::query(
        "update outbox set created_at = now() - interval '2 days', attempts = 5,
                           last_error = '550 jane@example.com: mailbox unavailable' where id = $1",
    )
    .bind(dead)
    .execute(db)
    .await
    .expect("age");
    assert_eq!(request_and_confirm(&app, JANE).await.status, StatusCode::OK);

    assert_eq!(run(&app, ScheduledJob::PurgeDeletedAccounts).await.count("accounts_purged"), 1);

    let tasks_left = table_text(db, "tasks").await;
    assert!(!tasks_left.contains(JANE), "other users' tasks keep the purged address: {tasks_left}");
    let outbox_left = table_text(db, "outbox").await;
    assert!(!outbox_left.contains(JANE), "the outbox keeps the purged address: {outbox_left}");

    let task = |id: uuid::Uuid| async move {
        sqlx::query_as::<_, (Value, Value, String, Option<String>)>(
            "select args, kwargs, status, error from tasks where id = $1",
        )
        .bind(id)
        .fetch_one(db)
        .await
        .expect("the administrator's task stays")
    };
    assert_eq!(
        task(by_keyword).await,
        (json!([]), json!({"to": PURGED, "subject": "Your invoice", "body": "Paid, thanks."}), "SUCCESS".into(), None)
    );
    assert_eq!(
        task(by_position).await,
        (
            json!([PURGED, "Hello", "Hi there."]),
            json!({}),
            "FAILURE".into(),
            Some(format!("the mail was not delivered (rejected: {PURGED})"))
        )
    );
    assert_eq!(task(to_keeper).await.1["to_email"], "keep@example.com", "other recipients are left alone");

    let unsent: Vec<(Value, Option<String>)> =
        sqlx::query_as("select payload, last_error from outbox where sent_at is null and kind = 'email'")
            .fetch_all(db)
            .await
            .expect("unsent");
    assert_eq!(
        unsent,
        [(json!({"to": PURGED, "scrubbed": true}), Some(format!("550 {PURGED}: mailbox unavailable")))],
        "the queued notice is deleted, the dead one keeps no address and no body"
    );
    let delivered: Vec<Value> = sqlx::query_scalar("select distinct payload from outbox where payload->>'to' = $1")
        .bind(PURGED)
        .fetch_all(db)
        .await
        .expect("scrubbed rows");
    assert_eq!(delivered, [json!({"to": PURGED, "scrubbed": true})], "delivered mail keeps only the placeholder");
    let kept: Vec<Value> =
        sqlx::query_scalar("select payload->'subject' from outbox where payload->>'to' = 'keep@example.com'")
            .fetch_all(db)
            .await
            .expect("other mail");
    assert_eq!(kept, [json!("Welcome")]);
    let late = shared::jobs::send_email::deliver(db, app.state.mailer.as_ref(), dead).await.expect("no error");
    assert_eq!(late, shared::jobs::send_email::Delivery::Skipped, "a late delivery job finds nothing to send");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn cancel_is_not_blocked_by_anonymous_deletion_requests(db: PgPool) {
    let app = TestApp::with(db, &[("RATE_LIMIT_ENABLED", "true")]);
    let access = app.signed_in_user(JANE, "jane").await;
    for _ in 0..3 {
        app.post_json("/api/v1/auth/request-deletion", &json!({"email": "someone@example.com"})).await;
    }
    let limited = app.post_json("/api/v1/auth/request-deletion", &json!({"email": "someone@example.com"})).await;

    let cancel = app.call("POST", "/api/v1/auth/cancel-deletion", Some(&access), None).await;

    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(cancel.status, StatusCode::OK);
}
