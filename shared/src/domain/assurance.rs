//! Authentication assurance: how strongly a session's user was authenticated (NIST SP 800-63B
//! levels 1 and 2) and by which methods (RFC 8176 style `amr` values). Access tokens carry both,
//! and actions that could lock the owner out need a second factor checked a short while ago.

use chrono::{DateTime, Duration, Utc};

/// A first-factor password.
pub const PASSWORD: &str = "pwd";
/// A link or code mailed to the account's address.
pub const EMAIL: &str = "email";
/// A Google or Apple sign-in.
pub const OAUTH: &str = "oauth";
/// A TOTP code.
pub const TOTP: &str = "totp";
/// A single-use recovery code (stands in for the TOTP factor).
pub const RECOVERY_CODE: &str = "recovery_code";

/// How recently a second factor must have been checked for actions that weaken the account's
/// protection (removing a factor).
pub const RECENT_SECOND_FACTOR_MINUTES: i64 = 10;

/// A session's level and methods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assurance {
    /// 1: one factor; 2: a second factor was checked.
    pub aal: i16,
    /// The methods used, first factor first.
    pub amr: Vec<String>,
}

impl Assurance {
    /// A sign-in with one factor.
    pub fn first_factor(method: &str) -> Self {
        Self { aal: 1, amr: vec![method.to_owned()] }
    }

    /// The first factor's methods completed by a second factor.
    pub fn with_second_factor(first: Vec<String>, method: &str) -> Self {
        let mut amr = first;
        if !amr.iter().any(|used| used == method) {
            amr.push(method.to_owned());
        }
        Self { aal: 2, amr }
    }

    /// The `aal` claim: `aal1` or `aal2`.
    pub fn level(&self) -> &'static str {
        if self.aal >= 2 { "aal2" } else { "aal1" }
    }
}

/// Whether a second factor checked at `aal2_at` is recent enough at `now`.
pub fn second_factor_is_recent(aal2_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    aal2_at.is_some_and(|at| now - at <= Duration::minutes(RECENT_SECOND_FACTOR_MINUTES))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_factor_raises_the_level_once() {
        let first = Assurance::first_factor(PASSWORD);
        assert_eq!(first.level(), "aal1");
        let both = Assurance::with_second_factor(first.amr, TOTP);
        assert_eq!((both.level(), both.amr.clone()), ("aal2", vec!["pwd".to_owned(), "totp".to_owned()]));
        assert_eq!(Assurance::with_second_factor(both.amr, TOTP).amr.len(), 2);
    }

    #[test]
    fn recent_means_within_ten_minutes() {
        let now = Utc::now();
        assert!(second_factor_is_recent(Some(now - Duration::minutes(9)), now));
        assert!(!second_factor_is_recent(Some(now - Duration::minutes(11)), now));
        assert!(!second_factor_is_recent(None, now));
    }
}
