//! Fixed-window request counters, exact under concurrency because every increment happens inside
//! Postgres.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

/// Counts one request for `key` in the window starting at `window_start`; returns the new count.
pub async fn hit(db: impl PgExecutor<'_>, key: &str, window_start: DateTime<Utc>) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar!(
        "insert into rate_limits (key, window_start, count) values ($1, $2, 1)
         on conflict (key, window_start) do update set count = rate_limits.count + 1
         returning count",
        key,
        window_start
    )
    .fetch_one(db)
    .await
}

/// Reserves `units` of the window's budget of `max` for `key`, all or nothing: returns the new
/// count, or `None` (and the count is unchanged) when fewer than `units` are left. `units` ≤ `max`.
/// Written as `count <= max - units` so a limit near `i32::MAX` cannot overflow the sum.
pub async fn reserve(
    db: impl PgExecutor<'_>,
    key: &str,
    window_start: DateTime<Utc>,
    units: i32,
    max: i32,
) -> Result<Option<i32>, sqlx::Error> {
    sqlx::query_scalar!(
        "insert into rate_limits (key, window_start, count) values ($1, $2, $3)
         on conflict (key, window_start) do update set count = rate_limits.count + excluded.count
          where rate_limits.count <= $4 - excluded.count
         returning count",
        key,
        window_start,
        units,
        max
    )
    .fetch_optional(db)
    .await
}

/// The current counts of several keys in one window, without counting; absent keys are 0.
pub async fn peek_many(
    db: impl PgExecutor<'_>,
    keys: &[String],
    window_start: DateTime<Utc>,
) -> Result<Vec<(String, i32)>, sqlx::Error> {
    let rows = sqlx::query!(
        "select key, count from rate_limits where key = any($1) and window_start = $2",
        keys,
        window_start
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|row| (row.key, row.count)).collect())
}
