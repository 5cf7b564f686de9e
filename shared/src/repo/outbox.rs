//! The transactional outbox for mail and auth events: rows are written in the same transaction
//! as the change that causes them and delivered after commit. Once sent, the body (a mail may
//! contain a one-time link) is scrubbed so secrets do not linger in the table.

use sqlx::types::Json;
use sqlx::{PgExecutor, Postgres, Transaction};
use uuid::Uuid;

use crate::domain::events::AuthEvent;
use crate::mail::Mail;

/// Outbox kind for a rendered mail.
pub const KIND_EMAIL: &str = "email";
/// Outbox kind for an auth event (`domain::events::AuthEvent`), published by the worker.
pub const KIND_EVENT: &str = "event";

/// Queues `mail` for delivery; returns the outbox id (also the stable Message-ID).
pub async fn insert_mail(db: impl PgExecutor<'_>, mail: &Mail) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar!("insert into outbox (kind, payload) values ($1, $2) returning id", KIND_EMAIL, Json(mail) as _)
        .fetch_one(db)
        .await
}

/// Locks an unsent mail row for delivery. `None` when it is already sent or another worker
/// holds it, so two deliverers never send the same mail twice, and when it was scrubbed unsent
/// (the purge of its recipient's account; a late delivery job may still name it): nothing is
/// left to send.
pub async fn lock_unsent_mail(tx: &mut Transaction<'_, Postgres>, id: Uuid) -> Result<Option<Mail>, sqlx::Error> {
    let row = sqlx::query_scalar!(
        r#"select payload as "payload: Json<Mail>" from outbox
            where id = $1 and kind = $2 and sent_at is null and not (payload ? 'scrubbed')
              for update skip locked"#,
        id,
        KIND_EMAIL,
    )
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(|Json(mail)| mail))
}

/// Marks a mail sent and removes its bodies, keeping recipient and subject for support.
pub async fn mark_sent(db: impl PgExecutor<'_>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update outbox
            set sent_at = now(), attempts = attempts + 1, last_error = null,
                payload = jsonb_build_object('to', payload->'to', 'subject', payload->'subject', 'scrubbed', true)
          where id = $1",
        id
    )
    .execute(db)
    .await
    .map(drop)
}

/// Closes a mail unsent because its address is undeliverable, with `reason`; its bodies go as
/// on a sent mail, and the sweep never retries it.
pub async fn mark_dropped(db: impl PgExecutor<'_>, id: Uuid, reason: &str) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update outbox
            set sent_at = now(), dropped_reason = $2, last_error = null,
                payload = jsonb_build_object('to', payload->'to', 'subject', payload->'subject', 'scrubbed', true)
          where id = $1",
        id,
        reason
    )
    .execute(db)
    .await
    .map(drop)
}

/// Marks an auth event published. Its payload stays (it holds no secret), for an operator who
/// needs to replay it, until the cleanup removes sent rows.
pub async fn mark_event_sent(db: impl PgExecutor<'_>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update outbox set sent_at = now(), attempts = attempts + 1, last_error = null where id = $1 and kind = 'event'",
        id
    )
    .execute(db)
    .await
    .map(drop)
}

/// Records a failed attempt; the row stays unsent for a later retry.
pub async fn record_failure(db: impl PgExecutor<'_>, id: Uuid, error: &str) -> Result<(), sqlx::Error> {
    sqlx::query!("update outbox set attempts = attempts + 1, last_error = left($2, 1000) where id = $1", id, error)
        .execute(db)
        .await
        .map(drop)
}

/// Locks up to `limit` unsent auth events, those tried least first and then oldest first (one the
/// bus keeps refusing does not hold up the rest), skipping rows another publisher holds.
pub async fn lock_unsent_events(
    tx: &mut sqlx::PgConnection,
    limit: i64,
) -> Result<Vec<(Uuid, AuthEvent)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"select id, payload as "payload: Json<AuthEvent>" from outbox
            where kind = 'event' and sent_at is null
            order by attempts, created_at, id
            limit $1
              for update skip locked"#,
        limit
    )
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows.into_iter().map(|row| (row.id, row.payload.0)).collect())
}

/// Whether any auth event waits to be published (the sweep then queues a publisher).
pub async fn has_unsent_events(db: impl PgExecutor<'_>) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select exists (select 1 from outbox where kind = 'event' and sent_at is null) as "waiting!""#
    )
    .fetch_one(db)
    .await
}

/// Claims up to `limit` unsent mails whose pause is over and that are younger than
/// `give_up_hours`, pushing each one's next attempt back (1, 2, 4 … at most 60 minutes, by how
/// often it was swept): what the outbox sweep queues again. Rows another sweep is claiming are
/// skipped.
pub async fn claim_for_retry(
    db: impl PgExecutor<'_>,
    give_up_hours: i32,
    limit: i64,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        "update outbox
            set sweeps = sweeps + 1,
                next_attempt_at = now() + make_interval(mins => least(60, power(2, least(sweeps, 6))::int))
          where id in (select id from outbox
                        where sent_at is null and kind = $1 and next_attempt_at <= now()
                          and created_at > now() - make_interval(hours => $2)
                        order by next_attempt_at
                        limit $3
                          for update skip locked)
          returning id",
        KIND_EMAIL,
        give_up_hours,
        limit
    )
    .fetch_all(db)
    .await
}
