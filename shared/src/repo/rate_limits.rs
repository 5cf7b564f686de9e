//! Fixed-window request counters: one upsert per check, exact under concurrency because the
//! increment happens inside Postgres.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

/// Counts one request for `key` in the window starting at `window_start`; returns the new count.
pub async fn hit(db: impl PgExecutor<'_>, key: &str, window_start: DateTime<Utc>) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar(
        "insert into rate_limits (key, window_start, count) values ($1, $2, 1)
         on conflict (key, window_start) do update set count = rate_limits.count + 1
         returning count",
    )
    .bind(key)
    .bind(window_start)
    .fetch_one(db)
    .await
}

/// The current count for `key` in the window, without counting.
pub async fn peek(db: impl PgExecutor<'_>, key: &str, window_start: DateTime<Utc>) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar("select coalesce((select count from rate_limits where key = $1 and window_start = $2), 0)")
        .bind(key)
        .bind(window_start)
        .fetch_one(db)
        .await
}
