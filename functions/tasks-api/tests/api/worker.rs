//! What the worker's `shared::jobs::tasks::run` does with a queued task: claiming, progress,
//! deadlines, cancellation mid-run, crash recovery, and failures that are the task's own.

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::*;

const PLENTY: Duration = Duration::from_secs(60);

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn long_running_records_progress_while_it_runs(db: PgPool) {
    let app = TestApp::new(db);
    let id = app.insert_task("long_running", json!([]), json!({"duration": 2, "steps": 4}), "PENDING").await;

    let run = tokio::spawn({
        let state = app.state.clone();
        async move { shared::jobs::tasks::run(&state, id, std::time::Instant::now() + PLENTY).await }
    });
    tokio::time::sleep(Duration::from_millis(750)).await;
    let midway = app.task(id).await;
    run.await.expect("joined").expect("run");
    let done = app.task(id).await;

    assert_eq!(midway.status, "STARTED");
    assert_eq!(midway.result, Some(json!({"progress": 0.25, "step": 1, "steps": 4})));
    assert_eq!(done.status, "SUCCESS");
    assert_eq!(done.result, Some(json!({"progress": 1.0, "step": 4, "steps": 4, "duration": 2})));
    assert!(done.finished_at.is_some());
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn long_running_that_cannot_start_in_time_is_handed_back_for_a_fresh_invocation(db: PgPool) {
    let app = TestApp::new(db);
    let id = app.insert_task("long_running", json!([]), json!({"duration": 1, "steps": 1}), "PENDING").await;

    let run = shared::jobs::tasks::run(&app.state, id, std::time::Instant::now() + Duration::from_millis(200)).await;

    assert!(run.is_err(), "the message is retried");
    let task = app.task(id).await;
    assert_eq!((task.status.as_str(), task.attempts, task.finished_at), ("PENDING", 1, None));
    app.run_task(id, PLENTY).await;
    assert_eq!(app.task(id).await.status, "SUCCESS");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn long_running_stops_after_the_step_that_fits_before_the_deadline(db: PgPool) {
    let app = TestApp::new(db);
    // 0.5 s steps with a 1.5 s budget, of which a fifth is kept in reserve: two steps fit
    let id = app.insert_task("long_running", json!([4, 8]), json!({}), "PENDING").await;

    app.run_task(id, Duration::from_millis(1500)).await;

    let task = app.task(id).await;
    assert_eq!(task.status, "FAILURE");
    assert_eq!(task.error.as_deref(), Some("stopped at the function's deadline after step 2 of 8"));
    assert_eq!(task.result, Some(json!({"progress": 0.25, "step": 2, "steps": 8})), "the last progress is kept");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_task_cancelled_while_running_stops_and_stays_revoked(db: PgPool) {
    let app = TestApp::new(db.clone());
    let id = app.insert_task("long_running", json!([]), json!({"duration": 2, "steps": 4}), "PENDING").await;

    let run = tokio::spawn({
        let state = app.state.clone();
        async move { shared::jobs::tasks::run(&state, id, std::time::Instant::now() + PLENTY).await }
    });
    tokio::time::sleep(Duration::from_millis(750)).await;
    sqlx::query("update tasks set status = 'REVOKED', finished_at = now() where id = $1")
        .bind(id)
        .execute(&db)
        .await
        .expect("revoke");
    run.await.expect("joined").expect("run");

    let task = app.task(id).await;
    assert_eq!(task.status, "REVOKED");
    assert_eq!(task.result, Some(json!({"progress": 0.25, "step": 1, "steps": 4})), "it stopped after step 1");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_task_started_more_than_5_minutes_ago_is_run_again_and_a_fresh_one_is_retried_later(db: PgPool) {
    let app = TestApp::new(db.clone());
    let stale = app.insert_task("process_data", json!([[1, 2]]), json!({}), "STARTED").await;
    let fresh = app.insert_task("process_data", json!([[1, 2]]), json!({}), "STARTED").await;
    sqlx::query(
        "update tasks set attempts = 1,
                started_at = case when id = $1 then now() - interval '6 minutes' else now() - interval '1 minute' end",
    )
    .bind(stale)
    .execute(&db)
    .await
    .expect("start times");

    app.run_task(stale, PLENTY).await;
    let busy = shared::jobs::tasks::run(&app.state, fresh, std::time::Instant::now() + PLENTY).await;

    let stale = app.task(stale).await;
    assert_eq!((stale.status.as_str(), stale.attempts), ("SUCCESS", 2));
    assert_eq!(stale.result.expect("result")["numeric"]["sum"], 3);
    let fresh = app.task(fresh).await;
    assert_eq!((fresh.status.as_str(), fresh.attempts, fresh.result), ("STARTED", 1, None), "a live worker has it");
    assert!(busy.is_err(), "the message is kept for a retry instead of being dropped");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn finished_tasks_are_never_run_again(db: PgPool) {
    let app = TestApp::new(db);
    let mut ids = Vec::new();
    for status in ["SUCCESS", "FAILURE", "REVOKED"] {
        ids.push((status, app.insert_task("send_email", json!(["a@example.com", "s", "b"]), json!({}), status).await));
    }

    for (_, id) in &ids {
        app.run_task(*id, PLENTY).await;
    }

    for (status, id) in ids {
        let task = app.task(id).await;
        assert_eq!((task.status.as_str(), task.attempts), (status, 0));
    }
    assert!(app.mails_to("a@example.com").is_empty());
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_rerun_of_send_email_does_not_send_the_mail_twice(db: PgPool) {
    let app = TestApp::new(db.clone());
    let id = app
        .insert_task("send_email", json!([]), json!({"to": "a@example.com", "subject": "s", "body": "b"}), "PENDING")
        .await;
    app.run_task(id, PLENTY).await;
    // as if the worker had died after sending, before recording SUCCESS, and gone stale
    sqlx::query("update tasks set status = 'STARTED', started_at = now() - interval '20 minutes' where id = $1")
        .bind(id)
        .execute(&db)
        .await
        .expect("rewind");

    app.run_task(id, PLENTY).await;

    let task = app.task(id).await;
    assert_eq!((task.status.as_str(), task.attempts), ("SUCCESS", 2));
    assert_eq!(app.mails_to("a@example.com").len(), 1);
    let outbox: i64 = sqlx::query_scalar("select count(*) from outbox").fetch_one(&db).await.expect("count");
    assert_eq!(outbox, 1);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_mail_the_mailer_refuses_fails_the_task_and_stays_in_the_outbox(db: PgPool) {
    // a mail directory that cannot be created: every delivery fails
    let blocker = temp_mail_dir();
    std::fs::write(&blocker, "a file, not a directory").expect("blocker");
    let state = shared::AppState::with_pool(app_config(&blocker.join("mail"), &[]), db.clone());
    let app = TestApp::from_state(state, temp_mail_dir());
    let id = app.insert_task("send_email", json!(["a@example.com", "s", "b"]), json!({}), "PENDING").await;

    app.run_task(id, PLENTY).await;

    let task = app.task(id).await;
    std::fs::remove_file(&blocker).expect("cleanup");
    assert_eq!(task.status, "FAILURE");
    let error = task.error.expect("error");
    assert!(error.starts_with("the mail was not delivered"), "{error}");
    let result = task.result.expect("result");
    assert_eq!(result["sent"], false);
    let unsent: i64 = sqlx::query_scalar("select count(*) from outbox where sent_at is null and id = $1::text::uuid")
        .bind(result["outbox_id"].as_str().expect("outbox id"))
        .fetch_one(&db)
        .await
        .expect("count");
    assert_eq!(unsent, 1, "the outbox sweep retries it");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_mail_to_an_undeliverable_address_fails_the_task_and_is_not_sent(db: PgPool) {
    let app = TestApp::new(db.clone());
    let bounced = ["a@example.com".to_owned()];
    shared::repo::undeliverable::mark(&db, &bounced, "bounce", "Permanent/General").await.expect("marked");
    let id = app.insert_task("send_email", json!([" A@Example.com", "s", "b"]), json!({}), "PENDING").await;

    app.run_task(id, PLENTY).await;

    let task = app.task(id).await;
    assert_eq!(task.status, "FAILURE");
    assert!(task.error.expect("error").starts_with("the address is undeliverable"));
    assert!(app.mails_to("a@example.com").is_empty());
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_task_stored_with_bad_arguments_fails_without_running(db: PgPool) {
    let app = TestApp::new(db);
    let bad_args = app.insert_task("long_running", json!([]), json!({"duration": 100000}), "PENDING").await;
    let unknown = app.insert_task("reboot", json!([]), json!({}), "PENDING").await;

    app.run_task(bad_args, PLENTY).await;
    app.run_task(unknown, PLENTY).await;

    let bad_args = app.task(bad_args).await;
    assert_eq!(bad_args.status, "FAILURE");
    assert_eq!(
        bad_args.error.as_deref(),
        Some("invalid arguments: kwargs.duration: Input should be less than or equal to 45")
    );
    let unknown = app.task(unknown).await;
    assert_eq!((unknown.status.as_str(), unknown.error.as_deref()), ("FAILURE", Some("unknown task \"reboot\"")));
    assert_eq!(unknown.result, None::<Value>);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_cleanup_fails_a_task_that_no_sweep_got_to_a_worker_within_a_day(db: PgPool) {
    let app = TestApp::new(db.clone());
    let stuck = app.insert_task("cleanup", json!([]), json!({}), "PENDING").await;
    let recent = app.insert_task("cleanup", json!([]), json!({}), "PENDING").await;
    sqlx::query("update tasks set created_at = now() - interval '25 hours' where id = $1")
        .bind(stuck)
        .execute(&db)
        .await
        .expect("age");

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let report = shared::jobs::ScheduledJob::CleanupExpired.run(&app.state, deadline).await.expect("cleanup");

    assert_eq!(report.count("unqueued_tasks_failed"), 1);
    let row = |id| {
        sqlx::query_as::<_, (String, Option<String>)>("select status, error from tasks where id = $1")
            .bind(id)
            .fetch_one(&db)
    };
    let (status, error) = row(stuck).await.expect("stuck task");
    assert_eq!(status, "FAILURE");
    assert!(error.is_some_and(|error| error.starts_with("never picked up")));
    assert_eq!(row(recent).await.expect("recent task").0, "PENDING", "a day has not passed for this one");
}
