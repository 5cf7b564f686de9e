//! Overlapping scheduler runs against a real Postgres: EventBridge Scheduler may start a run
//! while the previous one is still going (or retry one that timed out), so several invocations
//! of `scheduler::handle` run at once here, on separate connection pools like separate Lambda
//! instances. Each reminder must be mailed once and each due account purged once, with one
//! audit entry, however the runs interleave.

use std::time::{Duration, Instant};

use serde_json::json;
use shared::AppState;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use test_support::{temp_mail_dir, test_config};

/// Rounds, each from a fresh set of accounts.
const ROUNDS: usize = 3;
/// Concurrent invocations per job and round.
const RUNS: usize = 3;
/// Accounts per kind: more than one claim batch (100), so the runs overlap batch by batch.
const ACCOUNTS: i64 = 150;

/// A state on its own pool of the test database, as a separate Lambda instance would have.
async fn instance(db: &PgPool) -> AppState {
    let config = test_config(&[("MAIL_DIR", &temp_mail_dir().display().to_string())]);
    let options = db.connect_options().as_ref().clone();
    let pool = PgPoolOptions::new().max_connections(2).connect_with(options).await.expect("pool");
    AppState::with_pool(config, pool)
}

/// `ACCOUNTS` each: three days from deletion, one day from it, and past it.
async fn seed(db: &PgPool, round: usize) {
    for (kind, scheduled_for) in [("three", "2 days 12 hours"), ("one", "12 hours"), ("due", "-1 hour")] {
        sqlx::query(
            "insert into users (email, username, deletion_requested_at, deletion_scheduled_for)
             select format('%s-%s-%s@example.com', $1::text, $2::int, n), format('%s%s_%s', $1::text, $2::int, n),
                    now() - interval '7 days', now() + $3::interval
               from generate_series(1, $4) as n",
        )
        .bind(kind)
        .bind(round as i32)
        .bind(scheduled_for)
        .bind(ACCOUNTS)
        .execute(db)
        .await
        .expect("accounts");
    }
}

async fn count(db: &PgPool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(db).await.expect("count")
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn overlapping_runs_mail_each_reminder_once_and_purge_each_account_once(db: PgPool) {
    let mut sharing = 0;
    let mut instances = Vec::new();
    for _ in 0..RUNS * 2 {
        instances.push(instance(&db).await);
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    for round in 0..ROUNDS {
        seed(&db, round).await;
        let runs = instances.iter().enumerate().map(|(i, state)| {
            let event = if i % 2 == 0 {
                json!({"job": "deletion-reminders"})
            } else {
                json!({"job": "purge-deleted-accounts"})
            };
            async move { scheduler::handle(state, &event, deadline).await.expect("run") }
        });
        let reports = futures_util::future::join_all(runs).await;

        let total = |what: &str| reports.iter().map(|report| report.count(what)).sum::<u64>();
        assert!(reports.iter().all(|report| report.complete), "round {round}");
        assert_eq!(total("reminders_queued"), 2 * ACCOUNTS as u64, "round {round}: one reminder per account");
        assert_eq!(total("accounts_purged"), ACCOUNTS as u64, "round {round}");
        let workers = |what: &str| reports.iter().filter(|report| report.count(what) > 0).count();
        sharing += usize::from(workers("reminders_queued") > 1) + usize::from(workers("accounts_purged") > 1);
    }

    let reminders = count(&db, "select count(*) from outbox where payload->>'subject' like 'Reminder:%'").await;
    let duplicates = count(
        &db,
        "select count(*) from (select payload->>'to' from outbox where kind = 'email' group by 1 having count(*) > 1)
           as repeated",
    )
    .await;
    assert_eq!((reminders, duplicates), (2 * ACCOUNTS * ROUNDS as i64, 0));
    let audits = count(&db, "select count(*) from audit_log where event = 'account_purged'").await;
    let left = count(&db, "select count(*) from users where deletion_scheduled_for < now()").await;
    assert_eq!((audits, left), (ACCOUNTS * ROUNDS as i64, 0));
    let sent: Vec<Vec<i16>> = sqlx::query_scalar(
        "select distinct deletion_reminders_sent from users where deletion_scheduled_for is not null order by 1",
    )
    .fetch_all(&db)
    .await
    .expect("claims");
    assert_eq!(sent, [vec![1, 3], vec![3]], "one-day accounts count both reminders as sent, three-day ones the first");
    assert!(sharing > 0, "the runs never overlapped: no job's work was split between runs");
    eprintln!(
        "races run: {} scheduler runs at once x {ROUNDS} rounds ({reminders} reminders, {audits} purges, none \
         twice; work split between runs in {sharing} of {} job rounds)",
        RUNS * 2,
        ROUNDS * 2
    );
}
