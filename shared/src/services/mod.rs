//! Use cases: each function runs one request's rules against the repositories and ports, so the
//! HTTP handlers stay thin and every entry point (Lambda, devserver, tests) shares them.

pub mod admin;
pub mod deletion;
pub mod email_change;
pub mod export;
pub mod invitations;
pub mod login;
pub mod magic_link;
pub mod mail_feedback;
pub mod mfa;
pub mod oauth;
pub mod operator;
pub mod passwords;
pub mod rate_limits;
pub mod registration;
pub mod sessions;
pub mod tasks;
pub mod uniform_latency;
pub mod users;
pub mod verification;
pub mod ws;

mod outbox_mail;

use std::net::IpAddr;

use serde_json::Value;
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::domain::events;
use crate::error::ApiError;
use crate::repo::audit::{self, AuditEvent};

/// What a single-use token from a mail did. The seed answers an unknown, expired or used token
/// with 200 and a false flag, not an error, so it is an outcome here too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenUse<T = ()> {
    /// The token was valid and is now spent; carries what the action produced.
    Accepted(T),
    /// Unknown, expired, already used or malformed: nothing changed.
    Invalid,
}

/// Who is asking, for sessions and the audit log.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// Client address.
    pub ip: Option<IpAddr>,
    /// `User-Agent`, truncated.
    pub user_agent: Option<String>,
}

impl Caller {
    /// Appends a security event about this caller to the audit log (never secrets in `details`),
    /// with the auth event it announces (`domain::events`), in the same statement.
    pub(crate) async fn audit(
        &self,
        db: impl PgExecutor<'_>,
        event: &str,
        user_id: Option<Uuid>,
        success: bool,
        details: Value,
    ) -> Result<(), ApiError> {
        let announced = events::from_audit(event, success, user_id, &details, chrono::Utc::now());
        let entry =
            AuditEvent { event, user_id, ip: self.ip, user_agent: self.user_agent.as_deref(), success, details };
        Ok(audit::record(db, &entry, announced.as_ref()).await?)
    }
}
