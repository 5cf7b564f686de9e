//! Account enumeration, statistically: for every route that takes an email address, a
//! registered address and an unknown one get the same status, the same body (up to the values
//! that differ on every call) and — measured over many interleaved calls — the same time.
//!
//! Mail is queued on a real SQS queue (moto's), so a registered address's extra work includes
//! the network call it makes on Lambda. Its own test binary, with one test, so no other test's password hashing runs alongside and
//! skews one side. Calls are made in pairs, one per side, back to back in alternating order, and
//! the rule is on the median of the pairs' differences: at most 2 ms or 15% of the faster median,
//! whichever is larger. Pairing cancels load that slows both calls of a pair; the differences
//! the rule guards against are far larger (a skipped password hash: tens of milliseconds; a mail
//! written and queued for one side only: several milliseconds against a fraction of one).

use std::time::{Duration, Instant};

use axum::Router;
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use shared::AppState;
use sqlx::PgPool;
use test_support::{Accounts, PASSWORD, Routes};

/// The routes the API tests serve: the auth function's, with the users function's beside them.
struct AuthApi;

impl Routes for AuthApi {
    fn routes(state: &AppState) -> Router<AppState> {
        auth_api::routes(state).merge(users_api::routes(state))
    }
}

type TestApp = test_support::TestApp<AuthApi>;

/// Calls per side and route.
const SAMPLES: usize = 20;

/// One side's answers and times.
#[derive(Default)]
struct Side {
    answers: Vec<(StatusCode, Value, Vec<String>)>,
    times: Vec<Duration>,
}

impl Side {
    async fn call(&mut self, app: &TestApp, path: &str, token: Option<&str>, body: Value) {
        let started = Instant::now();
        let response = app.call("POST", path, token, Some(&body)).await;
        self.times.push(started.elapsed());
        self.answers.push((response.status, comparable(response.body), header_names(&response.headers)));
    }
}

fn median<T: Ord + Copy>(mut values: Vec<T>) -> T {
    values.sort();
    values[values.len() / 2]
}

/// A registration answer echoes the address and username and has a fresh id and timestamp.
fn comparable(mut body: Value) -> Value {
    if let Some(object) = body.as_object_mut() {
        for volatile in ["id", "created_at", "date_created", "email", "username"] {
            if let Some(value) = object.get_mut(volatile) {
                *value = json!(format!("<{volatile}>"));
            }
        }
    }
    body
}

fn header_names(headers: &HeaderMap) -> Vec<String> {
    let mut names: Vec<String> = headers.keys().map(|name| name.as_str().to_owned()).collect();
    names.sort();
    names
}

/// Runs `SAMPLES` calls per side, alternating which side goes first, then checks the answers
/// and times. `body(registered, i)` builds the i-th body of a side. Returns the median time of
/// each side and the median paired difference (registered minus unknown) in microseconds.
async fn compare(app: &TestApp, path: &str, body: impl Fn(bool, usize) -> Value) -> (Duration, Duration, i128) {
    compare_as(app, path, None, body).await
}

/// [`compare`] with the Bearer `token` on every call (routes a signed-in user calls).
async fn compare_as(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    body: impl Fn(bool, usize) -> Value,
) -> (Duration, Duration, i128) {
    let (mut registered, mut unknown) = (Side::default(), Side::default());
    for i in 0..SAMPLES {
        if i % 2 == 0 {
            registered.call(app, path, token, body(true, i)).await;
            unknown.call(app, path, token, body(false, i)).await;
        } else {
            unknown.call(app, path, token, body(false, i)).await;
            registered.call(app, path, token, body(true, i)).await;
        }
    }
    for (known, other) in registered.answers.iter().zip(&unknown.answers) {
        assert_eq!(known, other, "{path}: a registered address is told apart by its answer");
    }
    let micros = |time: &Duration| i128::try_from(time.as_micros()).expect("fits");
    let differences = registered.times.iter().zip(&unknown.times).map(|(a, b)| micros(a) - micros(b)).collect();
    let difference = median(differences);
    let (known, other) = (median(registered.times), median(unknown.times));
    let allowed = 2_000.max(micros(&known.min(other)) * 15 / 100);
    assert!(
        difference.abs() <= allowed,
        "{path}: registered addresses take {difference} µs longer per pair (median; allowed ±{allowed} µs); \
         medians {known:?} against {other:?} for unknown ones"
    );
    (known, other, difference)
}

/// A fresh queue on moto (scripts/test points `AWS_ENDPOINT_URL` at it).
async fn queue() -> String {
    assert!(std::env::var_os("AWS_ENDPOINT_URL").is_some(), "AWS_ENDPOINT_URL must point at moto (run scripts/test)");
    let sqs = aws_sdk_sqs::Client::new(&shared::adapters::aws_env::sdk_config(None));
    let name = format!("timing-{}", uuid::Uuid::new_v4().simple());
    let created = sqs.create_queue().queue_name(name).send().await.expect("create queue");
    created.queue_url().expect("queue url").to_owned()
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn registered_and_unknown_addresses_get_the_same_answers_in_the_same_time(db: PgPool) {
    // Accounts are set up with mail delivered in-process (their links are read from the mail
    // directory); the measured calls queue their mail on SQS instead.
    let setup = TestApp::new(db.clone());
    let app =
        TestApp::with(db, &[("RATE_LIMIT_ENABLED", "false"), ("QUEUE_BACKEND", "sqs"), ("QUEUE_URL", &queue().await)]);
    // Verified accounts for login, forgot-password and request-deletion (one per login sample, so
    // the back-off never starts); unverified ones for resend-verification.
    for i in 0..SAMPLES {
        setup.signed_in_user(&format!("known{i}@example.com"), &format!("known{i}")).await;
        assert_eq!(setup.register(&format!("pending{i}@example.com"), &format!("pending{i}")).await.status, 201);
    }
    // Unknown addresses are never reused: registering one creates its account.
    let address = |registered: bool, prefix: &str, i: usize| {
        if registered {
            format!("{prefix}{i}@example.com")
        } else {
            format!("{}@example.com", uuid::Uuid::new_v4().simple())
        }
    };

    let mut report = Vec::new();
    let login = compare(
        &app,
        "/api/v1/auth/login",
        |registered, i| json!({"email": address(registered, "known", i), "password": "Wrong-Passw0rd!"}),
    )
    .await;
    report.push(("login", login));
    let register = compare(&app, "/api/v1/auth/register", |registered, i| {
        json!({"email": address(registered, "known", i), "username": format!("new{}{i}", u8::from(registered)), "password": PASSWORD})
    })
    .await;
    report.push(("register", register));
    for (path, prefix) in [
        ("/api/v1/auth/forgot-password", "known"),
        ("/api/v1/auth/resend-verification", "pending"),
        ("/api/v1/auth/request-deletion", "known"),
    ] {
        let medians = compare(&app, path, |registered, i| json!({"email": address(registered, prefix, i)})).await;
        report.push((path.trim_start_matches("/api/v1/auth/"), medians));
    }
    let magic_link =
        compare(&app, "/api/v1/auth/magic-link", |registered, i| json!({"email": address(registered, "known", i)}))
            .await;
    report.push(("magic-link", magic_link));
    // A registered address now has a live code; a wrong one is checked and counted against it.
    let wrong_code = compare(
        &app,
        "/api/v1/auth/magic-link/verify",
        |registered, i| json!({"email": address(registered, "known", i), "code": "000000"}),
    )
    .await;
    report.push(("magic-link/verify", wrong_code));
    // Moving an account to a taken address (its owner gets a notice) or to a free one (it gets a link).
    let mover = setup.signed_in_user("mover@example.com", "mover").await;
    let email_change = compare_as(
        &app,
        "/api/v1/users/me/email",
        Some(&mover),
        |registered, i| json!({"new_email": address(registered, "known", i), "password": PASSWORD}),
    )
    .await;
    report.push(("users/me/email", email_change));

    let routes: Vec<String> = report
        .iter()
        .map(|(route, (known, other, difference))| format!("{route} {known:.1?}/{other:.1?} (pair Δ {difference} µs)"))
        .collect();
    eprintln!(
        "timing samples: {} ({SAMPLES} per side on {} routes; medians registered/unknown: {})",
        SAMPLES * 2 * report.len(),
        report.len(),
        routes.join(", ")
    );
}
