//! Background tasks: submission, reads for the tasks API, and the state changes of a run.
//!
//! Every change of status is one conditional `update … returning`, so two workers, or a worker
//! and a cancelling administrator, cannot both win: a task is cancelled only while PENDING, run
//! only by whoever moved it to STARTED, and finished only while still STARTED.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgExecutor;
use uuid::Uuid;

/// A STARTED task whose run began longer ago than this may be claimed again: its worker died.
/// Above the worker's timeout (60 s in `template.yaml`) and below the time SQS takes to redeliver
/// (visibility timeout 6 min), so a redelivered message finds the task claimable.
pub const STALE_STARTED_MINUTES: i32 = 5;

/// Longest error message stored.
const MAX_ERROR_CHARS: i32 = 2000;

/// A `tasks` row.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Task {
    /// Primary key, the `task_id` clients see.
    pub id: Uuid,
    /// Canonical task name (`send_email`, ...).
    pub name: String,
    /// Positional arguments as submitted.
    pub args: Value,
    /// Keyword arguments as submitted.
    pub kwargs: Value,
    /// `PENDING`, `STARTED`, `SUCCESS`, `FAILURE` or `REVOKED` (a check constraint holds it to these).
    pub status: String,
    /// What the task produced, or its progress while it runs.
    pub result: Option<Value>,
    /// Why it failed.
    pub error: Option<String>,
    /// How many times a worker started it.
    pub attempts: i32,
    /// The administrator who submitted it; `None` once that account is gone.
    pub created_by: Option<Uuid>,
    /// Submission time.
    pub created_at: DateTime<Utc>,
    /// When the latest run began.
    pub started_at: Option<DateTime<Utc>>,
    /// When it reached SUCCESS, FAILURE or REVOKED.
    pub finished_at: Option<DateTime<Utc>>,
}

/// A checked query that reads whole [`Task`] rows: `before` + the columns + `after`, with binds.
macro_rules! query_tasks {
    ($before:literal, $after:literal $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            Task,
            $before + "id, name, args, kwargs, status, result, error, attempts, created_by, created_at, started_at, finished_at"
                + $after
            $(, $arg)*
        )
    };
}

/// Stores a new PENDING task.
pub async fn insert(
    db: impl PgExecutor<'_>,
    name: &str,
    args: &Value,
    kwargs: &Value,
    created_by: Uuid,
) -> Result<Task, sqlx::Error> {
    query_tasks!(
        "insert into tasks (name, args, kwargs, status, created_by) values ($1, $2, $3, 'PENDING', $4) returning ",
        "",
        name,
        args,
        kwargs,
        created_by,
    )
    .fetch_one(db)
    .await
}

/// One task by id.
pub async fn find(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<Task>, sqlx::Error> {
    query_tasks!("select ", " from tasks where id = $1", id).fetch_optional(db).await
}

/// One page of tasks, newest first, optionally only those in `status`.
pub async fn list(
    db: impl PgExecutor<'_>,
    status: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<Vec<Task>, sqlx::Error> {
    query_tasks!(
        "select ",
        " from tasks where ($1::text is null or status = $1) order by created_at desc, id desc limit $2 offset $3",
        status,
        limit,
        offset,
    )
    .fetch_all(db)
    .await
}

/// How many tasks there are, optionally only in `status`.
pub async fn count(db: impl PgExecutor<'_>, status: Option<&str>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!("select count(*) as \"count!\" from tasks where ($1::text is null or status = $1)", status)
        .fetch_one(db)
        .await
}

/// Tasks per status; statuses without tasks are absent.
pub async fn count_by_status(db: impl PgExecutor<'_>) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let rows = sqlx::query!(r#"select status, count(*) as "count!" from tasks group by status"#).fetch_all(db).await?;
    Ok(rows.into_iter().map(|row| (row.status, row.count)).collect())
}

/// Cancels a task that has not started. `None` when it does not exist or is past PENDING.
pub async fn cancel(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<Task>, sqlx::Error> {
    query_tasks!(
        "update tasks set status = 'REVOKED', finished_at = now() where id = $1 and status = 'PENDING' returning ",
        "",
        id,
    )
    .fetch_optional(db)
    .await
}

/// Takes a task for running: a PENDING one, or one STARTED more than
/// [`STALE_STARTED_MINUTES`] ago (its worker died). `None` when there is nothing to run:
/// unknown, cancelled, finished, or being run by a live worker.
pub async fn claim(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<Task>, sqlx::Error> {
    query_tasks!(
        "update tasks set status = 'STARTED', started_at = now(), attempts = attempts + 1
          where id = $1
            and (status = 'PENDING'
                 or (status = 'STARTED' and started_at < now() - make_interval(mins => $2)))
         returning ",
        "",
        id,
        STALE_STARTED_MINUTES,
    )
    .fetch_optional(db)
    .await
}

/// Gives a claimed task back (PENDING) after its run hit a database error, so the queue's retry
/// can claim it at once instead of waiting for it to go stale.
pub async fn release(db: impl PgExecutor<'_>, id: Uuid, attempt: i32) -> Result<bool, sqlx::Error> {
    let result = sqlx::query!(
        "update tasks set status = 'PENDING', started_at = null where id = $1 and status = 'STARTED' and attempts = $2",
        id,
        attempt
    )
    .execute(db)
    .await?;
    Ok(result.rows_affected() > 0)
}

/// Records the progress of a running task in `result`. False when the task is no longer
/// STARTED (cancelled or otherwise changed meanwhile): the run should stop.
/// Every write of a run names its `attempt`: a run that went stale and was claimed again by
/// another worker can no longer change the task.
pub async fn set_progress(
    db: impl PgExecutor<'_>,
    id: Uuid,
    attempt: i32,
    progress: &Value,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query!(
        "update tasks set result = $2 where id = $1 and status = 'STARTED' and attempts = $3",
        id,
        progress,
        attempt
    )
    .execute(db)
    .await?;
    Ok(result.rows_affected() > 0)
}

/// Marks a running task SUCCESS with `result`. False when it was no longer STARTED.
pub async fn finish_success(
    db: impl PgExecutor<'_>,
    id: Uuid,
    attempt: i32,
    result: &Value,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        "update tasks set status = 'SUCCESS', result = $2, error = null, finished_at = now()
          where id = $1 and status = 'STARTED' and attempts = $3",
        id,
        result,
        attempt
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Marks a running task FAILURE with `error`, keeping its last progress in `result`. False when
/// it was no longer STARTED.
pub async fn finish_failure(db: impl PgExecutor<'_>, id: Uuid, attempt: i32, error: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        "update tasks set status = 'FAILURE', error = left($2, $3), finished_at = now()
          where id = $1 and status = 'STARTED' and attempts = $4",
        id,
        error,
        MAX_ERROR_CHARS,
        attempt
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// PENDING tasks due for another queueing (first five minutes after they were stored, then 10,
/// 20, 40 and at most every 60 minutes), at most `limit`, each pushed back before it is returned:
/// what the outbox sweep queues again when the function that stored a task died before queueing
/// it. Tasks another sweep is claiming are skipped. One index range scan over PENDING tasks.
pub async fn claim_unqueued(db: impl PgExecutor<'_>, limit: i64) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        "update tasks
            set sweeps = sweeps + 1,
                next_sweep_at = now() + make_interval(mins => least(60, 10 * power(2, least(sweeps, 3))::int))
          where id in (select id from tasks
                        where status = 'PENDING' and next_sweep_at <= now()
                        order by next_sweep_at
                        limit $1
                          for update skip locked)
          returning id",
        limit
    )
    .fetch_all(db)
    .await
}

/// Marks a task that never reached the queue FAILURE with `error`; it will never run. False
/// when it was no longer PENDING.
pub async fn fail_pending(db: impl PgExecutor<'_>, id: Uuid, error: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        "update tasks set status = 'FAILURE', error = left($2, $3), finished_at = now()
          where id = $1 and status = 'PENDING'",
        id,
        error,
        MAX_ERROR_CHARS
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
}
