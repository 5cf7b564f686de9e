//! Per-account back-off after repeated failed logins (DESIGN §12): after 5 consecutive failures,
//! each further failure opens a window of 2^(n−5) seconds (n = failures so far), capped at
//! 15 minutes, during which attempts get 429 without checking the password. A success resets it.
//! Independent of `RATE_LIMIT_ENABLED`, and keyed by account, so rotating IPs does not help.

use chrono::{DateTime, Duration, Utc};

/// Failures allowed before back-off starts.
pub const FREE_FAILURES: i32 = 5;
/// Longest back-off window.
pub const MAX_WINDOW_SECONDS: i64 = 15 * 60;

/// The end of the back-off window after a failure that brings the count to `failures`.
pub fn locked_until_after_failure(failures: i32, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if failures < FREE_FAILURES {
        return None;
    }
    let exponent = u32::try_from(failures - FREE_FAILURES).unwrap_or(u32::MAX).min(20);
    let seconds = 2_i64.saturating_pow(exponent).min(MAX_WINDOW_SECONDS);
    Some(now + Duration::seconds(seconds))
}

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

    #[test]
    fn the_first_failures_are_free() {
        let now = Utc::now();
        for failures in 1..FREE_FAILURES {
            assert_eq!(locked_until_after_failure(failures, now), None);
        }
    }

    #[test]
    fn windows_double_from_one_second_and_stop_at_fifteen_minutes() {
        let now = Utc::now();
        let window = |failures| (locked_until_after_failure(failures, now).expect("locked") - now).num_seconds();
        assert_eq!(window(5), 1);
        assert_eq!(window(6), 2);
        assert_eq!(window(10), 32);
        assert_eq!(window(15), 900);
        assert_eq!(window(1000), 900);
    }

    #[test]
    fn retry_after_rounds_up_and_ends_with_the_window() {
        let now = Utc::now();
        assert_eq!(retry_after_seconds(Some(now + Duration::milliseconds(1500)), now), Some(2));
        assert_eq!(retry_after_seconds(Some(now - Duration::seconds(1)), now), None);
        assert_eq!(retry_after_seconds(None, now), None);
    }
}
