//! Ids of queue messages whose job succeeded, so a redelivered message is skipped.

use sqlx::PgExecutor;
use uuid::Uuid;

/// Whether message `id` was processed already (one primary-key lookup).
pub async fn contains(db: impl PgExecutor<'_>, id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!("select exists (select 1 from processed_jobs where id = $1) as \"done!\"", id)
        .fetch_one(db)
        .await
}

/// Records message `id` as processed; recording it twice is harmless.
pub async fn record(db: impl PgExecutor<'_>, id: Uuid, job: &str) -> Result<(), sqlx::Error> {
    sqlx::query!("insert into processed_jobs (id, job) values ($1, $2) on conflict (id) do nothing", id, job)
        .execute(db)
        .await
        .map(drop)
}
