//! What the data export reads about one user besides the account row: linked identities, every
//! session (ended ones included) and the user's audit events. Each query is keyed by the user's
//! id, so an export can only ever hold the caller's own rows; token digests are never selected.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::domain::audit::UNATTRIBUTED_EVENTS;

/// A Google/Apple identity linked to the account.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IdentityRecord {
    /// `google` or `apple`.
    pub provider: String,
    /// The provider's stable id for the user.
    pub subject: String,
    /// The email the provider reported at link time.
    pub email: String,
    /// Linked at.
    pub created_at: DateTime<Utc>,
}

/// The account's links that can still be used, newest first.
pub async fn live_links(db: impl PgExecutor<'_>, user_id: Uuid) -> Result<Vec<LinkRecord>, sqlx::Error> {
    sqlx::query_as!(
        LinkRecord,
        "select purpose, email, created_at, expires_at from one_time_tokens
          where user_id = $1 and used_at is null and expires_at > now()
          order by created_at desc",
        user_id
    )
    .fetch_all(db)
    .await
}

/// A session, live or ended, without its refresh tokens.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRecord {
    /// Session id.
    pub id: Uuid,
    /// Opened at.
    pub created_at: DateTime<Utc>,
    /// Last refresh.
    pub last_used_at: DateTime<Utc>,
    /// Absolute end.
    pub expires_at: DateTime<Utc>,
    /// When it was ended early, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Why it was ended (`logout`, `evicted`, ...).
    pub revoke_reason: Option<String>,
    /// "Firefox on Linux".
    pub device_info: Option<String>,
    /// Address it was opened from.
    pub ip_address: Option<String>,
    /// Raw user agent.
    pub user_agent: Option<String>,
}

/// A mailed link that still works: what it is for and, for an email change, the address it
/// acts on. Never its digest.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LinkRecord {
    /// `verify_email`, `reset_password`, `change_email`, `undo_email_change`, …
    pub purpose: String,
    /// The new address of an email change, the old one of its undo link.
    pub email: Option<String>,
    /// When it was mailed.
    pub created_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// An audit event about the user.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRecord {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Event name.
    pub event: String,
    /// Client address.
    pub ip: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// Whether the attempt succeeded.
    pub success: bool,
    /// Non-secret facts.
    pub details: Value,
}

/// The user's linked identities, oldest first.
pub async fn identities(db: impl PgExecutor<'_>, user_id: Uuid) -> Result<Vec<IdentityRecord>, sqlx::Error> {
    sqlx::query_as!(
        IdentityRecord,
        "select provider, subject, email, created_at from oauth_identities
          where user_id = $1 order by created_at, provider, subject",
        user_id
    )
    .fetch_all(db)
    .await
}

/// Every session of the user, newest first.
pub async fn sessions(db: impl PgExecutor<'_>, user_id: Uuid) -> Result<Vec<SessionRecord>, sqlx::Error> {
    sqlx::query_as!(
        SessionRecord,
        "select id, created_at, last_used_at, expires_at, revoked_at, revoke_reason, device_info,
                host(ip_address) as ip_address, user_agent
           from sessions
          where user_id = $1
          order by created_at desc, id",
        user_id
    )
    .fetch_all(db)
    .await
}

/// The user's newest `limit` audit events, newest first, including what administrators did to
/// the account. Failed attempts, admin actions and the [`UNATTRIBUTED_EVENTS`] (mailed-link
/// clicks, deletion requests by address) can come from someone else (a wrong password, the
/// admin, whoever opened the link), so their address and agent — another person's data — are
/// left out.
pub async fn audit_events(db: impl PgExecutor<'_>, user_id: Uuid, limit: i64) -> Result<Vec<AuditRecord>, sqlx::Error> {
    sqlx::query_as!(
        AuditRecord,
        "select at, event,
                case when own then host(ip) end as ip,
                case when own then user_agent end as user_agent,
                success, details
           from (select *, user_id = $1 and success and event <> all($3) as own
                   from audit_log
                  where user_id = $1 or details->>'target_user_id' = $1::text) as mine
          order by at desc, id desc
          limit $2",
        user_id,
        limit,
        &UNATTRIBUTED_EVENTS[..] as _
    )
    .fetch_all(db)
    .await
}
