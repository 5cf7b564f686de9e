//! Per-instance shares of the rate-limit windows, so most requests are decided without a database
//! round trip and a refused one never causes a write.
//!
//! The counters in Postgres stay the single source of truth across instances: an instance
//! reserves units of a window's budget there (all or nothing, never past the limit), then spends
//! them locally. A client's first request in a window on an instance reserves one unit, so a
//! client that moves between instances is counted exactly; each further reservation on the same
//! instance doubles, up to a sixteenth of what is left of the budget (so small limits such as 5
//! logins a minute are always reserved one at a time) and at most [`MAX_LEASE`]. Units an
//! instance reserved and did not use are lost when the window ends: a client may be refused a
//! little before the limit when it is spread over several busy instances, never after it.
//!
//! Once the database refuses a unit, the window is spent for every instance; this instance then
//! refuses the key locally until the window ends.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use super::rate_limit::{Decision, Limit};

/// The largest reservation: at 20,000 requests a second from one client, about 20 upserts.
pub const MAX_LEASE: u32 = 1_024;

/// Keys remembered at most; past this, new keys are counted one request at a time in Postgres,
/// as they would be without this cache. Bounds memory when many clients pass through.
pub const MAX_KEYS: usize = 10_000;

/// What to do with one request, decided locally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalDecision {
    /// Served from a unit this instance already holds.
    Decided(Decision),
    /// Served from a unit this instance holds, and the share is running low: reserve `units` more
    /// and report with [`Leases::topped_up`] or [`Leases::top_up_failed`]. Only one request at a
    /// time is asked to, so concurrent requests do not queue on the counter's row lock.
    DecidedTopUp {
        /// The request's decision.
        decision: Decision,
        /// How many units to add to the share.
        units: u32,
    },
    /// Reserve `units` in Postgres, then report with [`Leases::reserved`] or [`Leases::refused`].
    Reserve {
        /// How many units to ask for (at least 1, at most the limit).
        units: u32,
    },
}

#[derive(Debug, Clone, Copy)]
struct Share {
    window_start: i64,
    window_end: i64,
    /// The window's count in Postgres after this instance's last reservation.
    counted_through: u32,
    /// Reserved units not yet used.
    unused: u32,
    /// Size of this instance's last reservation in the window.
    last_lease: u32,
    /// Postgres refused a unit: the budget is spent for this window.
    spent: bool,
    /// A request is reserving more for this share.
    topping_up: bool,
}

/// This instance's shares, by counter key. One per process, in the application state.
#[derive(Default)]
pub struct Leases {
    shares: Mutex<HashMap<String, Share>>,
    last_pruned: Mutex<i64>,
}

/// The number of keys only: the keys hold client addresses, which have no place in a debug dump.
impl std::fmt::Debug for Leases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leases").field("keys", &self.len()).finish_non_exhaustive()
    }
}

impl Leases {
    /// Spends a local unit of `key`'s current window, refuses a spent window, or says how many
    /// units to reserve.
    pub fn take(&self, key: &str, limit: &Limit, now: DateTime<Utc>) -> LocalDecision {
        let window_start = limit.window_start(now).timestamp();
        let Ok(mut shares) = self.shares.lock() else {
            return LocalDecision::Reserve { units: 1 };
        };
        let Some(share) = shares.get_mut(key).filter(|share| share.window_start == window_start) else {
            return LocalDecision::Reserve { units: 1 };
        };
        if share.spent {
            return LocalDecision::Decided(limit.decide(over_the_limit(limit), now));
        }
        let units = next_lease(share, limit);
        if share.unused == 0 {
            return LocalDecision::Reserve { units };
        }
        share.unused -= 1;
        let decision = limit.decide(count(share.counted_through.saturating_sub(share.unused)), now);
        if share.topping_up || share.unused >= share.last_lease / 4 || units == 1 {
            return LocalDecision::Decided(decision);
        }
        share.topping_up = true;
        LocalDecision::DecidedTopUp { decision, units }
    }

    /// Postgres granted a top-up of `units`, bringing the window's count to `count_after`.
    pub fn topped_up(&self, key: &str, limit: &Limit, now: DateTime<Utc>, units: u32, count_after: i32) {
        let counted_through = u32::try_from(count_after).unwrap_or(0);
        self.update(key, limit, now, |share| {
            share.unused += units;
            share.counted_through = share.counted_through.max(counted_through);
            share.last_lease = units;
            share.topping_up = false;
        });
    }

    /// A top-up was not granted (too little left, or the database did not answer): the share is
    /// used up as it is, and later requests reserve one unit at a time.
    pub fn top_up_failed(&self, key: &str, limit: &Limit, now: DateTime<Utc>) {
        self.update(key, limit, now, |share| {
            share.last_lease = 1;
            share.topping_up = false;
        });
    }

    /// Postgres granted `units` and the window's count is now `count_after`: uses one unit for the
    /// request that asked and keeps the rest. Returns the request's decision.
    pub fn reserved(&self, key: &str, limit: &Limit, now: DateTime<Utc>, units: u32, count_after: i32) -> Decision {
        let counted_through = u32::try_from(count_after).unwrap_or(0);
        let unused = units.saturating_sub(1);
        self.update(key, limit, now, |share| {
            // Units still held from a reservation that raced this one stay usable.
            share.unused += unused;
            share.counted_through = share.counted_through.max(counted_through);
            share.last_lease = units;
        });
        limit.decide(count(counted_through.saturating_sub(unused)), now)
    }

    /// Postgres had no unit left for this window: refuses the request, and every later one of
    /// the window without asking again.
    pub fn refused(&self, key: &str, limit: &Limit, now: DateTime<Utc>) -> Decision {
        self.update(key, limit, now, |share| share.spent = true);
        limit.decide(over_the_limit(limit), now)
    }

    /// Keys currently remembered (for tests and the benchmark's memory check).
    pub fn len(&self) -> usize {
        self.shares.lock().map(|shares| shares.len()).unwrap_or(0)
    }

    /// Whether no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn update(&self, key: &str, limit: &Limit, now: DateTime<Utc>, change: impl FnOnce(&mut Share)) {
        let window_start = limit.window_start(now).timestamp();
        let fresh = Share {
            window_start,
            window_end: window_start + i64::from(limit.window_seconds),
            counted_through: 0,
            unused: 0,
            last_lease: 0,
            spent: false,
            topping_up: false,
        };
        let Ok(mut shares) = self.shares.lock() else { return };
        if !shares.contains_key(key) && shares.len() >= MAX_KEYS && !self.prune(&mut shares, now.timestamp()) {
            return;
        }
        let share = shares.entry(key.to_owned()).or_insert(fresh);
        if share.window_start > window_start {
            // A reservation that finished after its window ended: the newer share stands.
            return;
        }
        if share.window_start != window_start {
            *share = fresh;
        }
        change(share);
    }

    /// Forgets the shares of windows that have ended; at most once a second, so a flood of new
    /// keys does not turn every request into a sweep. Returns whether there is room now.
    fn prune(&self, shares: &mut HashMap<String, Share>, now: i64) -> bool {
        let Ok(mut last_pruned) = self.last_pruned.lock() else { return false };
        if *last_pruned != now {
            *last_pruned = now;
            shares.retain(|_, share| share.window_end > now);
        }
        shares.len() < MAX_KEYS
    }
}

/// Double the last lease, but at most a sixteenth of what is left and [`MAX_LEASE`]; at least 1.
fn next_lease(share: &Share, limit: &Limit) -> u32 {
    let left = limit.max.saturating_sub(share.counted_through);
    share.last_lease.saturating_mul(2).min(left / 16).clamp(1, MAX_LEASE)
}

/// A count one past the limit: what a refusal reports.
fn over_the_limit(limit: &Limit) -> i32 {
    count(limit.max.saturating_add(1))
}

fn count(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(second: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 6, 12, 0, second).single().expect("time")
    }

    const BIG: Limit = Limit { name: "default", max: 100_000, window_seconds: 60 };

    #[test]
    fn the_first_request_of_a_window_reserves_one_unit() {
        let leases = Leases::default();
        assert_eq!(leases.take("default:1.2.3.4", &BIG, at(0)), LocalDecision::Reserve { units: 1 });
        let decision = leases.reserved("default:1.2.3.4", &BIG, at(0), 1, 1);
        assert!(decision.allowed);
        assert_eq!(decision.remaining, 99_999);
    }

    #[test]
    fn reservations_double_and_each_unit_is_spent_once() {
        let leases = Leases::default();
        let key = "default:1.2.3.4";
        let mut asked = Vec::new();
        let mut count = 0;
        let mut remaining = Vec::new();
        for _ in 0..40 {
            match leases.take(key, &BIG, at(1)) {
                LocalDecision::Decided(decision) => remaining.push(decision.remaining),
                LocalDecision::DecidedTopUp { decision, units } => {
                    remaining.push(decision.remaining);
                    asked.push(units);
                    count += units;
                    leases.topped_up(key, &BIG, at(1), units, count as i32);
                }
                LocalDecision::Reserve { units } => {
                    asked.push(units);
                    count += units;
                    remaining.push(leases.reserved(key, &BIG, at(1), units, count as i32).remaining);
                }
            }
        }
        assert_eq!(asked, [1, 2, 4, 8, 16, 32], "40 requests, 6 reservations");
        let expected: Vec<u32> = (1..=40).map(|used| 100_000 - used).collect();
        assert_eq!(remaining, expected, "every request sees the budget shrink by one");
    }

    #[test]
    fn a_running_low_share_is_topped_up_by_one_request_at_a_time() {
        let leases = Leases::default();
        leases.reserved("k", &BIG, at(1), 64, 64);
        let mut top_ups = Vec::new();
        for _ in 0..63 {
            match leases.take("k", &BIG, at(1)) {
                LocalDecision::DecidedTopUp { units, .. } => top_ups.push(units),
                LocalDecision::Decided(decision) => assert!(decision.allowed),
                LocalDecision::Reserve { .. } => panic!("units were left"),
            }
        }
        assert_eq!(top_ups, [128], "one top-up while it is in flight, below a quarter of the lease");
        assert_eq!(leases.take("k", &BIG, at(1)), LocalDecision::Reserve { units: 128 }, "used up meanwhile");
        leases.top_up_failed("k", &BIG, at(1));
        assert_eq!(leases.take("k", &BIG, at(1)), LocalDecision::Reserve { units: 2 }, "leases start small again");
    }

    #[test]
    fn small_limits_are_reserved_one_unit_at_a_time() {
        let login = Limit::LOGIN;
        let leases = Leases::default();
        for n in 1..=5 {
            assert_eq!(leases.take("login:x", &login, at(2)), LocalDecision::Reserve { units: 1 }, "request {n}");
            leases.reserved("login:x", &login, at(2), 1, n);
        }
    }

    #[test]
    fn leases_stay_under_a_sixteenth_of_what_is_left_and_the_cap() {
        let leases = Leases::default();
        let limit = Limit { name: "default", max: 100, window_seconds: 60 };
        leases.reserved("k", &limit, at(3), 1, 90);
        assert_eq!(leases.take("k", &limit, at(3)), LocalDecision::Reserve { units: 1 }, "10 left: one at a time");

        let huge = Limit { name: "default", max: u32::MAX / 2, window_seconds: 60 };
        let (mut asked, mut count) = (Vec::new(), 0);
        for _ in 0..5_000 {
            match leases.take("h", &huge, at(3)) {
                LocalDecision::Reserve { units } => {
                    asked.push(units);
                    count += units;
                    leases.reserved("h", &huge, at(3), units, count as i32);
                }
                LocalDecision::DecidedTopUp { units, .. } => {
                    asked.push(units);
                    count += units;
                    leases.topped_up("h", &huge, at(3), units, count as i32);
                }
                LocalDecision::Decided(_) => {}
            }
        }
        assert_eq!(asked.iter().max(), Some(&MAX_LEASE));
        assert!(asked.len() <= 15, "5,000 requests, {} reservations", asked.len());
    }

    #[test]
    fn a_refused_window_is_refused_locally_until_it_ends() {
        let leases = Leases::default();
        let login = Limit::LOGIN;
        let refused = leases.refused("login:x", &login, at(10));
        assert!(!refused.allowed);
        assert_eq!((refused.remaining, refused.reset_seconds), (0, 50));
        match leases.take("login:x", &login, at(30)) {
            LocalDecision::Decided(decision) => assert!(!decision.allowed),
            other => panic!("a spent window must be refused locally, got {other:?}"),
        }
        let next_window = Utc.with_ymd_and_hms(2026, 12, 6, 12, 1, 0).single().expect("time");
        assert_eq!(leases.take("login:x", &login, next_window), LocalDecision::Reserve { units: 1 });
    }

    #[test]
    fn a_reservation_that_ends_after_its_window_leaves_the_newer_share_alone() {
        let leases = Leases::default();
        let next_window = Utc.with_ymd_and_hms(2026, 12, 6, 12, 1, 0).single().expect("time");
        leases.refused("k", &Limit::LOGIN, next_window);
        leases.reserved("k", &Limit::LOGIN, at(59), 1, 1);
        match leases.take("k", &Limit::LOGIN, next_window) {
            LocalDecision::Decided(decision) => assert!(!decision.allowed, "still spent"),
            other => panic!("the spent window was overwritten: {other:?}"),
        }
    }

    #[test]
    fn units_left_at_the_end_of_a_window_are_not_carried_over() {
        let leases = Leases::default();
        leases.reserved("k", &BIG, at(59), 8, 8);
        let next_window = Utc.with_ymd_and_hms(2026, 12, 6, 12, 1, 0).single().expect("time");
        assert_eq!(leases.take("k", &BIG, next_window), LocalDecision::Reserve { units: 1 });
    }

    #[test]
    fn memory_is_bounded_and_ended_windows_make_room() {
        let leases = Leases::default();
        let second = Limit { name: "s", max: 10, window_seconds: 1 };
        for n in 0..MAX_KEYS {
            leases.reserved(&format!("s:{n}"), &second, at(0), 1, 1);
        }
        assert_eq!(leases.len(), MAX_KEYS);
        leases.reserved("s:one-more", &second, at(0), 1, 1);
        assert_eq!(leases.len(), MAX_KEYS, "full, and no window has ended: the new key is not kept");
        assert_eq!(leases.take("s:one-more", &second, at(0)), LocalDecision::Reserve { units: 1 });
        leases.reserved("s:later", &second, at(5), 1, 1);
        assert_eq!(leases.len(), 1, "the ended windows were forgotten");
    }
}
