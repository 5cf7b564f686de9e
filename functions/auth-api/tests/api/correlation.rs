//! A job carries the id of the request that queued it, so the worker's log lines for it join the
//! request's (`request_id` in both): through the real routers, with the devserver's local queue
//! standing in for SQS so the queued message can be read.

use http::{HeaderValue, StatusCode};
use serde_json::json;
use shared::AppState;
use shared::jobs::message::Job;
use sqlx::PgPool;
use test_support::{app_config, temp_mail_dir};

use crate::helpers::*;

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_mail_a_request_queues_carries_that_requests_id(db: PgPool) {
    let mail_dir = temp_mail_dir();
    let state = AppState::with_pool(app_config(&mail_dir, &[("QUEUE_BACKEND", "local")]), db);
    let mut queued = state.local_queue.as_ref().and_then(|queue| queue.take_receiver()).expect("the local queue");
    let app = TestApp::from_state(state, mail_dir);
    let register = |email: &str, username: &str| {
        json_request(
            "POST",
            "/api/v1/auth/register",
            &json!({"email": email, "username": username, "password": PASSWORD}),
        )
    };

    let mut with_an_id = register("jane@example.com", "jane");
    with_an_id.headers_mut().insert("x-request-id", HeaderValue::from_static("client-chose-this-id"));
    assert_eq!(app.send(with_an_id).await.status, StatusCode::CREATED);
    let answered = app.send(register("john@example.com", "john")).await;

    let first = queued.try_recv().expect("the first verification mail was queued");
    assert!(matches!(first.job, Job::SendEmail { .. }), "{first:?}");
    assert_eq!(first.request_id.as_deref(), Some("client-chose-this-id"));
    let second = queued.try_recv().expect("the second verification mail was queued");
    let generated = answered.headers.get("x-request-id").and_then(|id| id.to_str().ok()).expect("an id was made");
    assert_eq!(second.request_id.as_deref(), Some(generated), "the id the answer named");
    assert!(queued.try_recv().is_err(), "one mail each");
}
