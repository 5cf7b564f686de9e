//! Queries on `users` needed so far: the superuser bootstrap. Registration and the users API add
//! theirs here.

use sqlx::PgExecutor;
use uuid::Uuid;

/// The fields of a user the bootstrap has to reason about.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserFlags {
    /// Primary key.
    pub id: Uuid,
    /// Whether the account already has superuser rights.
    pub is_superuser: bool,
}

/// Finds a user by email (emails are stored lowercased, so the caller passes a lowercased one).
pub async fn find_flags_by_email(db: impl PgExecutor<'_>, email: &str) -> Result<Option<UserFlags>, sqlx::Error> {
    sqlx::query_as::<_, UserFlags>("select id, is_superuser from users where email = $1")
        .bind(email)
        .fetch_optional(db)
        .await
}

/// Inserts a verified, active superuser. Returns `None` when the email or username is already
/// taken (a concurrent bootstrap won the race), so the caller can re-read instead of failing.
pub async fn insert_superuser(
    db: impl PgExecutor<'_>,
    email: &str,
    username: &str,
    password_hash: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "insert into users (email, username, password_hash, is_verified, is_superuser, is_active, password_changed_at)
         values ($1, $2, $3, true, true, true, now())
         on conflict do nothing
         returning id",
    )
    .bind(email)
    .bind(username)
    .bind(password_hash)
    .fetch_optional(db)
    .await
}
