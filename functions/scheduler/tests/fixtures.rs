//! The scheduler's handler fed the schedule inputs from `tests/fixtures/`, against a real,
//! migrated Postgres: each fixture runs its job and returns that job's report.

use std::time::{Duration, Instant};

use shared::AppState;
use shared::jobs::ScheduledJob;
use sqlx::PgPool;
use test_support::{fixture, temp_mail_dir, test_config};

fn state(db: PgPool) -> AppState {
    let mail_dir = temp_mail_dir().display().to_string();
    AppState::with_pool(test_config(&[("MAIL_DIR", &mail_dir), ("DELETION_GRACE_DAYS", "0")]), db)
}

/// An account whose grace period ended an hour ago.
async fn insert_due_account(db: &PgPool) {
    sqlx::query(
        "insert into users (email, username, deletion_scheduled_for)
         values ('gone@example.com', 'gone', now() - interval '1 hour')",
    )
    .execute(db)
    .await
    .expect("due account");
}

fn in_a_minute() -> Instant {
    Instant::now() + Duration::from_secs(60)
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn every_schedule_fixture_runs_its_job(db: PgPool) {
    let state = state(db);
    for (file, job) in [
        ("schedule-reminders.json", ScheduledJob::DeletionReminders),
        ("schedule-purge.json", ScheduledJob::PurgeDeletedAccounts),
        ("schedule-cleanup.json", ScheduledJob::CleanupExpired),
        ("schedule-outbox-sweep.json", ScheduledJob::OutboxSweep),
    ] {
        let report = scheduler::handle(&state, &fixture(file), in_a_minute()).await.expect(file);
        assert_eq!(report.job, job, "{file}");
        assert!(report.complete, "{file}");
    }
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_purge_fixture_purges_a_due_account_and_reports_it(db: PgPool) {
    insert_due_account(&db).await;
    let state = state(db.clone());

    let report = scheduler::handle(&state, &fixture("schedule-purge.json"), in_a_minute()).await.expect("purge");

    assert_eq!(report.count("accounts_purged"), 1);
    let json = serde_json::to_value(&report).expect("serialises");
    assert_eq!(json["job"], "purge-deleted-accounts");
    assert_eq!(json["counts"]["accounts_purged"], 1);
    let left: i64 = sqlx::query_scalar("select count(*) from users").fetch_one(&db).await.expect("count");
    assert_eq!(left, 0);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_deadline_already_near_stops_before_touching_anything(db: PgPool) {
    insert_due_account(&db).await;
    let state = state(db.clone());

    let report = scheduler::handle(&state, &fixture("schedule-purge.json"), Instant::now()).await.expect("runs");

    assert!(!report.complete, "the report says work is left");
    let left: i64 = sqlx::query_scalar("select count(*) from users").fetch_one(&db).await.expect("count");
    assert_eq!(left, 1);
}

/// Every job has a schedule in `template.yaml`, and every schedule names a job: a job without
/// one never runs on AWS (the devserver's ticker runs them all, so nothing local would notice),
/// and a schedule naming no job fails every run into the dead-letter queue.
#[test]
fn every_job_has_a_schedule_in_the_template_and_every_schedule_names_a_job() {
    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml")).expect("template");
    let scheduled: std::collections::BTreeSet<String> = template
        .lines()
        .filter_map(|line| line.trim().strip_prefix(r#"Input: '{"job": ""#))
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect();
    let jobs: std::collections::BTreeSet<String> = ScheduledJob::ALL.iter().map(|job| job.name().to_owned()).collect();

    assert_eq!(scheduled, jobs, "the template's schedule inputs and ScheduledJob::ALL");
}
