//! `migrate`: applies the embedded migrations, then creates the first superuser when configured.
//!
//! Runs as a deploy step (the CLI locally and in CI, a Lambda invoked after `sam deploy`), never at
//! the cold start of a request-serving function. Both steps are idempotent: running them again
//! applies nothing new and creates nobody.
//!
//! The same binary carries the operator's commands ([`operator`]): `create-superuser`,
//! `revoke-sessions`, `purge-now`, `redrive-dlq` and `verify-config`.

pub mod operator;
mod verify_config;

use secrecy::SecretString;
use serde::Serialize;
use shared::config::SuperuserSeed;
use shared::repo::users;
use shared::security::password;
use sqlx::PgPool;
use sqlx::migrate::Migrate;

/// What a run did, returned by the Lambda and printed by the CLI.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Summary {
    /// Versions of the migrations applied by this run (empty when already up to date).
    pub applied: Vec<i64>,
    /// Versions known to this binary.
    pub known: usize,
    /// What happened to the configured superuser.
    pub superuser: SuperuserOutcome,
}

/// Outcome of the superuser bootstrap.
#[derive(Debug, Serialize, PartialEq, Eq, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum SuperuserOutcome {
    /// `FIRST_SUPERUSER_EMAIL` is not set.
    NotConfigured,
    /// The account was created.
    Created,
    /// A superuser with that email already exists; nothing was changed (its password included).
    AlreadyExists,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// A migration could not be applied (or the applied ones differ from the embedded ones).
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// The database could not be reached or a query failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The superuser password could not be hashed.
    #[error(transparent)]
    Password(#[from] password::PasswordError),
    /// The queue could not be reached (the operator's `redrive-dlq`).
    #[error(transparent)]
    Queue(#[from] shared::ports::QueueError),
    /// The configured email or username belongs to an ordinary account. Promoting it would hand
    /// superuser rights to whoever registered that address first, so the bootstrap refuses.
    #[error("{0}")]
    Conflict(String),
}

/// Applies pending migrations and bootstraps the superuser.
pub async fn run(pool: &PgPool, superuser: Option<&SuperuserSeed>) -> Result<Summary, MigrateError> {
    let applied = apply_migrations(pool).await?;
    let superuser = match superuser {
        None => SuperuserOutcome::NotConfigured,
        Some(seed) => bootstrap_superuser(pool, seed).await?,
    };
    Ok(Summary { applied, known: shared::MIGRATOR.iter().count(), superuser })
}

async fn apply_migrations(pool: &PgPool) -> Result<Vec<i64>, MigrateError> {
    let before = applied_versions(pool).await?;
    // A migration may rewrite a table or build an index: the request-sized statement timeout of
    // the pool's sessions (shared::db::SESSION_LIMITS) does not apply to it.
    let mut conn = pool.acquire().await?;
    sqlx::query("set statement_timeout = 0").execute(&mut *conn).await?;
    shared::MIGRATOR.run(&mut *conn).await?;
    drop(conn);
    let after = applied_versions(pool).await?;
    Ok(after.into_iter().filter(|version| !before.contains(version)).collect())
}

/// How many of this binary's migrations the database has not applied yet.
pub async fn pending_migrations(pool: &PgPool) -> Result<usize, MigrateError> {
    let applied = applied_versions(pool).await?;
    Ok(shared::MIGRATOR.iter().filter(|migration| !applied.contains(&migration.version)).count())
}

async fn applied_versions(pool: &PgPool) -> Result<Vec<i64>, MigrateError> {
    let mut conn = pool.acquire().await?;
    conn.ensure_migrations_table(&shared::MIGRATOR.table_name).await?;
    let applied = conn.list_applied_migrations(&shared::MIGRATOR.table_name).await?;
    Ok(applied.into_iter().map(|m| m.version).collect())
}

/// Creates the superuser unless it exists. Never changes an existing account.
pub async fn bootstrap_superuser(pool: &PgPool, seed: &SuperuserSeed) -> Result<SuperuserOutcome, MigrateError> {
    if let Some(existing) = users::find_flags_by_email(pool, &seed.email).await? {
        return existing_outcome(existing.is_superuser);
    }
    let hash =
        password::hash(SecretString::from(secrecy::ExposeSecret::expose_secret(&seed.password).to_owned())).await?;
    if users::insert_superuser(pool, &seed.email, &seed.username, &hash).await?.is_some() {
        tracing::info!(username = %seed.username, "superuser created");
        return Ok(SuperuserOutcome::Created);
    }
    // The insert hit a unique constraint: a concurrent run created the account, or the username
    // belongs to someone else.
    match users::find_flags_by_email(pool, &seed.email).await? {
        Some(existing) => existing_outcome(existing.is_superuser),
        None => Err(MigrateError::Conflict(format!(
            "FIRST_SUPERUSER_USERNAME {:?} is taken by another account; choose another username",
            seed.username
        ))),
    }
}

fn existing_outcome(is_superuser: bool) -> Result<SuperuserOutcome, MigrateError> {
    if is_superuser {
        Ok(SuperuserOutcome::AlreadyExists)
    } else {
        Err(MigrateError::Conflict(
            "FIRST_SUPERUSER_EMAIL belongs to an existing ordinary account; refusing to promote it".into(),
        ))
    }
}
