//! The rate limiter's per-instance leases against a real Postgres: two routers on one database
//! play two Lambda instances. Postgres stays the one count: together they never pass more than
//! the limit, a spent window is refused without another write, and an instance reserves units in
//! growing leases instead of writing once per request.

use http::StatusCode;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::*;

/// Verify-email with a token that is not one: a quick answer behind the email-verification limit.
async fn try_verify(app: &TestApp) -> TestResponse {
    app.post_json("/api/v1/auth/verify-email", &json!({"token": "not-a-token"})).await
}

fn instance(db: &PgPool, limit: &str) -> TestApp {
    TestApp::with(db.clone(), &[("RATE_LIMIT_ENABLED", "true"), ("RATE_LIMIT_EMAIL_VERIFICATION", limit)])
}

async fn counted(db: &PgPool) -> Vec<i32> {
    sqlx::query_scalar("select count from rate_limits where key like 'email_verification:%' order by window_start")
        .fetch_all(db)
        .await
        .expect("counters")
}

/// Got past the limiter (the answer to the bad token itself does not matter here).
fn served(response: &TestResponse) -> bool {
    response.status != StatusCode::TOO_MANY_REQUESTS && !response.status.is_server_error()
}

fn remaining(response: &TestResponse) -> u32 {
    response.header("ratelimit-remaining").and_then(|value| value.parse().ok()).expect("RateLimit-Remaining")
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn two_instances_together_never_pass_more_than_the_limit(db: PgPool) {
    let (first, second) = (instance(&db, "100/day"), instance(&db, "100/day"));
    let mut passed = 0;
    for _ in 0..80 {
        for app in [&first, &second] {
            let response = try_verify(app).await;
            assert!(!response.status.is_server_error());
            if served(&response) {
                passed += 1;
            }
        }
    }
    let windows = counted(&db).await;
    assert!(windows.iter().all(|&n| n <= 100), "the count never passes the limit: {windows:?}");
    let limit = 100 * windows.len();
    assert!(passed <= limit, "{passed} passed a limit of {limit}");
    // Each instance may hold a few reserved units it did not get to use (a sixteenth of what was
    // left when it reserved them): never more than 6 each at this limit.
    assert!(passed + 12 >= limit, "only {passed} of {limit} passed: too many units stranded");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_spent_window_is_refused_locally_without_writing(db: PgPool) {
    let app = instance(&db, "3/day");
    for _ in 0..3 {
        assert!(served(&try_verify(&app).await));
    }
    assert_eq!(try_verify(&app).await.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(counted(&db).await.iter().sum::<i32>(), 3, "the refused request was not counted");

    // Reset the counter behind the instance's back: it keeps refusing from what it learnt, and
    // writes nothing.
    sqlx::query("update rate_limits set count = 0 where key like 'email_verification:%'")
        .execute(&db)
        .await
        .expect("reset");
    for _ in 0..5 {
        let refused = try_verify(&app).await;
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(refused.header("retry-after").is_some());
    }
    assert_eq!(counted(&db).await.iter().sum::<i32>(), 0, "refusals wrote to the counter");

    // Another instance has learnt nothing and asks Postgres, which has units again.
    assert!(served(&try_verify(&instance(&db, "3/day")).await));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn one_instance_reserves_in_leases_and_reports_every_request(db: PgPool) {
    let app = instance(&db, "100000/day");
    let mut last = None;
    for n in 0..300 {
        let response = try_verify(&app).await;
        assert!(served(&response), "request {n}: {}", response.status);
        let now = remaining(&response);
        if let Some(before) = last {
            assert_eq!(now + 1, before, "request {n}: RateLimit-Remaining goes down by one per request");
        }
        last = Some(now);
    }
    // The counter holds the 300 requests plus what the last lease has not used yet, and that
    // lease was a large one: far fewer upserts than requests.
    let count: i32 = counted(&db).await.iter().sum();
    assert!((300..300 + 300).contains(&count), "count {count} after 300 requests");
    assert!(count > 300, "the last lease should still hold units: {count}");
}
