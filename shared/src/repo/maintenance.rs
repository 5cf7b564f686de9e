//! Batched deletes of rows nobody needs any more, for the `cleanup-expired` job. Each call removes
//! at most `limit` rows so a backlog never becomes one long transaction; the job loops.

use sqlx::PgExecutor;

/// Registration holds past their end.
pub async fn delete_expired_registration_holds(db: impl PgExecutor<'_>, limit: i64) -> Result<u64, sqlx::Error> {
    sqlx::query!(
        "delete from registration_holds where id in (
            select id from registration_holds where expires_at < now() limit $1)",
        limit
    )
    .execute(db)
    .await
    .map(|done| done.rows_affected())
}

/// One-time tokens that expired or were used more than a day ago.
pub async fn delete_dead_one_time_tokens(db: impl PgExecutor<'_>, limit: i64) -> Result<u64, sqlx::Error> {
    sqlx::query!(
        "delete from one_time_tokens where token_hash in (
            select token_hash from one_time_tokens
             where expires_at < now() - interval '1 day' or used_at < now() - interval '1 day'
             limit $1)",
        limit
    )
    .execute(db)
    .await
    .map(|done| done.rows_affected())
}

/// Second-factor challenges past their end (a used one is worth nothing either, and goes once it
/// expires, minutes later).
pub async fn delete_dead_mfa_challenges(db: impl PgExecutor<'_>, limit: i64) -> Result<u64, sqlx::Error> {
    sqlx::query!(
        "delete from mfa_challenges where token_hash in (
            select token_hash from mfa_challenges where expires_at < now() limit $1)",
        limit
    )
    .execute(db)
    .await
    .map(|done| done.rows_affected())
}

/// TOTP enrolments never verified within a day: their secrets protect nothing.
pub async fn delete_stale_mfa_enrolments(db: impl PgExecutor<'_>, limit: i64) -> Result<u64, sqlx::Error> {
    sqlx::query!(
        "delete from mfa_factors where id in (
            select id from mfa_factors
             where activated_at is null and created_at < now() - interval '1 day' limit $1)",
        limit
    )
    .execute(db)
    .await
    .map(|done| done.rows_affected())
}

/// Sessions that expired, or were revoked more than `keep_revoked_days` ago (kept that long so a
/// user can still see recent sign-outs; their refresh tokens go by cascade).
pub async fn delete_dead_sessions(
    db: impl PgExecutor<'_>,
    keep_revoked_days: i32,
    limit: i64,
) -> Result<u64, sqlx::Error> {
    sqlx::query!(
        "delete from sessions where id in (
            select id from sessions
             where expires_at < now() or revoked_at < now() - make_interval(days => $1)
             limit $2)",
        keep_revoked_days,
        limit
    )
    .execute(db)
    .await
    .map(|done| done.rows_affected())
}

/// Rate-limit windows that started more than `older_than_seconds` ago.
pub async fn delete_old_rate_limit_windows(
    db: impl PgExecutor<'_>,
    older_than_seconds: u32,
    limit: i64,
) -> Result<u64, sqlx::Error> {
    sqlx::query!(
        "delete from rate_limits where (key, window_start) in (
            select key, window_start from rate_limits
            where window_start < now() - make_interval(secs => $2) limit $1)",
        limit,
        f64::from(older_than_seconds)
    )
    .execute(db)
    .await
    .map(|done| done.rows_affected())
}

/// Back-off counters of unknown addresses nobody tried for `idle_days`.
pub async fn delete_idle_unknown_email_logins(
    db: impl PgExecutor<'_>,
    idle_days: i32,
    limit: i64,
) -> Result<u64, sqlx::Error> {
    sqlx::query!(
        "delete from unknown_email_logins where email_hash in (
            select email_hash from unknown_email_logins where updated_at < now() - make_interval(days => $1) limit $2)",
        idle_days,
        limit
    )
    .execute(db)
    .await
    .map(|done| done.rows_affected())
}

/// Marks FAILURE the tasks STARTED more than `minutes` ago. By then the job's message is gone:
/// SQS redelivers a dying worker's message every visibility timeout (6 min) until the DLQ takes
/// it after 5 receives, and a re-run claims a STARTED task after 5 minutes. Without this, a task
/// whose every run crashed its worker would read STARTED forever.
pub async fn fail_abandoned_tasks(db: impl PgExecutor<'_>, minutes: i32, limit: i64) -> Result<u64, sqlx::Error> {
    sqlx::query!(
        "update tasks set status = 'FAILURE', finished_at = now(),
                          error = 'abandoned: every run stopped before finishing and the job was not retried again'
          where id in (select id from tasks where status = 'STARTED' and started_at < now() - make_interval(mins => $1)
                        limit $2)",
        minutes,
        limit
    )
    .execute(db)
    .await
    .map(|done| done.rows_affected())
}

/// Fails tasks still PENDING `hours` after they were stored: no sweep got them to a worker.
pub async fn fail_unqueued_tasks(db: impl PgExecutor<'_>, hours: i32, limit: i64) -> Result<u64, sqlx::Error> {
    sqlx::query!(
        "update tasks set status = 'FAILURE', finished_at = now(), error = 'never picked up: the queue did not take it'
          where id in (select id from tasks where status = 'PENDING' and created_at < now() - make_interval(hours => $1)
                        limit $2)",
        hours,
        limit
    )
    .execute(db)
    .await
    .map(|done| done.rows_affected())
}

/// Delivered mail older than `keep_days` (the scrubbed row still names the recipient).
pub async fn delete_sent_mail(db: impl PgExecutor<'_>, keep_days: i32, limit: i64) -> Result<u64, sqlx::Error> {
    sqlx::query!(
        "delete from outbox where id in (
            select id from outbox where sent_at < now() - make_interval(days => $1) limit $2)",
        keep_days,
        limit
    )
    .execute(db)
    .await
    .map(|done| done.rows_affected())
}

/// Mail never delivered and older than `keep_days` (the sweep gave up long before): it holds
/// links and addresses and will not be retried. Unpublished auth events are kept: the publisher
/// retries them until the bus takes them.
pub async fn delete_undeliverable_mail(
    db: impl PgExecutor<'_>,
    keep_days: i32,
    limit: i64,
) -> Result<u64, sqlx::Error> {
    sqlx::query!(
        "delete from outbox where id in (
            select id from outbox
             where sent_at is null and kind = 'email' and created_at < now() - make_interval(days => $1)
             limit $2)",
        keep_days,
        limit
    )
    .execute(db)
    .await
    .map(|done| done.rows_affected())
}

/// Processed-message ids older than SQS's longest retention (14 days): such a message can no
/// longer be redelivered.
pub async fn delete_old_processed_jobs(db: impl PgExecutor<'_>, limit: i64) -> Result<u64, sqlx::Error> {
    sqlx::query!(
        "delete from processed_jobs where id in (
            select id from processed_jobs where processed_at < now() - interval '15 days' limit $1)",
        limit
    )
    .execute(db)
    .await
    .map(|done| done.rows_affected())
}

/// WebSocket connections older than API Gateway's longest connection life (2 hours) whose
/// `$disconnect` never arrived. Only for AWS: the devserver's connections may live longer.
pub async fn forget_expired_ws_connections(db: impl PgExecutor<'_>, limit: i64) -> Result<u64, sqlx::Error> {
    super::ws_connections::forget_expired(db, limit).await
}

/// Finished background tasks older than `keep_days`.
pub async fn delete_finished_tasks(db: impl PgExecutor<'_>, keep_days: i32, limit: i64) -> Result<u64, sqlx::Error> {
    sqlx::query!(
        "delete from tasks where id in (
            select id from tasks
             where status in ('SUCCESS', 'FAILURE', 'REVOKED') and finished_at < now() - make_interval(days => $1)
             limit $2)",
        keep_days,
        limit
    )
    .execute(db)
    .await
    .map(|done| done.rows_affected())
}
