//! Fixed-window rate limits: the seed's per-route limits and the arithmetic of a decision.

use std::net::IpAddr;

use chrono::{DateTime, TimeZone, Utc};

/// A limit of `max` requests per `window_seconds`, named for its counter key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Counter name (part of the key).
    pub name: &'static str,
    /// Requests allowed per window.
    pub max: u32,
    /// Window length.
    pub window_seconds: u32,
}

impl Limit {
    /// 100/minute, for routes without a stricter limit.
    pub const DEFAULT: Self = Self { name: "default", max: 100, window_seconds: 60 };
    /// 5/minute on login.
    pub const LOGIN: Self = Self { name: "login", max: 5, window_seconds: 60 };
    /// 3/minute on registration.
    pub const REGISTER: Self = Self { name: "register", max: 3, window_seconds: 60 };
    /// 3/minute on verify-email and resend-verification.
    pub const EMAIL_VERIFICATION: Self = Self { name: "email_verification", max: 3, window_seconds: 60 };
    /// 3/minute on forgot/reset password.
    pub const PASSWORD_RESET: Self = Self { name: "password_reset", max: 3, window_seconds: 60 };
    /// 10/minute on OAuth login.
    pub const OAUTH: Self = Self { name: "oauth", max: 10, window_seconds: 60 };

    /// 3/minute on the account-deletion routes (request, confirm, cancel).
    pub const ACCOUNT_DELETION: Self = Self { name: "account_deletion", max: 3, window_seconds: 60 };

    /// 3/hour of each kind of unsolicited mail (a link or notice anyone can trigger by typing an
    /// address) to one recipient, whichever client asks.
    pub const MAIL_PER_RECIPIENT: Self = Self { name: "mail", max: 3, window_seconds: 3_600 };

    /// Longest window a setting may ask for: counters older than this are deleted by the cleanup
    /// job, so a longer window would reset early.
    pub const MAX_WINDOW_SECONDS: u32 = 86_400;

    /// Reads a limit written the way the seed's settings write it: `5/minute`, `100 per hour`,
    /// `10/2 minutes`; units second, minute, hour or day. The error completes "must be …".
    pub fn parse(name: &'static str, raw: &str) -> Result<Self, String> {
        let raw = raw.trim().to_ascii_lowercase();
        let malformed = || format!("a limit such as 5/minute or 100 per hour, not {raw:?}");
        let (count, period) = raw.split_once('/').or_else(|| raw.split_once(" per ")).ok_or_else(malformed)?;
        let max: u32 = count.trim().parse().map_err(|_| malformed())?;
        let period = period.trim();
        let (multiple, unit) = match period.split_once(char::is_whitespace) {
            Some((multiple, unit)) => (multiple.parse::<u32>().map_err(|_| malformed())?, unit.trim()),
            None => (1, period),
        };
        let unit_seconds = match unit.trim_end_matches('s') {
            "second" | "sec" => 1,
            "minute" | "min" => 60,
            "hour" => 3_600,
            "day" => 86_400,
            _ => return Err(malformed()),
        };
        let window_seconds = multiple.checked_mul(unit_seconds).ok_or_else(malformed)?;
        if max == 0 || window_seconds == 0 || window_seconds > Self::MAX_WINDOW_SECONDS {
            return Err(format!(
                "at least 1 request per window of 1 second to 1 day (to switch limits off, set RATE_LIMIT_ENABLED=false), not {raw:?}"
            ));
        }
        Ok(Self { name, max, window_seconds })
    }

    /// Start of the window containing `now`.
    pub fn window_start(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let window = i64::from(self.window_seconds.max(1));
        let start = now.timestamp().div_euclid(window) * window;
        Utc.timestamp_opt(start, 0).single().unwrap_or(now)
    }

    /// The counter key for a client address. IPv6 clients are counted per /64, the block one
    /// subscriber usually holds, so rotating addresses inside it does not reset the limit.
    pub fn key(&self, client: Option<IpAddr>) -> String {
        match client {
            Some(IpAddr::V6(ip)) => {
                let [a, b, c, d, ..] = ip.segments();
                format!("{}:{a:x}:{b:x}:{c:x}:{d:x}::/64", self.name)
            }
            Some(IpAddr::V4(ip)) => format!("{}:{ip}", self.name),
            None => format!("{}:unknown", self.name),
        }
    }

    /// The counter key for mail of `kind` to one recipient, identified by a keyed digest of the
    /// address so the table does not collect addresses.
    pub fn recipient_key(&self, kind: &str, recipient_digest: &[u8; 32]) -> String {
        let hex: String = recipient_digest.iter().map(|byte| format!("{byte:02x}")).collect();
        format!("{}:{kind}:{hex}", self.name)
    }

    /// The decision for a request that brought the window's count to `count`.
    pub fn decide(&self, count: i32, now: DateTime<Utc>) -> Decision {
        let reset = self.window_start(now).timestamp() + i64::from(self.window_seconds) - now.timestamp();
        let reset_seconds = u64::try_from(reset.max(1)).unwrap_or(1);
        let count = u32::try_from(count.max(0)).unwrap_or(u32::MAX);
        Decision {
            allowed: count <= self.max,
            limit: self.max,
            remaining: self.max.saturating_sub(count),
            reset_seconds,
        }
    }
}

/// The limit of each route group: the seed's numbers unless a setting changes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Routes without a stricter limit (`RATE_LIMIT_DEFAULT`).
    pub default: Limit,
    /// Login (`RATE_LIMIT_LOGIN`).
    pub login: Limit,
    /// Registration (`RATE_LIMIT_REGISTER`).
    pub register: Limit,
    /// Verify-email and resend-verification (`RATE_LIMIT_EMAIL_VERIFICATION`).
    pub email_verification: Limit,
    /// Forgot and reset password (`RATE_LIMIT_PASSWORD_RESET`).
    pub password_reset: Limit,
    /// OAuth sign-in (`RATE_LIMIT_OAUTH`).
    pub oauth: Limit,
    /// The account-deletion routes (`RATE_LIMIT_ACCOUNT_DELETION`).
    pub account_deletion: Limit,
    /// Unsolicited mail of one kind to one recipient (`RATE_LIMIT_MAIL_PER_RECIPIENT`).
    pub mail_per_recipient: Limit,
}

impl RateLimits {
    /// The seed's limits.
    pub const SEED: Self = Self {
        default: Limit::DEFAULT,
        login: Limit::LOGIN,
        register: Limit::REGISTER,
        email_verification: Limit::EMAIL_VERIFICATION,
        password_reset: Limit::PASSWORD_RESET,
        oauth: Limit::OAUTH,
        account_deletion: Limit::ACCOUNT_DELETION,
        mail_per_recipient: Limit::MAIL_PER_RECIPIENT,
    };

    /// Every per-client limit, for the status endpoint.
    pub fn all(&self) -> [Limit; 7] {
        [
            self.default,
            self.login,
            self.register,
            self.email_verification,
            self.password_reset,
            self.oauth,
            self.account_deletion,
        ]
    }

    /// The longest window of any limit: how long the cleanup job keeps counters.
    pub fn longest_window_seconds(&self) -> u32 {
        self.all().iter().chain([&self.mail_per_recipient]).map(|limit| limit.window_seconds).max().unwrap_or(60)
    }
}

/// The outcome of counting one request, with what the `RateLimit-*` headers report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// `RateLimit-Limit`.
    pub limit: u32,
    /// `RateLimit-Remaining`.
    pub remaining: u32,
    /// `RateLimit-Reset` and, when refused, `Retry-After`: seconds until the window ends.
    pub reset_seconds: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_aligned_to_their_length() {
        let now = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 42).single().expect("time");
        assert_eq!(Limit::LOGIN.window_start(now), Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).single().expect("t"));
    }

    #[test]
    fn ipv6_clients_share_a_counter_per_64_block() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().expect("ip");
        let other: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(Limit::LOGIN.key(Some(a)), Limit::LOGIN.key(Some(b)));
        assert_ne!(Limit::LOGIN.key(Some(a)), Limit::LOGIN.key(Some(other)));
        assert_eq!(Limit::LOGIN.key(Some("203.0.113.7".parse().expect("ip"))), "login:203.0.113.7");
        assert_eq!(Limit::LOGIN.key(None), "login:unknown");
    }

    #[test]
    fn limits_are_read_in_the_seeds_notation() {
        let cases = [
            ("5/minute", 5, 60),
            ("100/minute", 100, 60),
            ("3 per hour", 3, 3_600),
            ("10/2 minutes", 10, 120),
            (" 7/Second ", 7, 1),
            ("1000/day", 1000, 86_400),
        ];
        for (raw, max, window_seconds) in cases {
            assert_eq!(Limit::parse("login", raw), Ok(Limit { name: "login", max, window_seconds }), "{raw}");
        }
        for bad in
            ["", "5", "five/minute", "5/fortnight", "0/minute", "5/0 minutes", "5/2 days", "-1/minute", "5/month"]
        {
            assert!(Limit::parse("login", bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn the_seed_limits_are_the_defaults_and_counters_outlive_the_longest_window() {
        assert_eq!(RateLimits::SEED.all()[1], Limit::LOGIN);
        assert_eq!(RateLimits::SEED.longest_window_seconds(), 3_600, "the hourly budget of mail per recipient");
        let daily =
            RateLimits { register: Limit { name: "register", max: 50, window_seconds: 86_400 }, ..RateLimits::SEED };
        assert_eq!(daily.longest_window_seconds(), 86_400);
    }

    #[test]
    fn the_limit_th_request_passes_and_the_next_is_refused() {
        let now = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 42).single().expect("time");
        let last = Limit::LOGIN.decide(5, now);
        assert!(last.allowed);
        assert_eq!((last.limit, last.remaining, last.reset_seconds), (5, 0, 18));
        let over = Limit::LOGIN.decide(6, now);
        assert!(!over.allowed);
        assert_eq!(over.remaining, 0);
    }
}
