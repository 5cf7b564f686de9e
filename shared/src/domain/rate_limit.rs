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

    /// Every limit, for the status endpoint.
    pub const ALL: [Self; 7] = [
        Self::DEFAULT,
        Self::LOGIN,
        Self::REGISTER,
        Self::EMAIL_VERIFICATION,
        Self::PASSWORD_RESET,
        Self::OAUTH,
        Self::ACCOUNT_DELETION,
    ];

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
