//! Account deletion rules (GDPR): when a confirmed deletion happens, which reminder is due, and
//! how dates are shown to the user. No I/O; the repo and the scheduler apply these.

use chrono::{DateTime, Duration, Utc};

/// What a purged account's email address becomes wherever a row must outlive the account (other
/// users' tasks, delivered mail): a fixed value, so the row stays readable and counts stay right
/// without pointing to the person. The `.invalid` top-level domain never resolves (RFC 2606), and
/// the address validator refuses it, so nothing can ever be mailed to it.
pub const PURGED_ADDRESS: &str = "purged@invalid";

/// The instant a deletion confirmed at `now` is carried out.
pub fn scheduled_for(now: DateTime<Utc>, grace_days: u32) -> DateTime<Utc> {
    now + Duration::days(i64::from(grace_days))
}

/// The seed's confirmation message, naming the purge time to the second.
pub fn confirmation_message(scheduled_for: DateTime<Utc>) -> String {
    format!(
        "Account deletion confirmed. Your account will be permanently deleted on {} UTC. \
         You can still log in and cancel the deletion during this time.",
        scheduled_for.format("%Y-%m-%d %H:%M:%S")
    )
}

/// A date as mails show it: precise to the minute, explicit about the zone.
pub fn mail_date(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The reminders to mark as sent when the `due` day reminder goes out: `due` and every earlier
/// (larger) one. A job that runs late — say with one day left when the three-day reminder was
/// never sent — sends only the most urgent reminder instead of two in a row.
pub fn reminders_covered(configured_days: &[u32], due: u32) -> Vec<i16> {
    configured_days.iter().filter(|&&day| day >= due).filter_map(|&day| i16::try_from(day).ok()).collect()
}

/// The order the reminder job claims reminders in: most urgent first, so [`reminders_covered`]
/// marks the earlier ones before a later pass would pick them up.
pub fn claim_order(configured_days: &[u32]) -> Vec<u32> {
    let mut days = configured_days.to_vec();
    days.sort_unstable();
    days.dedup();
    days
}

/// Where an account stands in the deletion flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeletionState {
    /// A deletion link was requested (and not cancelled).
    pub requested_at: Option<DateTime<Utc>>,
    /// The deletion was confirmed and will run then.
    pub scheduled_for: Option<DateTime<Utc>>,
}

impl DeletionState {
    /// A request was made and not cancelled.
    pub fn requested(&self) -> bool {
        self.requested_at.is_some() || self.scheduled_for.is_some()
    }

    /// The user confirmed through the mailed link.
    pub fn confirmed(&self) -> bool {
        self.scheduled_for.is_some()
    }

    /// Whether a cancel would change anything: anything pending can still be stopped, since a
    /// purged account no longer exists to ask.
    pub fn can_cancel(&self) -> bool {
        self.requested()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0).single().expect("valid time")
    }

    #[test]
    fn the_purged_placeholder_can_never_be_mailed() {
        use crate::domain::tasks::TaskSpec;
        use crate::security::validation::Email;

        assert!(Email::parse_address(PURGED_ADDRESS).is_err());
        let scrubbed = TaskSpec::from_stored(
            "send_email",
            &serde_json::json!([PURGED_ADDRESS, "Hello", "Hi."]),
            &serde_json::json!({}),
        );
        assert!(scrubbed.is_err(), "a scrubbed task still PENDING fails instead of mailing: {scrubbed:?}");
    }

    #[test]
    fn deletion_runs_after_the_grace_period() {
        assert_eq!(scheduled_for(at(1, 12), 7), at(8, 12));
        assert_eq!(scheduled_for(at(1, 12), 0), at(1, 12));
    }

    #[test]
    fn the_confirmation_message_names_the_utc_second() {
        let message = confirmation_message(at(8, 12));
        assert!(message.starts_with(
            "Account deletion confirmed. Your account will be permanently deleted on 2026-11-08 12:00:00 UTC."
        ));
    }

    #[test]
    fn a_late_reminder_covers_the_earlier_ones() {
        assert_eq!(reminders_covered(&[3, 1], 1), vec![3, 1]);
        assert_eq!(reminders_covered(&[3, 1], 3), vec![3]);
        assert_eq!(claim_order(&[3, 1, 3]), vec![1, 3]);
    }

    #[test]
    fn state_flags_follow_the_flow() {
        let none = DeletionState { requested_at: None, scheduled_for: None };
        assert!(!none.requested() && !none.confirmed() && !none.can_cancel());
        let requested = DeletionState { requested_at: Some(at(1, 12)), scheduled_for: None };
        assert!(requested.requested() && !requested.confirmed() && requested.can_cancel());
        let confirmed = DeletionState { requested_at: Some(at(1, 12)), scheduled_for: Some(at(8, 12)) };
        assert!(confirmed.confirmed() && confirmed.can_cancel());
    }
}
