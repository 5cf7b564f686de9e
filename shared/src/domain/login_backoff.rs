//! Per-account back-off after repeated failed logins: after 5 consecutive failures,
//! each further failure opens a window of 2^(n−5) seconds (n = failures so far), capped at
//! 15 minutes, during which attempts get 429 without checking the password. A success resets it,
//! and 30 days without an attempt forget it.
//! Independent of `RATE_LIMIT_ENABLED`, and keyed by account, so rotating IPs does not help.
//! The window itself is computed atomically in SQL (`repo::users::claim_login_attempt`) so that
//! concurrent attempts cannot race past it.

use chrono::{DateTime, Utc};

/// Failures allowed before back-off starts.
pub const FREE_FAILURES: i32 = 5;
/// Longest back-off window.
pub const MAX_WINDOW_SECONDS: i64 = 15 * 60;
/// Failures are forgotten after this many days without an attempt, on accounts and unknown
/// addresses alike (the cleanup job deletes idle unknown-address counters after as long).
pub const FORGET_AFTER_DAYS: i32 = 30;

/// The back-off rule as the SQL that applies it atomically takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffRule {
    /// Failures allowed before back-off starts.
    pub free_failures: i32,
    /// Longest back-off window.
    pub max_window_seconds: i64,
    /// Days without an attempt after which the failures are forgotten.
    pub forget_after_days: i32,
}

/// The rule in force.
pub const RULE: BackoffRule = BackoffRule {
    free_failures: FREE_FAILURES,
    max_window_seconds: MAX_WINDOW_SECONDS,
    forget_after_days: FORGET_AFTER_DAYS,
};

/// Seconds until a login may be attempted again, if the account is inside a back-off window.
pub fn retry_after_seconds(locked_until: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Option<u64> {
    let until = locked_until?;
    if until <= now {
        return None;
    }
    let millis = (until - now).num_milliseconds();
    Some(u64::try_from((millis + 999) / 1000).unwrap_or(1).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn retry_after_rounds_up_and_ends_with_the_window() {
        let now = Utc::now();
        assert_eq!(retry_after_seconds(Some(now + Duration::milliseconds(1500)), now), Some(2));
        assert_eq!(retry_after_seconds(Some(now - Duration::seconds(1)), now), None);
        assert_eq!(retry_after_seconds(None, now), None);
    }
}
