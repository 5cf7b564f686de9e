//! The migrate function against a real Postgres: migrations apply once, and the superuser
//! bootstrap is idempotent and never promotes or overwrites an existing account.

use migrate::{MigrateError, SuperuserOutcome};
use secrecy::SecretString;
use shared::config::SuperuserSeed;
use sqlx::PgPool;

fn seed(email: &str, username: &str) -> SuperuserSeed {
    SuperuserSeed { email: email.into(), password: SecretString::from("Str0ng-Passw0rd!"), username: username.into() }
}

#[sqlx::test(migrations = false)]
async fn first_run_applies_every_migration_and_the_second_applies_none(pool: PgPool) {
    let first = migrate::run(&pool, None).await.expect("first run");
    assert_eq!(first.applied.len(), first.known);
    assert!(first.known >= 1);
    assert_eq!(first.superuser, SuperuserOutcome::NotConfigured);

    let second = migrate::run(&pool, None).await.expect("second run");
    assert!(second.applied.is_empty());
}

#[sqlx::test(migrations = false)]
async fn configured_superuser_is_created_once_verified_with_an_argon2id_hash(pool: PgPool) {
    let admin = seed("admin@example.com", "admin");

    let first = migrate::run(&pool, Some(&admin)).await.expect("first run");
    let second = migrate::run(&pool, Some(&admin)).await.expect("second run");

    assert_eq!(first.superuser, SuperuserOutcome::Created);
    assert_eq!(second.superuser, SuperuserOutcome::AlreadyExists);
    let (count, is_superuser, is_verified, hash): (i64, bool, bool, String) = sqlx::query_as(
        "select count(*) over (), is_superuser, is_verified, password_hash from users where email = 'admin@example.com'",
    )
    .fetch_one(&pool)
    .await
    .expect("user row");
    assert_eq!(count, 1);
    assert!(is_superuser && is_verified);
    assert!(hash.starts_with("$argon2id$"));
    assert!(shared::security::password::verify(SecretString::from("Str0ng-Passw0rd!"), hash).await.expect("verify"));
}

#[sqlx::test(migrations = false)]
async fn an_existing_superuser_keeps_its_password(pool: PgPool) {
    migrate::run(&pool, Some(&seed("admin@example.com", "admin"))).await.expect("first run");
    let before: String = sqlx::query_scalar("select password_hash from users").fetch_one(&pool).await.expect("hash");

    let changed =
        SuperuserSeed { password: SecretString::from("Another-Passw0rd!"), ..seed("admin@example.com", "admin") };
    migrate::run(&pool, Some(&changed)).await.expect("second run");

    let after: String = sqlx::query_scalar("select password_hash from users").fetch_one(&pool).await.expect("hash");
    assert_eq!(before, after);
}

#[sqlx::test(migrations = false)]
async fn an_ordinary_account_with_that_email_is_never_promoted(pool: PgPool) {
    migrate::run(&pool, None).await.expect("migrate");
    sqlx::query("insert into users (email, username, password_hash) values ('admin@example.com', 'squatter', 'x')")
        .execute(&pool)
        .await
        .expect("insert");

    let outcome = migrate::run(&pool, Some(&seed("admin@example.com", "admin"))).await;

    assert!(matches!(outcome, Err(MigrateError::Conflict(_))), "{outcome:?}");
    let promoted: bool = sqlx::query_scalar("select is_superuser from users").fetch_one(&pool).await.expect("row");
    assert!(!promoted);
}

#[sqlx::test(migrations = false)]
async fn a_taken_username_is_a_clear_error(pool: PgPool) {
    migrate::run(&pool, None).await.expect("migrate");
    sqlx::query("insert into users (email, username) values ('someone@example.com', 'admin')")
        .execute(&pool)
        .await
        .expect("insert");

    let outcome = migrate::run(&pool, Some(&seed("admin@example.com", "admin"))).await;

    match outcome {
        Err(MigrateError::Conflict(message)) => assert!(message.contains("FIRST_SUPERUSER_USERNAME")),
        other => panic!("expected a conflict, got {other:?}"),
    }
}

#[sqlx::test(migrations = false)]
async fn emails_must_be_stored_normalised(pool: PgPool) {
    migrate::run(&pool, None).await.expect("migrate");

    let mixed_case =
        sqlx::query("insert into users (email, username) values ('Admin@Example.com', 'x')").execute(&pool).await;

    assert!(mixed_case.is_err(), "the users_email_normalized check must reject it");
}
