//! The scheduler's handler fed the schedule inputs from `tests/fixtures/`, against a real,
//! migrated Postgres: each fixture runs its job and returns that job's report.

use std::time::{Duration, Instant};

use serde_json::Value;
use shared::jobs::ScheduledJob;
use shared::{AppState, Config};
use sqlx::PgPool;

fn state(db: PgPool) -> AppState {
    let mail_dir = std::env::temp_dir().join(format!("scheduler-mail-{}", uuid::Uuid::new_v4()));
    let vars = [
        ("DATABASE_URL", "postgres://unused@127.0.0.1:1/unused".to_owned()),
        ("MAIL_DIR", mail_dir.display().to_string()),
        ("DELETION_GRACE_DAYS", "0".to_owned()),
    ];
    let config =
        Config::from_lookup(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())).expect("test config");
    AppState::with_pool(config, db)
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/../../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("json")
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
