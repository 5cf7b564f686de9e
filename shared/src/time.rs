//! Timestamps in the one format clients see: RFC 3339, UTC, with a `Z` suffix (DESIGN §12).

use chrono::{DateTime, SecondsFormat, Utc};

/// Formats an instant as RFC 3339 UTC with microseconds and a `Z` suffix.
pub fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The current instant, formatted with [`rfc3339`].
pub fn now_rfc3339() -> String {
    rfc3339(Utc::now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn formats_as_utc_with_z_suffix() {
        let at = Utc.with_ymd_and_hms(2025, 7, 19, 17, 41, 11).single().expect("valid date");
        assert_eq!(rfc3339(at), "2025-07-19T17:41:11.000000Z");
    }
}
