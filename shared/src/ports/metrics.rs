//! Counting what the service does, for dashboards and alarms: CloudWatch Embedded Metric Format
//! lines on Lambda (no API call, no latency), nothing locally.

/// What is counted. Each is one CloudWatch metric (unit `Count`) per function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    /// A session was opened (any sign-in method, second step included).
    LoginSucceeded,
    /// A password or second-factor code was wrong (or the account may not sign in).
    LoginFailed,
    /// A sign-in was refused inside an account's back-off window.
    LoginBackedOff,
    /// A rotated refresh token came back after its grace window; its session was revoked.
    RefreshReuseDetected,
    /// An account was created.
    Registered,
    /// An address was verified.
    Verified,
    /// A mail was handed to the mail service.
    MailSent,
    /// A mail delivery attempt failed (it is retried).
    MailFailed,
    /// A queued job finished.
    JobSucceeded,
    /// A queued job failed (it is retried, then dead-lettered).
    JobFailed,
    /// A request was refused by a per-client rate limit.
    RateLimited,
    /// SES reported a permanent bounce: the address gets no more mail.
    MailBounced,
    /// A recipient marked a mail as spam: the address gets no more mail.
    MailComplained,
    /// A mail to an undeliverable address was dropped instead of sent.
    MailDropped,
}

impl Metric {
    /// Every metric, for the dashboard and tests.
    pub const ALL: [Self; 14] = [
        Self::LoginSucceeded,
        Self::LoginFailed,
        Self::LoginBackedOff,
        Self::RefreshReuseDetected,
        Self::Registered,
        Self::Verified,
        Self::MailSent,
        Self::MailFailed,
        Self::JobSucceeded,
        Self::JobFailed,
        Self::RateLimited,
        Self::MailBounced,
        Self::MailComplained,
        Self::MailDropped,
    ];

    /// The CloudWatch metric name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::LoginSucceeded => "LoginSucceeded",
            Self::LoginFailed => "LoginFailed",
            Self::LoginBackedOff => "LoginBackedOff",
            Self::RefreshReuseDetected => "RefreshReuseDetected",
            Self::Registered => "Registered",
            Self::Verified => "Verified",
            Self::MailSent => "MailSent",
            Self::MailFailed => "MailFailed",
            Self::JobSucceeded => "JobSucceeded",
            Self::JobFailed => "JobFailed",
            Self::RateLimited => "RateLimited",
            Self::MailBounced => "MailBounced",
            Self::MailComplained => "MailComplained",
            Self::MailDropped => "MailDropped",
        }
    }
}

/// Where counts go. Counting never fails the request that counts.
pub trait MetricsSink: Send + Sync + std::fmt::Debug {
    /// Counts one occurrence of `metric`.
    fn count(&self, metric: Metric);
}
