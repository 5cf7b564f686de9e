//! The counts behind the CloudWatch metrics (EMF lines on Lambda): what a user's requests count,
//! through the real routers, with a recording sink in place of stdout.

use std::sync::Arc;

use http::StatusCode;
use shared::AppState;
use shared::ports::Metric;
use sqlx::PgPool;
use test_support::{RecordingMetrics, app_config, temp_mail_dir};

use crate::helpers::*;

fn app_counting(db: PgPool, vars: &[(&str, &str)]) -> (TestApp, Arc<RecordingMetrics>) {
    let metrics = Arc::new(RecordingMetrics::default());
    let mail_dir = temp_mail_dir();
    let state = AppState::with_pool(app_config(&mail_dir, vars), db).with_metrics(metrics.clone());
    (TestApp::from_state(state, mail_dir), metrics)
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn sign_ups_sign_ins_failures_back_off_and_mail_are_counted(db: PgPool) {
    let (app, metrics) = app_counting(db, &[]);

    app.signed_in_user("jane@example.com", "jane").await;
    for _ in 0..5 {
        assert_eq!(app.login("jane@example.com", "Wr0ng-Passw0rd!").await.status, StatusCode::UNAUTHORIZED);
    }
    let backing_off = app.login("jane@example.com", PASSWORD).await;

    assert_eq!(backing_off.status, StatusCode::TOO_MANY_REQUESTS);
    let counted = |metric| metrics.count_of(metric);
    assert_eq!(
        [Metric::Registered, Metric::Verified, Metric::LoginSucceeded, Metric::LoginFailed, Metric::LoginBackedOff]
            .map(counted),
        [1, 1, 1, 5, 1]
    );
    assert_eq!((counted(Metric::MailSent), counted(Metric::MailFailed)), (1, 0), "the verification mail");
    assert!(counted(Metric::JobSucceeded) >= 1 && counted(Metric::JobFailed) == 0);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_rate_limit_refusal_is_counted(db: PgPool) {
    let (app, metrics) = app_counting(db, &[("RATE_LIMIT_ENABLED", "true"), ("RATE_LIMIT_LOGIN", "1/minute")]);

    app.login("nobody@example.com", PASSWORD).await;
    let refused = app.login("nobody@example.com", PASSWORD).await;

    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(metrics.count_of(Metric::RateLimited), 1);
}
