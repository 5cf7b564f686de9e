//! Holds left by registrations of addresses that already have an account (see the migration
//! that creates `registration_holds`): the username, and the submitted password's hash, for a
//! while, so such a registration looks like one of a free address afterwards too.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

/// Serialises, until the transaction ends, every registration and username change that could
/// claim `username`, so a hold and an account cannot both take it. Held as a transaction-level
/// advisory lock: no row needs to exist yet.
pub async fn lock_username(db: impl PgExecutor<'_>, username: &str) -> Result<(), sqlx::Error> {
    sqlx::query!("select pg_advisory_xact_lock(hashtextextended('registration-username:' || $1, 0))", username)
        .execute(db)
        .await
        .map(drop)
}

/// Holds `username` for `email` with `password_hash` until `expires_at`. The caller holds
/// [`lock_username`] and has checked [`held_by_another`].
pub async fn hold(
    db: impl PgExecutor<'_>,
    username: &str,
    email: &str,
    password_hash: &str,
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "insert into registration_holds (username, email, password_hash, expires_at) values ($1, $2, $3, $4)",
        username,
        email,
        password_hash,
        expires_at
    )
    .execute(db)
    .await
    .map(drop)
}

/// Whether a live hold of an email other than `email` has `username`.
pub async fn held_by_another(db: impl PgExecutor<'_>, username: &str, email: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!("select exists (select 1 from registration_holds where username = $1 and email <> $2 and expires_at > now()) as \"held!\"", username, email)
    .fetch_one(db)
    .await
}

/// The password hashes of `email`'s live holds, newest first, at most `limit`.
pub async fn password_hashes(db: impl PgExecutor<'_>, email: &str, limit: i64) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar!(
        "select password_hash from registration_holds where email = $1 and expires_at > now()
          order by expires_at desc limit $2",
        email,
        limit
    )
    .fetch_all(db)
    .await
}

/// Ends the holds of `user_id`'s address, once it is verified.
pub async fn release(db: impl PgExecutor<'_>, user_id: uuid::Uuid) -> Result<u64, sqlx::Error> {
    sqlx::query!("delete from registration_holds where email = (select email from users where id = $1)", user_id)
        .execute(db)
        .await
        .map(|done| done.rows_affected())
}
