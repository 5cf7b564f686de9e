//! Google/Apple identities linked to accounts.

use sqlx::PgExecutor;
use uuid::Uuid;

/// The account signed in by `(provider, subject)`, if linked.
pub async fn find_user(db: impl PgExecutor<'_>, provider: &str, subject: &str) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar!("select user_id from oauth_identities where provider = $1 and subject = $2", provider, subject)
        .fetch_optional(db)
        .await
}

/// Links an identity to an account.
pub async fn link(
    db: impl PgExecutor<'_>,
    provider: &str,
    subject: &str,
    user_id: Uuid,
    email: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "insert into oauth_identities (provider, subject, user_id, email) values ($1, $2, $3, $4)",
        provider,
        subject,
        user_id,
        email
    )
    .execute(db)
    .await
    .map(drop)
}
