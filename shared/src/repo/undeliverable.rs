//! `undeliverable_addresses`: addresses SES reported as hard-bounced or complained about, keyed
//! by the SHA-256 of the address as the application normalises it (`normalized_address`, the
//! function the purge's indexes use), computed here in SQL on both sides of every comparison.

use sqlx::PgExecutor;

/// Marks `addresses` undeliverable for `reason` (a later report updates the reason and detail and
/// counts); returns how many addresses were new.
pub async fn mark(
    db: impl PgExecutor<'_>,
    addresses: &[String],
    reason: &str,
    detail: &str,
) -> Result<u64, sqlx::Error> {
    let new = sqlx::query_scalar!(
        r#"insert into undeliverable_addresses as known (email_digest, reason, detail)
           select sha256(convert_to(normalized_address(address), 'UTF8')), $2, $3 from unnest($1::text[]) as address
           on conflict (email_digest) do update
              set reason = excluded.reason, detail = excluded.detail,
                  last_reported_at = now(), reports = known.reports + 1
           returning (xmax = 0) as "inserted!""#,
        addresses,
        reason,
        detail
    )
    .fetch_all(db)
    .await?;
    Ok(new.into_iter().filter(|inserted| *inserted).count() as u64)
}

/// Why mail to `address` is not sent, if it is not.
pub async fn reason(db: impl PgExecutor<'_>, address: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar!(
        "select reason from undeliverable_addresses where email_digest = sha256(convert_to(normalized_address($1), 'UTF8'))",
        address
    )
    .fetch_optional(db)
    .await
}

/// Lets mail go to `address` again; false when it was not marked.
pub async fn clear(db: impl PgExecutor<'_>, address: &str) -> Result<bool, sqlx::Error> {
    let cleared = sqlx::query!(
        "delete from undeliverable_addresses where email_digest = sha256(convert_to(normalized_address($1), 'UTF8'))",
        address
    )
    .execute(db)
    .await?;
    Ok(cleared.rows_affected() > 0)
}

/// Forgets `addresses` (the purge erases every trace of an account's addresses).
pub async fn forget(db: impl PgExecutor<'_>, addresses: &[String]) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "delete from undeliverable_addresses
          where email_digest in (select sha256(convert_to(normalized_address(address), 'UTF8')) from unnest($1::text[]) as address)",
        addresses
    )
    .execute(db)
    .await
    .map(drop)
}
