//! The operator's commands (`migrate create-superuser`, `revoke-sessions`, `purge-now`,
//! `redrive-dlq`, `verify-config`), through the real binary against the test's Postgres and
//! moto's SQS (`AWS_ENDPOINT_URL`), as scripts/test provides.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use shared::AppState;
use shared::adapters::sqs::SqsQueue;
use shared::jobs::message::{Envelope, Job};
use shared::ports::Queue;
use sqlx::PgPool;
use test_support::lambda_process::database_url;
use test_support::{JWT_SECRET, app_config, mint_session, temp_mail_dir};
use uuid::Uuid;

/// Runs `migrate args…` against `database_url` with `stdin` typed in.
fn migrate(database_url: &str, args: &[&str], stdin: &str, settings: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_migrate"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url)
        .env("JWT_SECRET", JWT_SECRET)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for variable in ["AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"] {
        if let Ok(value) = std::env::var(variable) {
            command.env(variable, value);
        }
    }
    command.envs(settings.iter().copied());
    let mut child = command.spawn().expect("start migrate");
    child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("type");
    child.wait_with_output().expect("migrate ran")
}

fn said(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

fn state(db: &PgPool) -> AppState {
    AppState::with_pool(app_config(&temp_mail_dir(), &[]), db.clone())
}

async fn user(db: &PgPool, email: &str, superuser: bool) -> Uuid {
    sqlx::query_scalar(
        "insert into users (email, username, password_hash, is_verified, is_superuser, is_active)
         values ($1, split_part($1, '@', 1), 'x', true, $2, true) returning id",
    )
    .bind(email)
    .bind(superuser)
    .fetch_one(db)
    .await
    .expect("a user")
}

async fn count(db: &PgPool, sql: &'static str, bind: &str) -> i64 {
    sqlx::query_scalar(sql).bind(bind).fetch_one(db).await.expect("count")
}

async fn announced(db: &PgPool, event_type: &str) -> i64 {
    count(db, "select count(*) from outbox where kind = 'event' and payload->>'type' = $1", event_type).await
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn create_superuser_reads_the_password_from_stdin_and_applies_the_registration_rules(db: PgPool) {
    let url = database_url(&db);
    let args = ["create-superuser", "--email", "Root@Example.com", "--username", "opsadmin"];

    let weak = migrate(&url, &args, "short\n", &[]);
    let nothing_typed = migrate(&url, &args, "", &[]);
    let bad_address = migrate(
        &url,
        &["create-superuser", "--email", "not-an-address", "--username", "opsadmin"],
        "Str0ng-Passw0rd!\n",
        &[],
    );
    let created = migrate(&url, &args, "Str0ng-Passw0rd!\n", &[]);
    let again = migrate(&url, &args, "An0ther-Passw0rd!\n", &[]);
    user(&db, "jane@example.com", false).await;
    let ordinary = migrate(
        &url,
        &["create-superuser", "--email", "jane@example.com", "--username", "janeadmin"],
        "Str0ng-Passw0rd!\n",
        &[],
    );
    let taken_name = migrate(
        &url,
        &["create-superuser", "--email", "other@example.com", "--username", "opsadmin"],
        "Str0ng-Passw0rd!\n",
        &[],
    );

    for refused in [&weak, &nothing_typed, &bad_address] {
        assert_eq!(refused.status.code(), Some(1), "{}", said(refused));
    }
    assert!(said(&weak).contains("password:"), "{}", said(&weak));
    assert!(said(&bad_address).contains("email:"), "{}", said(&bad_address));
    assert_eq!(created.status.code(), Some(0), "{}", said(&created));
    assert!(said(&created).contains("created superuser root@example.com (opsadmin)"), "{}", said(&created));
    assert_eq!(again.status.code(), Some(0), "{}", said(&again));
    assert!(said(&again).contains("already a superuser; nothing changed"));
    assert_eq!(ordinary.status.code(), Some(1));
    assert!(said(&ordinary).contains("belongs to an ordinary account"), "{}", said(&ordinary));
    assert_eq!(taken_name.status.code(), Some(1));
    assert!(said(&taken_name).contains("the username opsadmin is taken"), "{}", said(&taken_name));
    let (superuser, verified, hash): (bool, bool, String) =
        sqlx::query_as("select is_superuser, is_verified, password_hash from users where email = 'root@example.com'")
            .fetch_one(&db)
            .await
            .expect("the superuser");
    assert!(superuser && verified && hash.starts_with("$argon2id$"));
    assert!(
        shared::security::password::verify(secrecy::SecretString::from("Str0ng-Passw0rd!"), hash)
            .await
            .expect("a readable hash"),
        "the first password, not the second"
    );
    let audited = count(&db, "select count(*) from audit_log where event = $1", "operator_superuser_created").await;
    assert_eq!((audited, announced(&db, "user.registered").await), (1, 1), "once, with the account");
    let promoted =
        count(&db, "select count(*) from users where is_superuser and email <> $1", "root@example.com").await;
    assert_eq!(promoted, 0, "jane stays ordinary");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn revoke_sessions_ends_every_session_of_that_account_only(db: PgPool) {
    let state = state(&db);
    let jane = user(&db, "jane@example.com", false).await;
    let john = user(&db, "john@example.com", false).await;
    for _ in 0..2 {
        mint_session(&state, jane, "jane@example.com").await;
    }
    mint_session(&state, john, "john@example.com").await;
    let url = database_url(&db);

    let revoked = migrate(&url, &["revoke-sessions", "JANE@example.com"], "", &[]);
    let unknown = migrate(&url, &["revoke-sessions", "nobody@example.com"], "", &[]);

    assert_eq!(revoked.status.code(), Some(0), "{}", said(&revoked));
    assert!(said(&revoked).contains("ended 2 session(s) of jane@example.com"), "{}", said(&revoked));
    assert_eq!(unknown.status.code(), Some(1));
    assert!(said(&unknown).contains("no account has the address nobody@example.com"));
    let live = "select count(*) from sessions where user_id = $1::uuid and revoked_at is null";
    assert_eq!((count(&db, live, &jane.to_string()).await, count(&db, live, &john.to_string()).await), (0, 1));
    let reasons: Vec<String> = sqlx::query_scalar("select distinct revoke_reason from sessions where user_id = $1")
        .bind(jane)
        .fetch_all(&db)
        .await
        .expect("reasons");
    assert_eq!(reasons, ["revoked_by_operator"]);
    assert_eq!(announced(&db, "session.revoked").await, 1);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn purge_now_deletes_the_account_at_once_but_never_the_last_superuser(db: PgPool) {
    let admin = user(&db, "admin@example.com", true).await;
    let jane = user(&db, "jane@example.com", false).await;
    mint_session(&state(&db), jane, "jane@example.com").await;
    let bounced = ["jane@example.com".to_owned()];
    shared::repo::undeliverable::mark(&db, &bounced, "bounce", "Permanent/General").await.expect("marked");
    let url = database_url(&db);

    let last_superuser = migrate(&url, &["purge-now", "admin@example.com"], "", &[]);
    let purged = migrate(&url, &["purge-now", "jane@example.com"], "", &[]);
    let again = migrate(&url, &["purge-now", "jane@example.com"], "", &[]);

    assert_eq!(last_superuser.status.code(), Some(1));
    assert!(said(&last_superuser).contains("last active superuser"), "{}", said(&last_superuser));
    assert_eq!(purged.status.code(), Some(0), "{}", said(&purged));
    assert!(said(&purged).contains(&jane.to_string()));
    assert_eq!(again.status.code(), Some(1), "gone: {}", said(&again));
    let left = "select (select count(*) from users where id = $1::uuid) + (select count(*) from sessions where user_id = $1::uuid)";
    assert_eq!((count(&db, left, &jane.to_string()).await, count(&db, left, &admin.to_string()).await), (0, 1));
    let marked = shared::repo::undeliverable::reason(&db, "jane@example.com").await.expect("read");
    assert_eq!(marked, None, "the bounce record of the address is erased with it");
    let by: Vec<String> = sqlx::query_scalar("select details->>'by' from audit_log where event = 'account_purged'")
        .fetch_all(&db)
        .await
        .expect("audit");
    assert_eq!(by, ["operator"]);
    assert_eq!(announced(&db, "account.purged").await, 1);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn redrive_dlq_moves_dead_lettered_jobs_back_up_to_the_limit(db: PgPool) {
    let config = shared::adapters::aws_env::sdk_config(None);
    let client = aws_sdk_sqs::Client::new(&config);
    let mut urls = Vec::new();
    for name in ["jobs", "dlq"] {
        let name = format!("operator-{name}-{}", Uuid::new_v4().simple());
        urls.push(
            client.create_queue().queue_name(name).send().await.expect("queue").queue_url().expect("url").to_owned(),
        );
    }
    let (queue_url, dlq_url) = (urls[0].clone(), urls[1].clone());
    let dead_letters = SqsQueue::new(dlq_url.clone(), None);
    for _ in 0..3 {
        dead_letters.send(&Envelope::new(Job::PublishEvents)).await.expect("dead-lettered");
    }
    let settings = [("QUEUE_BACKEND", "sqs"), ("QUEUE_URL", queue_url.as_str()), ("DLQ_URL", dlq_url.as_str())];
    let url = database_url(&db);

    let first = migrate(&url, &["redrive-dlq", "--max", "2"], "", &settings);
    let second = migrate(&url, &["redrive-dlq"], "", &settings);
    let without_a_dlq = migrate(&url, &["redrive-dlq"], "", &[("QUEUE_BACKEND", "inline")]);

    assert!(said(&first).contains("moved 2 job(s)"), "{}", said(&first));
    assert!(said(&second).contains("moved 1 job(s)"), "{}", said(&second));
    assert_eq!(without_a_dlq.status.code(), Some(1));
    let depth = SqsQueue::new(queue_url, Some(dlq_url)).depth().await.expect("depth");
    assert_eq!((depth.pending, depth.dead_letter), (3, Some(0)));
}

#[sqlx::test(migrations = false)]
async fn verify_config_reports_every_problem_at_once_and_passes_good_settings(db: PgPool) {
    let url = database_url(&db);
    let bad = [("LOG_LEVEL", "loud"), ("RATE_LIMIT_ENABLED", "perhaps"), ("QUEUE_BACKEND", "sqs")];

    let broken = migrate("mysql://wrong", &["verify-config"], "", &bad);
    let unmigrated = migrate(&url, &["verify-config"], "", &[]);
    let applied = migrate(&url, &[], "", &[]);
    let good = migrate(&url, &["verify-config"], "", &[]);
    let unreachable = migrate("postgres://nobody@127.0.0.1:1/none", &["verify-config"], "", &[]);

    assert_eq!(broken.status.code(), Some(1));
    let report = said(&broken);
    for variable in ["DATABASE_URL", "LOG_LEVEL", "RATE_LIMIT_ENABLED", "QUEUE_URL"] {
        assert!(report.contains(&format!("PROBLEM  settings: {variable}")), "{variable} in {report}");
    }
    assert!(report.contains("4 problem(s)"), "{report}");
    assert_eq!(unmigrated.status.code(), Some(1));
    assert!(said(&unmigrated).contains("migration(s) not applied"), "{}", said(&unmigrated));
    assert_eq!(applied.status.code(), Some(0), "{}", said(&applied));
    assert_eq!(good.status.code(), Some(0), "{}", said(&good));
    assert!(said(&good).contains("every check passed"));
    assert_eq!(unreachable.status.code(), Some(1));
    assert!(said(&unreachable).contains("PROBLEM  database:"), "{}", said(&unreachable));
}
