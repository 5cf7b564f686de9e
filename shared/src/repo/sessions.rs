//! Sessions and their refresh tokens.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::users::User;
use crate::domain::assurance::Assurance;
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
    assurance: &Assurance,
) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar!(
        "insert into sessions (user_id, expires_at, ip_address, user_agent, device_info, aal, amr, aal2_at)
         values ($1, $2, $3::text::inet, $4, $5, $6::int2, $7, case when $6::int2 = 2 then now() end) returning id",
        user_id,
        expires_at,
        origin.ip.map(|ip| ip.to_string()),
        origin.user_agent.as_deref(),
        origin.device_info.as_deref(),
        assurance.aal,
        &assurance.amr
    )
    .fetch_one(db)
    .await
}

/// Revokes the user's oldest live sessions beyond the newest `keep`; returns how many.
pub async fn evict_oldest(db: impl PgExecutor<'_>, user_id: Uuid, keep: i64) -> Result<u64, sqlx::Error> {
    sqlx::query!(
        "update sessions set revoked_at = now(), revoke_reason = 'evicted'
          where id in (select id from sessions
                        where user_id = $1 and revoked_at is null and expires_at > now()
                        order by created_at desc, id
                        offset $2)",
        user_id,
        keep
    )
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
    sqlx::query!("insert into refresh_tokens (token_hash, session_id) values ($1, $2)", &hash[..], session_id)
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
    sqlx::query_as!(
        User,
        "select u.id, u.email, u.username, u.password_hash, u.is_verified, u.is_superuser, u.is_active,
                u.created_at, u.failed_login_count, u.locked_until,
                (select provider from oauth_identities o where o.user_id = u.id order by o.created_at limit 1)
                  as oauth_provider
           from sessions s join users u on u.id = s.user_id
          where s.id = $1 and s.user_id = $2 and s.revoked_at is null and s.expires_at > now() and u.is_active",
        session_id,
        user_id
    )
    .fetch_optional(db)
    .await
}

/// Revokes one session.
pub async fn revoke(db: impl PgExecutor<'_>, session_id: Uuid, reason: &str) -> Result<bool, sqlx::Error> {
    sqlx::query!(
        "update sessions set revoked_at = now(), revoke_reason = $2 where id = $1 and revoked_at is null",
        session_id,
        reason
    )
    .execute(db)
    .await
    .map(|done| done.rows_affected() == 1)
}

/// A refresh token with the state of its session and user, read in one indexed lookup.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefreshToken {
    /// The session the token belongs to.
    pub session_id: Uuid,
    /// The session's user.
    pub user_id: Uuid,
    /// The user's email (for the access token's claims).
    pub email: String,
    /// Set once the token was exchanged for its successor.
    pub rotated_at: Option<DateTime<Utc>>,
    /// The session is usable: not revoked, not expired, and its account active.
    pub session_live: bool,
    /// The session's assurance level, kept by every access token refreshed from it.
    pub aal: i16,
    /// The session's authentication methods.
    pub amr: Vec<String>,
}

impl RefreshToken {
    /// The session's assurance, for the access tokens refreshed from it.
    pub fn assurance(&self) -> Assurance {
        Assurance { aal: self.aal, amr: self.amr.clone() }
    }
}

/// The refresh lookup: primary-key probes only, so its cost does not depend on how many
/// sessions or tokens exist (public so a test can check the plan).
pub const FIND_REFRESH_TOKEN_SQL: &str = "select s.id as session_id, s.user_id, u.email, r.rotated_at,
        (s.revoked_at is null and s.expires_at > now() and u.is_active) as session_live, s.aal, s.amr
   from refresh_tokens r
   join sessions s on s.id = r.session_id
   join users u on u.id = s.user_id
  where r.token_hash = $1";

/// Looks a presented refresh token up by digest (primary key: O(1) whatever the table size).
pub async fn find_refresh_token(
    db: impl PgExecutor<'_>,
    hash: &TokenHash,
) -> Result<Option<RefreshToken>, sqlx::Error> {
    sqlx::query_as::<_, RefreshToken>(FIND_REFRESH_TOKEN_SQL).bind(&hash[..]).fetch_optional(db).await
}

/// Marks a token rotated. `false` when it already was: a concurrent refresh won the race.
pub async fn mark_rotated(db: impl PgExecutor<'_>, hash: &TokenHash) -> Result<bool, sqlx::Error> {
    sqlx::query!("update refresh_tokens set rotated_at = now() where token_hash = $1 and rotated_at is null", &hash[..])
        .execute(db)
        .await
        .map(|done| done.rows_affected() == 1)
}

/// Records that a session was just used.
pub async fn touch(db: impl PgExecutor<'_>, session_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!("update sessions set last_used_at = now() where id = $1", session_id).execute(db).await.map(drop)
}

/// A live session as the session list shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionView {
    /// Session id.
    pub id: Uuid,
    /// Opened at.
    pub created_at: DateTime<Utc>,
    /// Last refresh.
    pub last_used_at: DateTime<Utc>,
    /// Absolute end.
    pub expires_at: DateTime<Utc>,
    /// "Firefox on Linux".
    pub device_info: Option<String>,
    /// Address it was opened from.
    pub ip_address: Option<String>,
    /// Raw user agent.
    pub user_agent: Option<String>,
    /// Assurance level: 1, or 2 once a second factor was checked.
    pub aal: i16,
}

/// The user's live sessions, newest first (uses the partial index on live sessions).
pub async fn list_live(db: impl PgExecutor<'_>, user_id: Uuid) -> Result<Vec<SessionView>, sqlx::Error> {
    sqlx::query_as!(
        SessionView,
        "select id, created_at, last_used_at, expires_at, device_info, host(ip_address) as ip_address, user_agent, aal
           from sessions
          where user_id = $1 and revoked_at is null and expires_at > now()
          order by created_at desc, id",
        user_id
    )
    .fetch_all(db)
    .await
}

/// Revokes one of the user's own sessions; `false` when there is no such live session of theirs
/// (another user's id included, so ownership is never revealed).
pub async fn revoke_own(db: impl PgExecutor<'_>, user_id: Uuid, session_id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query!(
        "update sessions set revoked_at = now(), revoke_reason = 'revoked_by_user'
          where id = $1 and user_id = $2 and revoked_at is null",
        session_id,
        user_id
    )
    .execute(db)
    .await
    .map(|done| done.rows_affected() == 1)
}

/// Revokes every live session of the user except `keep` (all when `None`); returns how many.
pub async fn revoke_all_except(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    keep: Option<Uuid>,
    reason: &str,
) -> Result<u64, sqlx::Error> {
    sqlx::query!(
        "update sessions set revoked_at = now(), revoke_reason = $3
          where user_id = $1 and revoked_at is null and expires_at > now() and ($2::uuid is null or id <> $2)",
        user_id,
        keep,
        reason
    )
    .execute(db)
    .await
    .map(|done| done.rows_affected())
}

/// A live session's assurance and when its second factor was last checked.
pub async fn assurance(
    db: impl PgExecutor<'_>,
    session_id: Uuid,
) -> Result<Option<(Assurance, Option<DateTime<Utc>>)>, sqlx::Error> {
    let row = sqlx::query!(
        "select aal, amr, aal2_at from sessions where id = $1 and revoked_at is null and expires_at > now()",
        session_id
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|row| (Assurance { aal: row.aal, amr: row.amr }, row.aal2_at)))
}

/// Raises a live session to level 2 after a second factor (`method`) was checked now; returns
/// its new assurance (`None` when the session has ended).
pub async fn raise_to_aal2(
    db: impl PgExecutor<'_>,
    session_id: Uuid,
    method: &str,
) -> Result<Option<Assurance>, sqlx::Error> {
    let row = sqlx::query!(
        "update sessions
            set aal = 2, aal2_at = now(),
                amr = case when $2 = any(amr) then amr else array_append(amr, $2) end
          where id = $1 and revoked_at is null and expires_at > now()
         returning aal, amr",
        session_id,
        method
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|row| Assurance { aal: row.aal, amr: row.amr }))
}
