//! The security audit log. Entries never contain passwords, tokens, cookies or full request
//! bodies; the `details` object carries only what an investigator needs.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgExecutor;
use uuid::Uuid;

use super::outbox::KIND_EVENT;
use crate::domain::events::AuthEvent;

/// One security event.
#[derive(Debug, Clone)]
pub struct AuditEvent<'a> {
    /// Stable event name, e.g. `login`, `register`, `verify_email`.
    pub event: &'a str,
    /// The user concerned, when known.
    pub user_id: Option<Uuid>,
    /// Client address.
    pub ip: Option<IpAddr>,
    /// Client user agent.
    pub user_agent: Option<&'a str>,
    /// Whether the attempt succeeded.
    pub success: bool,
    /// Extra, non-secret facts (`{"reason": "bad_password"}`).
    pub details: Value,
}

/// Appends an entry and, in the same statement, the auth event it announces to the outbox (so
/// both commit or neither does, whichever executor the caller passes).
pub async fn record(
    db: impl PgExecutor<'_>,
    event: &AuditEvent<'_>,
    announced: Option<&AuthEvent>,
) -> Result<(), sqlx::Error> {
    let payload = announced.map(serde_json::to_value).transpose().map_err(|error| sqlx::Error::Encode(error.into()))?;
    sqlx::query!(
        "with entry as (
            insert into audit_log (event, user_id, ip, user_agent, success, details)
            values ($1, $2, $3::text::inet, $4, $5, $6))
         insert into outbox (id, kind, payload) select $7::uuid, $8, $9::jsonb where $7::uuid is not null",
        event.event,
        event.user_id,
        event.ip.map(|ip| ip.to_string()),
        event.user_agent,
        event.success,
        &event.details,
        announced.map(|announced| announced.event_id),
        KIND_EVENT,
        payload
    )
    .execute(db)
    .await
    .map(drop)
}

/// A stored event, as the admin audit-log view lists it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditEntry {
    /// Sequence number.
    pub id: i64,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Event name.
    pub event: String,
    /// The user concerned (the acting administrator for `admin_*` events).
    pub user_id: Option<Uuid>,
    /// Client address.
    pub ip: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// Whether the attempt succeeded.
    pub success: bool,
    /// Non-secret facts.
    pub details: Value,
}

/// What the audit-log view is narrowed to; `None` means "any".
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only events of this user: by them, or by an administrator on their account.
    pub user_id: Option<Uuid>,
    /// Only this event name (exact).
    pub event: Option<String>,
    /// Only events at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Only events strictly before this instant.
    pub until: Option<DateTime<Utc>>,
}

/// A checked query over the events `filter` selects: `before` + the `where` clause + `after`
/// (unset filters match everything). The view and its count share this one clause.
macro_rules! query_filtered_events {
    ($query:ident!($($head:tt)*), $before:literal, $after:literal, $filter:expr $(, $arg:expr)* $(,)?) => {
        sqlx::$query!(
            $($head)*
            $before
                + " where ($1::uuid is null or user_id = $1 or details->>'target_user_id' = $1::text)
                     and ($2::text is null or event = $2)
                     and ($3::timestamptz is null or at >= $3)
                     and ($4::timestamptz is null or at < $4)"
                + $after,
            $filter.user_id,
            $filter.event.as_deref(),
            $filter.since,
            $filter.until
            $(, $arg)*
        )
    };
}

/// One page of the events matching `filter`, newest first.
pub async fn list(
    db: impl PgExecutor<'_>,
    filter: &AuditFilter,
    limit: i64,
    offset: i64,
) -> Result<Vec<AuditEntry>, sqlx::Error> {
    query_filtered_events!(
        query_as!(AuditEntry,),
        "select id, at, event, user_id, host(ip) as ip, user_agent, success, details from audit_log",
        " order by at desc, id desc limit $5 offset $6",
        filter,
        limit,
        offset,
    )
    .fetch_all(db)
    .await
}

/// How many events match `filter`.
pub async fn count(db: impl PgExecutor<'_>, filter: &AuditFilter) -> Result<i64, sqlx::Error> {
    query_filtered_events!(query_scalar!(), "select count(*) as \"count!\" from audit_log", "", filter)
        .fetch_one(db)
        .await
}
