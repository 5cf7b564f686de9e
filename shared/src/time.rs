//! Time in the forms this service uses: RFC 3339 UTC timestamps with a `Z` suffix, the one format
//! clients see, and Lambda invocation deadlines as monotonic instants.

use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, SecondsFormat, Utc};

/// Formats an instant as RFC 3339 UTC with microseconds and a `Z` suffix.
pub fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The current instant, formatted with [`rfc3339`].
pub fn now_rfc3339() -> String {
    rfc3339(Utc::now())
}

/// Values below this cannot be a deadline since the Unix epoch (they would be before 2001).
const EPOCH_2001_MS: u64 = 978_307_200_000;

/// Turns the invocation's `lambda-runtime-deadline-ms` into an [`Instant`] the jobs compare
/// against. Lambda sends milliseconds since the Unix epoch; cargo-lambda's local emulator sends
/// the function timeout in milliseconds instead, which is read as "that long from now" so local
/// invocations get their budget rather than none.
pub fn deadline_from(deadline_ms: u64) -> Instant {
    if deadline_ms < EPOCH_2001_MS {
        return Instant::now() + Duration::from_millis(deadline_ms);
    }
    let wall_clock = SystemTime::UNIX_EPOCH + Duration::from_millis(deadline_ms);
    let left = wall_clock.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO);
    Instant::now() + left
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn epoch_ms(at: SystemTime) -> u64 {
        at.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or_default()
    }

    #[test]
    fn a_past_deadline_leaves_no_time() {
        let deadline = deadline_from(epoch_ms(SystemTime::now() - Duration::from_secs(1)));
        assert!(deadline <= Instant::now());
    }

    #[test]
    fn an_epoch_deadline_and_the_emulators_timeout_both_give_the_budget() {
        let lambda = deadline_from(epoch_ms(SystemTime::now() + Duration::from_secs(300)));
        let emulator = deadline_from(600_000);
        let now = Instant::now();
        assert!(lambda > now + Duration::from_secs(298) && lambda <= now + Duration::from_secs(300));
        assert!(emulator > now + Duration::from_secs(598) && emulator <= now + Duration::from_secs(600));
    }

    #[test]
    fn formats_as_utc_with_z_suffix() {
        let at = Utc.with_ymd_and_hms(2025, 7, 19, 17, 41, 11).single().expect("valid date");
        assert_eq!(rfc3339(at), "2025-07-19T17:41:11.000000Z");
    }
}
