//! Typed configuration, read once from the environment at cold start.
//!
//! Every variable is parsed here and nowhere else, so a bad value stops the process at start with
//! one line naming the variable instead of failing on the first request that needs it.

mod deployed;
mod mfa_keys;

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;

use crate::domain::rate_limit::{Limit, RateLimits};
use crate::domain::ws::ConnectionCaps;

use crate::security::jwt::{JwtKeys, KeyError};
use crate::security::oidc::ProviderConfig;
use crate::security::secret_box::SecretBox;
use crate::security::validation::{Email, HttpUrl, PASSWORD_LENGTH, PasswordPolicy};
use crate::telemetry::{LogFilter, LogFormat};

/// How outgoing mail is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailBackend {
    /// One `.eml` file per message in `MAIL_DIR` (local development and tests).
    File,
    /// Amazon SES.
    Ses,
}

/// Where auth events (`domain::events`) are published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventsBackend {
    /// One JSON file per event in `EVENTS_DIR` (local development and tests).
    File {
        /// The directory (`EVENTS_DIR`).
        dir: std::path::PathBuf,
    },
    /// Amazon EventBridge.
    EventBridge {
        /// The bus's name (`EVENT_BUS_NAME`, `default`).
        bus_name: String,
    },
}

/// Where queued jobs (mail delivery, tasks) run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueBackend {
    /// Run each job in the process that queues it, right away (tests; like Celery's eager mode).
    Inline,
    /// An in-process queue drained by a background worker (the devserver).
    Local,
    /// Amazon SQS, drained by the `worker` function.
    Sqs {
        /// The main queue (`QUEUE_URL`).
        queue_url: String,
        /// Its dead-letter queue (`DLQ_URL`), for the status endpoint's depth.
        dlq_url: Option<String>,
    },
}

/// The account `migrate` creates when none exists yet (seed: `FIRST_SUPERUSER*`).
#[derive(Debug, Clone)]
pub struct SuperuserSeed {
    /// Login email of the superuser, trimmed and lowercased.
    pub email: String,
    /// Initial password; never defaulted, never logged.
    pub password: SecretString,
    /// Username of the superuser (`FIRST_SUPERUSER_USERNAME`, default `admin`).
    pub username: String,
}

/// All settings of a function or the devserver.
#[derive(Debug, Clone)]
pub struct Config {
    /// Postgres connection string (`DATABASE_URL`, required). Secret: it may hold a password.
    pub database_url: SecretString,
    /// Replaces the host of `DATABASE_URL` (`DATABASE_HOST`, optional). The deploy template sets
    /// it to the RDS Proxy endpoint it creates, which the URL in the secret cannot know.
    pub database_host: Option<String>,
    /// Upper bound of pooled connections (`DB_MAX_CONNECTIONS`; 2 on Lambda, 10 locally).
    /// Small on Lambda because every concurrent execution environment has its own pool.
    pub db_max_connections: u32,
    /// How long a request waits for a connection before failing (`DB_ACQUIRE_TIMEOUT_MS`, 3000),
    /// so a slow or down database gives a quick 503 instead of a pile-up.
    pub db_acquire_timeout: Duration,
    /// Longest time a request may take before it is answered 503 (`REQUEST_TIMEOUT_MS`, 8000).
    /// Below the HTTP functions' 10 s Lambda timeout, so a hung dependency (a database that
    /// stopped answering mid-query) ends in a clear JSON 503, not a killed invocation.
    pub request_timeout: Duration,
    /// `development`, `staging` or `production` (`ENVIRONMENT`), reported by the health check.
    pub environment: String,
    /// Product name used in the welcome message and mails (`PROJECT_NAME`).
    pub project_name: String,
    /// Browser origins allowed to call the API with credentials (`BACKEND_CORS_ORIGINS`).
    pub cors_origins: Vec<String>,
    /// Whether request rate limits are enforced (`RATE_LIMIT_ENABLED`, default true).
    pub rate_limit_enabled: bool,
    /// Whether users may sign in with a mailed link or code (`MAGIC_LINK_ENABLED`, default true).
    pub magic_link_enabled: bool,
    /// The keys that seal TOTP secrets, newest first (`MFA_ENCRYPTION_KEYS`, by default one key
    /// derived from the JWT key); `None` without any JWT key.
    pub mfa_keys: Option<Arc<SecretBox>>,
    /// Whether superusers need a second factor for admin routes (`MFA_REQUIRED_FOR_SUPERUSERS`).
    pub mfa_required_for_superusers: bool,
    /// The limit of each route group (`RATE_LIMIT_LOGIN=5/minute`, …; the seed's by default).
    pub rate_limits: RateLimits,
    /// How many proxies in front of API Gateway may be trusted to append to `X-Forwarded-For`
    /// (`TRUSTED_PROXY_HOPS`, default 0: the client IP is the connection's source address).
    pub trusted_proxy_hops: u8,
    /// Log output format (`LOG_FORMAT`: `json` or `pretty`; JSON on Lambda, pretty locally).
    pub log_format: LogFormat,
    /// Log filter (`LOG_LEVEL`: a level such as `info`, or `target=level` pairs).
    pub log_level: LogFilter,
    /// The superuser to bootstrap, when `FIRST_SUPERUSER_EMAIL` and `_PASSWORD` are both set.
    pub first_superuser: Option<SuperuserSeed>,
    /// Access-token keys (`JWT_SECRET` for HS256 or `JWT_PRIVATE_KEY` for RS256/ES256, plus
    /// `JWT_ISSUER`, `JWT_AUDIENCE`, `ACCESS_TOKEN_EXPIRE_MINUTES`). `None` when neither key is set;
    /// functions that issue or check tokens refuse to start then (see [`Config::require_jwt`]).
    pub jwt: Option<JwtKeys>,
    /// Absolute lifetime of a session and its refresh tokens (`REFRESH_TOKEN_EXPIRE_DAYS`, 30).
    pub refresh_token_days: u32,
    /// How long a verification link works (`VERIFICATION_TOKEN_EXPIRE_HOURS`, 24).
    pub verification_token_ttl: chrono::Duration,
    /// How long a password-reset link works (`PASSWORD_RESET_TOKEN_EXPIRE_HOURS`, 1).
    pub password_reset_token_ttl: chrono::Duration,
    /// How long a deletion-confirmation link works (`ACCOUNT_DELETION_TOKEN_EXPIRE_HOURS`, 24).
    pub deletion_token_ttl: chrono::Duration,
    /// Window in which a just-rotated refresh token still works, for concurrent tabs
    /// (`REFRESH_REUSE_GRACE_SECONDS`, 10).
    pub refresh_reuse_grace_seconds: u32,
    /// Live sessions per user; a new login evicts the oldest (`MAX_SESSIONS_PER_USER`, 5).
    pub max_sessions_per_user: u32,
    /// Whether the refresh cookie is `Secure` (`COOKIE_SECURE`; true on Lambda, false locally).
    pub cookie_secure: bool,
    /// `Strict-Transport-Security` max-age sent on Lambda (`HSTS_MAX_AGE_SECONDS`, one year; 0
    /// sends none).
    pub hsts_max_age_seconds: u32,
    /// Rules for new passwords (`PASSWORD_POLICY`: `seed` or `nist`).
    pub password_policy: PasswordPolicy,
    /// Base URL of the front end that mail links point to (`FRONTEND_URL`).
    pub frontend_url: String,
    /// Mail delivery (`MAIL_BACKEND`: `file` locally, `ses` on Lambda).
    pub mail_backend: MailBackend,
    /// Auth event delivery (`EVENTS_BACKEND`: `file` locally, `eventbridge` on Lambda).
    pub events_backend: EventsBackend,
    /// The `source` of published events (`EVENT_SOURCE`, `serverless-auth`).
    pub event_source: String,
    /// Where counts go: the CloudWatch namespace of Embedded Metric Format lines (`METRICS=emf`,
    /// the default on Lambda, with `METRICS_NAMESPACE`), or nowhere (`METRICS=off`, elsewhere).
    pub metrics_namespace: Option<String>,
    /// The `Service` dimension of the metrics: the Lambda function's name, else `devserver`.
    pub service_name: String,
    /// Sender of every mail (`MAIL_FROM`), e.g. `Example <noreply@example.com>`.
    pub mail_from: String,
    /// The SES configuration set every mail is sent with (`SES_CONFIGURATION_SET`): the stack's
    /// publishes bounces and complaints to SNS, which feeds them to the worker.
    pub ses_configuration_set: Option<String>,
    /// Where the file mailer writes (`MAIL_DIR`, default `.local/mail`).
    pub mail_dir: std::path::PathBuf,
    /// Google Sign-In (`GOOGLE_CLIENT_ID`, `GOOGLE_JWKS_URL`); `None` when not configured.
    pub google: Option<ProviderConfig>,
    /// Sign in with Apple (`APPLE_CLIENT_ID`, `APPLE_JWKS_URL`); `None` when not configured.
    pub apple: Option<ProviderConfig>,
    /// Days between a confirmed deletion request and the purge (`DELETION_GRACE_DAYS`, 7; 0 purges
    /// on the next run, for tests and demos).
    pub deletion_grace_days: u32,
    /// Reminder mails before the purge, in days (`DELETION_REMINDER_DAYS`, `3,1`), largest first.
    pub deletion_reminder_days: Vec<u32>,
    /// How often the devserver runs the scheduled jobs (`SCHEDULER_INTERVAL_SECONDS`, 60; 0 turns
    /// the local ticker off). On AWS, EventBridge Scheduler runs them instead.
    pub scheduler_interval_seconds: u32,
    /// Where queued jobs run (`QUEUE_BACKEND`: `sqs` on Lambda, `inline` elsewhere; `local` in
    /// the devserver).
    pub queue: QueueBackend,
    /// Where the `ws` function pushes frames (`WS_CALLBACK_URL`, the WebSocket API's
    /// `https://{api}.execute-api.{region}.amazonaws.com/{stage}`); when unset, the endpoint is
    /// taken from the first event.
    pub ws_callback_url: Option<String>,
    /// WebSocket connections one session and one account may hold open at once
    /// (`WS_MAX_CONNECTIONS_PER_SESSION`, 5, 1 to 100; `WS_MAX_CONNECTIONS_PER_USER`, 10, 1 to
    /// 1000): past them a handshake gets 429, so one token cannot open sockets without bound.
    pub ws_connection_caps: ConnectionCaps,
    /// True inside a Lambda execution environment (`AWS_LAMBDA_FUNCTION_NAME` is set).
    pub on_lambda: bool,
    /// The seed's setting names that supplied a value, as `(seed name, our name)`: logged once at
    /// start so nobody wonders where a value came from.
    pub seed_aliases_used: Vec<(&'static str, &'static str)>,
    /// The seed's settings that are set but mean nothing here (SMTP, Redis, Celery, log files):
    /// accepted so a seed `.env` starts the project, and named in one warning.
    pub ignored_seed_settings: Vec<&'static str>,
}

/// The seed's names for our settings, as `(our name, the seed's name)`. Ours wins when both are
/// set. `FROM_NAME` joins `FROM_EMAIL` into `MAIL_FROM`.
pub const SEED_ALIASES: [(&str, &str); 6] = [
    ("JWT_SECRET", "SECRET_KEY"),
    ("RATE_LIMIT_ENABLED", "ENABLE_RATE_LIMITING"),
    ("MAIL_FROM", "FROM_EMAIL"),
    ("DELETION_GRACE_DAYS", "ACCOUNT_DELETION_GRACE_PERIOD_DAYS"),
    ("DELETION_REMINDER_DAYS", "ACCOUNT_DELETION_REMINDER_DAYS"),
    ("FIRST_SUPERUSER_EMAIL", "FIRST_SUPERUSER"),
];

/// The seed's settings for parts this port replaces: SMTP (here SES or files), Redis (Postgres),
/// Celery (SQS and the worker function), log files and colours (CloudWatch takes JSON lines),
/// the OAuth client secrets and Apple key (only ID tokens are verified, which needs none), and
/// switches for features that are always on.
pub const IGNORED_SEED_SETTINGS: [&str; 31] = [
    "API_V1_STR",
    "SMTP_HOST",
    "SMTP_PORT",
    "SMTP_USERNAME",
    "SMTP_PASSWORD",
    "SMTP_TLS",
    "SMTP_SSL",
    "ENABLE_REDIS",
    "REDIS_URL",
    "RATE_LIMIT_STORAGE_BACKEND",
    "ENABLE_WEBSOCKETS",
    "ENABLE_CELERY",
    "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND",
    "CELERY_TASK_ALWAYS_EAGER",
    "CELERY_TASK_EAGER_PROPAGATES",
    "ENABLE_LOGGING",
    "ENABLE_FILE_LOGGING",
    "LOG_FILE_PATH",
    "LOG_FILE_MAX_SIZE",
    "LOG_FILE_BACKUP_COUNT",
    "ENABLE_COLORED_LOGS",
    "LOG_INCLUDE_TIMESTAMP",
    "LOG_INCLUDE_PID",
    "LOG_INCLUDE_THREAD",
    "ENABLE_OAUTH",
    "GOOGLE_CLIENT_SECRET",
    "APPLE_TEAM_ID",
    "APPLE_KEY_ID",
    "APPLE_PRIVATE_KEY",
    "REFRESH_TOKEN_SECRET_KEY",
];

/// The secret the seed's documentation ships as its example `SECRET_KEY`: public, so refused
/// in production.
const SEED_EXAMPLE_SECRET: &str = "dev_secret_key_change_in_production";

/// A missing or invalid variable; its `Display` is the one line printed before exiting.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("configuration error: {var} {problem}")]
pub struct ConfigError {
    /// The offending environment variable.
    pub var: &'static str,
    /// What is wrong with it, phrased to follow the variable name.
    pub problem: String,
}

impl ConfigError {
    fn new(var: &'static str, problem: impl Into<String>) -> Self {
        Self { var, problem: problem.into() }
    }
}

/// The seed's default origins, for a front end on the usual dev-server ports.
const DEFAULT_CORS_ORIGINS: &str = "http://localhost:3000,http://localhost:8080,http://localhost:4200";

impl Config {
    /// Every problem of the settings, not only the first that [`Config::from_lookup`] stops at
    /// (the operator's `verify-config`): after each problem the variable is read as unset, then,
    /// if it is required, as a well-formed stand-in, and the settings are read again. The
    /// configuration is returned when the settings have no problem.
    pub fn check_all(lookup: impl Fn(&str) -> Option<String>) -> (Option<Self>, Vec<ConfigError>) {
        let mut overrides: HashMap<&'static str, Option<String>> = HashMap::new();
        let mut problems = Vec::new();
        // Each round settles one variable for good, so the rounds are bounded by their number.
        for _ in 0..64 {
            let attempt = Self::from_lookup(|name| overrides.get(name).map_or_else(|| lookup(name), Clone::clone));
            let error = match attempt {
                Ok(config) => return (problems.is_empty().then_some(config), problems),
                Err(error) => error,
            };
            match overrides.get(error.var) {
                None => {
                    overrides.insert(error.var, None);
                    problems.push(error);
                }
                Some(None) => match stand_in(error.var) {
                    Some(value) => {
                        overrides.insert(error.var, Some(value.to_owned()));
                    }
                    None => break,
                },
                Some(Some(_)) => break,
            }
        }
        (None, problems)
    }

    /// Builds the configuration from any variable source; tests pass a map instead of mutating
    /// the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars { lookup: &lookup, aliases_used: RefCell::default() };
        let on_lambda = vars.get("AWS_LAMBDA_FUNCTION_NAME").is_some();

        let database_url = vars
            .get("DATABASE_URL")
            .ok_or_else(|| ConfigError::new("DATABASE_URL", "is required (a postgres:// URL)"))?;
        if !(database_url.starts_with("postgres://") || database_url.starts_with("postgresql://")) {
            return Err(ConfigError::new("DATABASE_URL", "must start with postgres:// or postgresql://"));
        }
        if database_url.parse::<sqlx::postgres::PgConnectOptions>().is_err() {
            return Err(ConfigError::new("DATABASE_URL", "is not a valid postgres connection URL"));
        }

        let database_host = vars.get("DATABASE_HOST");
        if let Some(host) = &database_host
            && host.contains(|c: char| c.is_whitespace() || "/?#@:".contains(c))
        {
            return Err(ConfigError::new("DATABASE_HOST", "must be a bare host name (no scheme, port or path)"));
        }

        let environment = vars.get("ENVIRONMENT").unwrap_or_else(|| "development".into());
        if !matches!(environment.as_str(), "development" | "staging" | "production") {
            return Err(ConfigError::new(
                "ENVIRONMENT",
                format!("must be development, staging or production, not {environment:?}"),
            ));
        }

        let log_format = match vars.get("LOG_FORMAT").as_deref() {
            None => {
                if on_lambda {
                    LogFormat::Json
                } else {
                    LogFormat::Pretty
                }
            }
            Some("json") => LogFormat::Json,
            Some("pretty" | "text") => LogFormat::Pretty,
            Some(other) => {
                return Err(ConfigError::new("LOG_FORMAT", format!("must be json or pretty, not {other:?}")));
            }
        };

        let frontend_url = vars.url_base("FRONTEND_URL")?.unwrap_or_else(|| "http://localhost:3000".into());
        let mail_backend = match vars.get("MAIL_BACKEND").as_deref() {
            None => {
                if on_lambda {
                    MailBackend::Ses
                } else {
                    MailBackend::File
                }
            }
            Some("file") => MailBackend::File,
            Some("ses") => MailBackend::Ses,
            Some(other) => return Err(ConfigError::new("MAIL_BACKEND", format!("must be file or ses, not {other:?}"))),
        };
        let events_backend = match vars.get("EVENTS_BACKEND").as_deref() {
            Some("file") => None,
            None if !on_lambda => None,
            None | Some("eventbridge") => Some(EventsBackend::EventBridge {
                bus_name: vars.get("EVENT_BUS_NAME").unwrap_or_else(|| "default".into()),
            }),
            Some(other) => {
                return Err(ConfigError::new("EVENTS_BACKEND", format!("must be file or eventbridge, not {other:?}")));
            }
        }
        .unwrap_or_else(|| EventsBackend::File {
            dir: vars.get("EVENTS_DIR").unwrap_or_else(|| ".local/events".into()).into(),
        });
        let password_policy = match vars.get("PASSWORD_POLICY").as_deref() {
            None | Some("seed") => PasswordPolicy::Seed,
            Some("nist") => PasswordPolicy::Nist,
            Some(other) => {
                return Err(ConfigError::new("PASSWORD_POLICY", format!("must be seed or nist, not {other:?}")));
            }
        };

        let provider = |id_var: &'static str,
                        url_var: &'static str,
                        default_url: &str|
         -> Result<Option<ProviderConfig>, ConfigError> {
            let Some(client_id) = vars.get(id_var) else { return Ok(None) };
            let jwks_url = vars.url(url_var)?.unwrap_or_else(|| default_url.into());
            Ok(Some(ProviderConfig { client_id, jwks_url }))
        };

        let jwt = parse_jwt(&vars, &environment)?;
        // The shared secret outlives private-key rotations (the stack always generates one), so
        // the derived MFA key comes from it when both are set.
        let jwt_material = vars.get("JWT_SECRET").or_else(|| vars.get("JWT_PRIVATE_KEY")).map(String::into_bytes);
        let (mfa_keys_setting, mfa_key_material) = (vars.get("MFA_ENCRYPTION_KEYS"), vars.get("MFA_ENCRYPTION_KEY"));
        let mfa_key_settings = mfa_keys::KeySettings {
            keys: mfa_keys_setting.as_deref(),
            material: mfa_key_material.as_deref(),
            jwt_material: jwt_material.as_deref(),
        };
        let mail_from = parse_mail_from(&vars)?;
        let rate_limits = parse_rate_limits(&vars)?;
        let hours = |name: &'static str, default: i64, max: i64| -> Result<chrono::Duration, ConfigError> {
            vars.number(name, default, 1..=max).map(chrono::Duration::hours)
        };
        let mut config = Self {
            google: provider("GOOGLE_CLIENT_ID", "GOOGLE_JWKS_URL", "https://www.googleapis.com/oauth2/v3/certs")?,
            apple: provider("APPLE_CLIENT_ID", "APPLE_JWKS_URL", "https://appleid.apple.com/auth/keys")?,
            jwt,
            refresh_token_days: vars.number("REFRESH_TOKEN_EXPIRE_DAYS", 30, 1..=365)?,
            verification_token_ttl: hours("VERIFICATION_TOKEN_EXPIRE_HOURS", 24, 720)?,
            password_reset_token_ttl: hours("PASSWORD_RESET_TOKEN_EXPIRE_HOURS", 1, 72)?,
            deletion_token_ttl: hours("ACCOUNT_DELETION_TOKEN_EXPIRE_HOURS", 24, 720)?,
            refresh_reuse_grace_seconds: vars.number("REFRESH_REUSE_GRACE_SECONDS", 10, 0..=300)?,
            max_sessions_per_user: vars.number("MAX_SESSIONS_PER_USER", 5, 1..=100)?,
            cookie_secure: vars.flag("COOKIE_SECURE", on_lambda)?,
            hsts_max_age_seconds: vars.number("HSTS_MAX_AGE_SECONDS", 31_536_000, 0..=63_072_000)?,
            password_policy,
            frontend_url,
            mail_backend,
            events_backend,
            event_source: vars.get("EVENT_SOURCE").unwrap_or_else(|| "serverless-auth".into()),
            metrics_namespace: match vars.get("METRICS").as_deref() {
                Some("emf") => true,
                Some("off") => false,
                None => on_lambda,
                Some(other) => return Err(ConfigError::new("METRICS", format!("must be emf or off, not {other:?}"))),
            }
            .then(|| vars.get("METRICS_NAMESPACE").unwrap_or_else(|| "ServerlessAuth".into())),
            service_name: vars.get("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|| "devserver".into()),
            mail_from,
            ses_configuration_set: vars.get("SES_CONFIGURATION_SET").filter(|name| !name.trim().is_empty()),
            mail_dir: vars.get("MAIL_DIR").unwrap_or_else(|| ".local/mail".into()).into(),
            database_url: SecretString::from(database_url),
            database_host,
            db_max_connections: vars.number("DB_MAX_CONNECTIONS", if on_lambda { 2 } else { 10 }, 1..=1000)?,
            db_acquire_timeout: Duration::from_millis(vars.number("DB_ACQUIRE_TIMEOUT_MS", 3000, 50..=60_000)?),
            request_timeout: Duration::from_millis(vars.number("REQUEST_TIMEOUT_MS", 8000, 100..=900_000)?),
            environment,
            project_name: vars.get("PROJECT_NAME").unwrap_or_else(|| "Serverless Auth".into()),
            cors_origins: parse_origins(
                &vars.get("BACKEND_CORS_ORIGINS").unwrap_or_else(|| DEFAULT_CORS_ORIGINS.into()),
            )?,
            rate_limit_enabled: vars.flag("RATE_LIMIT_ENABLED", true)?,
            magic_link_enabled: vars.flag("MAGIC_LINK_ENABLED", true)?,
            mfa_keys: mfa_keys::parse(&mfa_key_settings)?.map(Arc::new),
            mfa_required_for_superusers: vars.flag("MFA_REQUIRED_FOR_SUPERUSERS", false)?,
            rate_limits,
            trusted_proxy_hops: vars.number("TRUSTED_PROXY_HOPS", 0, 0..=10)?,
            log_format,
            log_level: parse_log_level(vars.get("LOG_LEVEL"))?,
            first_superuser: parse_superuser(&vars)?,
            deletion_grace_days: vars.number("DELETION_GRACE_DAYS", 7, 0..=365)?,
            deletion_reminder_days: parse_reminder_days(
                vars.get("DELETION_REMINDER_DAYS"),
                vars.source("DELETION_REMINDER_DAYS"),
            )?,
            scheduler_interval_seconds: vars.number("SCHEDULER_INTERVAL_SECONDS", 60, 0..=86_400)?,
            queue: parse_queue(&vars, on_lambda)?,
            ws_callback_url: vars.url_base("WS_CALLBACK_URL")?,
            ws_connection_caps: ConnectionCaps {
                per_session: vars.number("WS_MAX_CONNECTIONS_PER_SESSION", 5, 1..=100)?,
                per_user: vars.number("WS_MAX_CONNECTIONS_PER_USER", 10, 1..=1000)?,
            },
            on_lambda,
            seed_aliases_used: Vec::new(),
            ignored_seed_settings: IGNORED_SEED_SETTINGS.into_iter().filter(|name| vars.raw(name).is_some()).collect(),
        };
        if deployed::is_deployed(vars.get("ENVIRONMENT").as_deref(), on_lambda) {
            deployed::refuse_local_settings(&deployed::PublicSettings {
                frontend_url: &config.frontend_url,
                cors_origins: &config.cors_origins,
                mail_from: (vars.source("MAIL_FROM"), &config.mail_from),
            })?;
            if !mfa_key_settings.are_explicit() {
                return Err(ConfigError::new(
                    "MFA_ENCRYPTION_KEY",
                    "is required when deployed (a random string of 32+ characters, kept apart from JWT_SECRET, \
                     which a re-rendered stack secret replaces: TOTP secrets sealed with a key derived from it \
                     would no longer open)",
                ));
            }
        }
        config.seed_aliases_used = vars.aliases_used.into_inner();
        Ok(config)
    }

    /// Logs, once at start, which of the seed's setting names supplied values and which seed
    /// settings are ignored here.
    pub fn log_seed_settings(&self) {
        if !self.seed_aliases_used.is_empty() {
            let used: Vec<String> =
                self.seed_aliases_used.iter().map(|(seed, ours)| format!("{seed} as {ours}")).collect();
            tracing::info!("read the seed's setting names: {}", used.join(", "));
        }
        if !self.ignored_seed_settings.is_empty() {
            let ignored = self.ignored_seed_settings.join(", ");
            tracing::warn!("ignored the seed's settings that mean nothing here: {ignored}");
        }
    }
}

impl Config {
    /// The access-token keys, or the configuration error a token-handling function exits with.
    pub fn require_jwt(&self) -> Result<&JwtKeys, ConfigError> {
        self.jwt.as_ref().ok_or_else(|| ConfigError::new("JWT_SECRET", "is required (or set JWT_PRIVATE_KEY)"))
    }

    /// The keys that seal TOTP secrets (present whenever a JWT key is).
    pub fn require_mfa_keys(&self) -> Result<&SecretBox, ConfigError> {
        self.mfa_keys.as_deref().ok_or_else(|| ConfigError::new("MFA_ENCRYPTION_KEYS", "needs a key (or JWT_SECRET)"))
    }
}

/// Reads the signing key. A PEM in an environment variable often arrives with literal `\n`
/// sequences instead of newlines; both forms are accepted.
fn parse_jwt(vars: &Vars<'_>, environment: &str) -> Result<Option<JwtKeys>, ConfigError> {
    let issuer = vars.get("JWT_ISSUER").unwrap_or_else(|| "serverless-auth".into());
    let audience = vars.get("JWT_AUDIENCE").unwrap_or_else(|| "serverless-auth".into());
    // Up to 30 days, the seed's example value: access tokens are bound to their session, so
    // revoking the session still ends a long-lived token.
    let ttl_minutes: i64 = vars.number("ACCESS_TOKEN_EXPIRE_MINUTES", 15, 1..=43_200)?;
    let ttl = ttl_minutes * 60;
    let pem = |name: &'static str| vars.get(name).map(|pem| pem.replace("\\n", "\n"));
    let previous = pem("JWT_PREVIOUS_PRIVATE_KEY");
    if let Some(pem) = pem("JWT_PRIVATE_KEY") {
        let keys = JwtKeys::from_private_pem(pem.as_bytes(), &issuer, &audience, ttl)
            .map_err(|error| ConfigError::new("JWT_PRIVATE_KEY", error.to_string()))?;
        return match previous {
            None => Ok(Some(keys)),
            Some(previous) => keys
                .with_previous_pem(previous.as_bytes())
                .map(Some)
                .map_err(|error| ConfigError::new("JWT_PREVIOUS_PRIVATE_KEY", error.to_string())),
        };
    }
    if previous.is_some() {
        return Err(ConfigError::new("JWT_PREVIOUS_PRIVATE_KEY", KeyError::PreviousWithoutPrivateKey.to_string()));
    }
    let source = vars.source("JWT_SECRET");
    match vars.get("JWT_SECRET") {
        None => Ok(None),
        Some(secret) if secret == SEED_EXAMPLE_SECRET && environment == "production" => {
            Err(ConfigError::new(source, "is the seed's published example; set a random secret in production"))
        }
        Some(secret) => JwtKeys::from_secret(secret.as_bytes(), &issuer, &audience, ttl)
            .map(Some)
            .map_err(|error| ConfigError::new(source, error.to_string())),
    }
}

/// `MAIL_FROM`, or the seed's `FROM_NAME` and `FROM_EMAIL` joined into one mailbox; checked
/// here so a bad sender stops the start instead of every mail.
fn parse_mail_from(vars: &Vars<'_>) -> Result<String, ConfigError> {
    let source = vars.source("MAIL_FROM");
    let Some(address) = vars.get("MAIL_FROM") else { return Ok("Serverless Auth <noreply@localhost>".into()) };
    let invalid =
        || ConfigError::new(source, format!("is not a mail address such as Name <noreply@example.com>: {address:?}"));
    let mailbox: lettre::message::Mailbox = address.parse().map_err(|_| invalid())?;
    if source == "FROM_EMAIL"
        && let Some(name) = vars.get("FROM_NAME")
    {
        vars.record_alias("FROM_NAME", "MAIL_FROM");
        return Ok(lettre::message::Mailbox::new(Some(name), mailbox.email).to_string());
    }
    Ok(address)
}

/// The per-route limits: the seed's `RATE_LIMIT_*` settings, in its `5/minute` notation.
fn parse_rate_limits(vars: &Vars<'_>) -> Result<RateLimits, ConfigError> {
    let limit = |var: &'static str, default: Limit| -> Result<Limit, ConfigError> {
        match vars.get(var) {
            None => Ok(default),
            Some(raw) => {
                Limit::parse(default.name, &raw).map_err(|problem| ConfigError::new(var, format!("must be {problem}")))
            }
        }
    };
    let seed = RateLimits::SEED;
    Ok(RateLimits {
        default: limit("RATE_LIMIT_DEFAULT", seed.default)?,
        login: limit("RATE_LIMIT_LOGIN", seed.login)?,
        register: limit("RATE_LIMIT_REGISTER", seed.register)?,
        email_verification: limit("RATE_LIMIT_EMAIL_VERIFICATION", seed.email_verification)?,
        password_reset: limit("RATE_LIMIT_PASSWORD_RESET", seed.password_reset)?,
        oauth: limit("RATE_LIMIT_OAUTH", seed.oauth)?,
        account_deletion: limit("RATE_LIMIT_ACCOUNT_DELETION", seed.account_deletion)?,
        mail_per_recipient: limit("RATE_LIMIT_MAIL_PER_RECIPIENT", seed.mail_per_recipient)?,
    })
}

/// Variable access that treats an empty value as unset, the way `.env` files are usually meant,
/// and falls back to the seed's name of a setting (recording that it did).
struct Vars<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    aliases_used: RefCell<Vec<(&'static str, &'static str)>>,
}

impl Vars<'_> {
    fn raw(&self, name: &str) -> Option<String> {
        (self.lookup)(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    /// The seed's name of `name`, when it has one.
    fn alias(name: &str) -> Option<&'static str> {
        SEED_ALIASES.iter().find(|(ours, _)| *ours == name).map(|(_, seed)| *seed)
    }

    /// The variable that supplies `name`: `name` itself unless only its seed alias is set. Errors
    /// name it, so the message points at the line the user wrote.
    fn source(&self, name: &'static str) -> &'static str {
        match Self::alias(name) {
            Some(alias) if self.raw(name).is_none() && self.raw(alias).is_some() => alias,
            _ => name,
        }
    }

    fn get(&self, name: &'static str) -> Option<String> {
        if let Some(value) = self.raw(name) {
            return Some(value);
        }
        let alias = Self::alias(name)?;
        let value = self.raw(alias)?;
        self.record_alias(alias, name);
        Some(value)
    }

    fn record_alias(&self, seed: &'static str, ours: &'static str) {
        let mut used = self.aliases_used.borrow_mut();
        if !used.contains(&(seed, ours)) {
            used.push((seed, ours));
        }
    }

    /// An optional http(s) URL setting, as given.
    fn url(&self, name: &'static str) -> Result<Option<String>, ConfigError> {
        Ok(self.http_url(name)?.map(HttpUrl::into_string))
    }

    /// An optional http(s) URL setting that paths are appended to, without its trailing slash.
    fn url_base(&self, name: &'static str) -> Result<Option<String>, ConfigError> {
        Ok(self.http_url(name)?.map(|url| url.base().to_owned()))
    }

    fn http_url(&self, name: &'static str) -> Result<Option<HttpUrl>, ConfigError> {
        self.get(name)
            .map(|raw| HttpUrl::parse(&raw).map_err(|rule| ConfigError::new(self.source(name), rule.message)))
            .transpose()
    }

    fn flag(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name).map(|v| v.to_ascii_lowercase()).as_deref() {
            None => Ok(default),
            Some("true" | "1" | "yes" | "on") => Ok(true),
            Some("false" | "0" | "no" | "off") => Ok(false),
            Some(other) => Err(ConfigError::new(self.source(name), format!("must be true or false, not {other:?}"))),
        }
    }

    fn number<T>(&self, name: &'static str, default: T, range: std::ops::RangeInclusive<T>) -> Result<T, ConfigError>
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
    {
        let Some(raw) = self.get(name) else { return Ok(default) };
        match raw.parse::<T>() {
            Ok(value) if range.contains(&value) => Ok(value),
            _ => Err(ConfigError::new(
                self.source(name),
                format!("must be a whole number from {} to {}, not {raw:?}", range.start(), range.end()),
            )),
        }
    }
}

/// Parses a comma-separated origin list. `*` is refused: the API allows credentials (the refresh
/// cookie), and a wildcard with credentials would let any site act as the signed-in user.
fn parse_origins(raw: &str) -> Result<Vec<String>, ConfigError> {
    const VAR: &str = "BACKEND_CORS_ORIGINS";
    let mut origins = Vec::new();
    for origin in raw.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        let origin = origin.trim_end_matches('/');
        if origin == "*" {
            return Err(ConfigError::new(VAR, "must list origins explicitly; '*' is not allowed with credentials"));
        }
        let valid = origin.split_once("://").is_some_and(|(scheme, rest)| {
            matches!(scheme, "http" | "https") && !rest.is_empty() && !rest.contains('/')
        });
        if !valid || http::HeaderValue::from_str(origin).is_err() {
            return Err(ConfigError::new(VAR, format!("has an invalid origin {origin:?} (want scheme://host[:port])")));
        }
        origins.push(origin.to_owned());
    }
    Ok(origins)
}

/// Reads `QUEUE_BACKEND` with `QUEUE_URL` and `DLQ_URL`.
fn parse_queue(vars: &Vars<'_>, on_lambda: bool) -> Result<QueueBackend, ConfigError> {
    let backend = vars.get("QUEUE_BACKEND").unwrap_or_else(|| if on_lambda { "sqs" } else { "inline" }.into());
    match backend.as_str() {
        "inline" => Ok(QueueBackend::Inline),
        "local" => Ok(QueueBackend::Local),
        "sqs" => {
            let queue_url = vars
                .url("QUEUE_URL")?
                .ok_or_else(|| ConfigError::new("QUEUE_URL", "is required with QUEUE_BACKEND=sqs (the queue's URL)"))?;
            Ok(QueueBackend::Sqs { queue_url, dlq_url: vars.url("DLQ_URL")? })
        }
        other => Err(ConfigError::new("QUEUE_BACKEND", format!("must be inline, local or sqs, not {other:?}"))),
    }
}

/// Parses `DELETION_REMINDER_DAYS` (`3,1`): distinct whole days from 1 to 365, largest first.
fn parse_reminder_days(raw: Option<String>, var: &'static str) -> Result<Vec<u32>, ConfigError> {
    let Some(raw) = raw else { return Ok(vec![3, 1]) };
    let mut days = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.parse::<u32>() {
            Ok(day @ 1..=365) => days.push(day),
            _ => return Err(ConfigError::new(var, format!("must list whole days from 1 to 365, not {part:?}"))),
        }
    }
    days.sort_unstable_by(|a, b| b.cmp(a));
    days.dedup();
    Ok(days)
}

/// Accepts the seed's level names (`INFO`, `WARNING`, `CRITICAL`) as well as tracing directives.
fn parse_log_level(raw: Option<String>) -> Result<LogFilter, ConfigError> {
    let Some(raw) = raw else { return Ok(LogFilter::default()) };
    LogFilter::parse(&raw)
        .ok_or_else(|| ConfigError::new("LOG_LEVEL", format!("is not a log level or filter: {raw:?}")))
}

/// A well-formed value for a required variable, so [`Config::check_all`] can look past it.
fn stand_in(var: &str) -> Option<&'static str> {
    Some(match var {
        "DATABASE_URL" => "postgres://stand-in@127.0.0.1:5432/stand_in",
        "QUEUE_URL" => "https://sqs.us-east-1.amazonaws.com/000000000000/stand-in",
        "FRONTEND_URL" => "https://app.stand-in.net",
        "BACKEND_CORS_ORIGINS" => "https://app.stand-in.net",
        "MAIL_FROM" | "FROM_EMAIL" | "FIRST_SUPERUSER_EMAIL" => "stand-in@stand-in.net",
        "FIRST_SUPERUSER_PASSWORD" => "a stand-in password",
        "JWT_SECRET" | "MFA_ENCRYPTION_KEY" | "SECRET_KEY" => {
            "stand-in-0123456789abcdef0123456789abcdef0123456789abcdef"
        }
        _ => return None,
    })
}

fn parse_superuser(vars: &Vars<'_>) -> Result<Option<SuperuserSeed>, ConfigError> {
    let email = vars.get("FIRST_SUPERUSER_EMAIL");
    let password = vars.get("FIRST_SUPERUSER_PASSWORD");
    match (email, password) {
        (None, None) => Ok(None),
        (Some(_), None) => {
            Err(ConfigError::new("FIRST_SUPERUSER_PASSWORD", "is required when FIRST_SUPERUSER_EMAIL is set"))
        }
        (None, Some(_)) => {
            Err(ConfigError::new("FIRST_SUPERUSER_EMAIL", "is required when FIRST_SUPERUSER_PASSWORD is set"))
        }
        (Some(email), Some(password)) => {
            // Login accepts the same addresses; a superuser it would refuse could never sign in.
            let email = Email::parse_existing(&email)
                .map_err(|rule| ConfigError::new(vars.source("FIRST_SUPERUSER_EMAIL"), rule.message))?
                .as_str()
                .to_owned();
            if !PASSWORD_LENGTH.contains(&password.chars().count()) {
                return Err(ConfigError::new("FIRST_SUPERUSER_PASSWORD", "must be 8 to 128 characters long"));
            }
            let username = vars.get("FIRST_SUPERUSER_USERNAME").unwrap_or_else(|| "admin".into());
            Ok(Some(SuperuserSeed { email, password: SecretString::from(password), username }))
        }
    }
}

#[cfg(test)]
mod tests;
