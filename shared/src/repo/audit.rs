//! The security audit log. Entries never contain passwords, tokens, cookies or full request
//! bodies; the `details` object carries only what an investigator needs.

use std::net::IpAddr;

use serde_json::Value;
use sqlx::PgExecutor;
use uuid::Uuid;

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

/// Appends an event.
pub async fn record(db: impl PgExecutor<'_>, event: &AuditEvent<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into audit_log (event, user_id, ip, user_agent, success, details) values ($1, $2, $3::inet, $4, $5, $6)",
    )
    .bind(event.event)
    .bind(event.user_id)
    .bind(event.ip.map(|ip| ip.to_string()))
    .bind(event.user_agent)
    .bind(event.success)
    .bind(&event.details)
    .execute(db)
    .await
    .map(drop)
}
