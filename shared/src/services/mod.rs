//! Use cases: each function runs one request's rules against the repositories and ports, so the
//! HTTP handlers stay thin and every entry point (Lambda, devserver, tests) shares them.

pub mod login;
pub mod oauth;
pub mod passwords;
pub mod registration;
pub mod sessions;
pub mod verification;

mod outbox_mail;

use std::net::IpAddr;

/// Who is asking, for sessions and the audit log.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// Client address.
    pub ip: Option<IpAddr>,
    /// `User-Agent`, truncated.
    pub user_agent: Option<String>,
}
