//! Sessions and their refresh tokens.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::users::User;
use crate::security::tokens::TokenHash;

/// Where a session was opened from, for the session list and the audit log.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// Client address.
    pub ip: Option<IpAddr>,
    /// Raw `User-Agent`, truncated.
    pub user_agent: Option<String>,
    /// Short human-readable device description derived from the user agent.
    pub device_info: Option<String>,
}

/// Opens a session lasting until `expires_at`.
pub async fn create(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    expires_at: DateTime<Utc>,
    origin: &Origin,
) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar(
        "insert into sessions (user_id, expires_at, ip_address, user_agent, device_info)
         values ($1, $2, $3::inet, $4, $5) returning id",
    )
    .bind(user_id)
    .bind(expires_at)
    .bind(origin.ip.map(|ip| ip.to_string()))
    .bind(origin.user_agent.as_deref())
    .bind(origin.device_info.as_deref())
    .fetch_one(db)
    .await
}

/// Revokes the user's oldest live sessions beyond the newest `keep`; returns how many.
pub async fn evict_oldest(db: impl PgExecutor<'_>, user_id: Uuid, keep: i64) -> Result<u64, sqlx::Error> {
    sqlx::query(
        "update sessions set revoked_at = now(), revoke_reason = 'evicted'
          where id in (select id from sessions
                        where user_id = $1 and revoked_at is null and expires_at > now()
                        order by created_at desc, id
                        offset $2)",
    )
    .bind(user_id)
    .bind(keep)
    .execute(db)
    .await
    .map(|done| done.rows_affected())
}

/// Stores the digest of a refresh token for `session_id`.
pub async fn insert_refresh_token(
    db: impl PgExecutor<'_>,
    session_id: Uuid,
    hash: &TokenHash,
) -> Result<(), sqlx::Error> {
    sqlx::query("insert into refresh_tokens (token_hash, session_id) values ($1, $2)")
        .bind(&hash[..])
        .bind(session_id)
        .execute(db)
        .await
        .map(drop)
}

/// The user of a live session (not revoked, not expired, account active) — the check that makes
/// logout and revocation take effect on the very next request. One indexed join, no scan.
pub async fn live_session_user(
    db: impl PgExecutor<'_>,
    session_id: Uuid,
    user_id: Uuid,
) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as::<_, User>(
        "select u.id, u.email, u.username, u.password_hash, u.is_verified, u.is_superuser, u.is_active,
                u.created_at, u.failed_login_count, u.locked_until
           from sessions s join users u on u.id = s.user_id
          where s.id = $1 and s.user_id = $2 and s.revoked_at is null and s.expires_at > now() and u.is_active",
    )
    .bind(session_id)
    .bind(user_id)
    .fetch_optional(db)
    .await
}

/// Revokes one session.
pub async fn revoke(db: impl PgExecutor<'_>, session_id: Uuid, reason: &str) -> Result<bool, sqlx::Error> {
    sqlx::query("update sessions set revoked_at = now(), revoke_reason = $2 where id = $1 and revoked_at is null")
        .bind(session_id)
        .bind(reason)
        .execute(db)
        .await
        .map(|done| done.rows_affected() == 1)
}
