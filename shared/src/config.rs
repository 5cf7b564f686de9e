//! Typed configuration, read once from the environment at cold start.
//!
//! Every variable is parsed here and nowhere else, so a bad value stops the process at start with
//! one line naming the variable instead of failing on the first request that needs it.

mod deployed;

use std::cell::RefCell;
use std::time::Duration;

use secrecy::SecretString;

use crate::domain::rate_limit::{Limit, RateLimits};
use crate::domain::ws::ConnectionCaps;

use crate::security::jwt::{JwtKeys, KeyError};
use crate::security::oidc::ProviderConfig;
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
    /// Sender of every mail (`MAIL_FROM`), e.g. `Example <noreply@example.com>`.
    pub mail_from: String,
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
            mail_from,
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
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::collections::HashMap;

    fn config_from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    const DB: (&str, &str) = ("DATABASE_URL", "postgres://app@127.0.0.1:5432/app");

    #[test]
    fn minimal_environment_gets_documented_defaults() {
        let config = config_from(&[DB]).expect("valid config");
        assert_eq!(config.database_url.expose_secret(), DB.1);
        assert_eq!(config.db_max_connections, 10);
        assert_eq!(config.db_acquire_timeout, Duration::from_secs(3));
        assert_eq!(config.request_timeout, Duration::from_secs(8));
        assert_eq!(config.environment, "development");
        assert_eq!(config.cors_origins.len(), 3);
        assert!(config.rate_limit_enabled);
        assert_eq!(config.trusted_proxy_hops, 0);
        assert_eq!(config.log_format, LogFormat::Pretty);
        assert_eq!(config.log_level.as_str(), "info");
        assert!(config.first_superuser.is_none());
        assert!(!config.on_lambda);
        assert!(config.jwt.is_none());
        assert_eq!(config.require_jwt().expect_err("no key").var, "JWT_SECRET");
        assert_eq!(
            (config.refresh_token_days, config.refresh_reuse_grace_seconds, config.max_sessions_per_user),
            (30, 10, 5)
        );
        assert!(!config.cookie_secure);
        assert_eq!(config.password_policy, PasswordPolicy::Seed);
        assert_eq!(config.frontend_url, "http://localhost:3000");
        assert_eq!(config.mail_backend, MailBackend::File);
        assert_eq!(config.ws_connection_caps, ConnectionCaps { per_session: 5, per_user: 10 });
    }

    #[test]
    fn websocket_connection_caps_are_read_from_their_settings() {
        let config =
            config_from(&[DB, ("WS_MAX_CONNECTIONS_PER_SESSION", "2"), ("WS_MAX_CONNECTIONS_PER_USER", "1000")])
                .expect("valid config");
        assert_eq!(config.ws_connection_caps, ConnectionCaps { per_session: 2, per_user: 1000 });
    }

    #[test]
    fn lambda_environment_gets_a_small_pool_and_json_logs() {
        let queue_url = "https://sqs.us-east-1.amazonaws.com/123456789012/jobs";
        let config = config_from(&[
            DB,
            ("AWS_LAMBDA_FUNCTION_NAME", "system-api"),
            ("QUEUE_URL", queue_url),
            PUBLIC_FRONT_END,
            PUBLIC_ORIGINS,
            PUBLIC_SENDER,
        ])
        .expect("valid config");
        assert_eq!(config.db_max_connections, 2);
        assert_eq!(config.log_format, LogFormat::Json);
        assert!(config.on_lambda);
        assert!(config.cookie_secure);
        assert_eq!(config.mail_backend, MailBackend::Ses);
        assert_eq!(config.queue, QueueBackend::Sqs { queue_url: queue_url.into(), dlq_url: None });
    }

    const PUBLIC_FRONT_END: (&str, &str) = ("FRONTEND_URL", "https://app.acme.dev");
    const PUBLIC_ORIGINS: (&str, &str) = ("BACKEND_CORS_ORIGINS", "https://app.acme.dev");
    const PUBLIC_SENDER: (&str, &str) = ("MAIL_FROM", "Acme <noreply@mail.acme.dev>");

    #[test]
    fn a_deployment_does_not_start_with_the_local_defaults() {
        let queue_url = ("QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/jobs");
        let lambda = ("AWS_LAMBDA_FUNCTION_NAME", "auth-api");
        for deployment in
            [vec![("ENVIRONMENT", "production")], vec![("ENVIRONMENT", "staging")], vec![lambda, queue_url]]
        {
            let with = |extra: &[(&'static str, &'static str)]| {
                let mut vars = vec![DB];
                vars.extend(deployment.iter().copied());
                vars.extend_from_slice(extra);
                config_from(&vars)
            };
            assert_eq!(with(&[]).expect_err("localhost front end").var, "FRONTEND_URL", "{deployment:?}");
            assert_eq!(with(&[PUBLIC_FRONT_END]).expect_err("localhost origins").var, "BACKEND_CORS_ORIGINS");
            assert_eq!(with(&[PUBLIC_FRONT_END, PUBLIC_ORIGINS]).expect_err("noreply@localhost").var, "MAIL_FROM");
            let seed_sender = with(&[PUBLIC_FRONT_END, PUBLIC_ORIGINS, ("FROM_EMAIL", "noreply@example.com")]);
            assert_eq!(seed_sender.expect_err("example.com").var, "FROM_EMAIL", "named as the user wrote it");
            with(&[PUBLIC_FRONT_END, PUBLIC_ORIGINS, PUBLIC_SENDER]).expect("public settings");
        }
        // Local development, and a Lambda function told it is development, keep the defaults.
        config_from(&[DB]).expect("local");
        config_from(&[DB, lambda, queue_url, ("ENVIRONMENT", "development")]).expect("cargo lambda locally");
    }

    #[test]
    fn the_queue_backend_defaults_per_environment_and_sqs_needs_its_url() {
        assert_eq!(config_from(&[DB]).expect("valid").queue, QueueBackend::Inline);
        assert_eq!(config_from(&[DB, ("QUEUE_BACKEND", "local")]).expect("valid").queue, QueueBackend::Local);
        let on_lambda = config_from(&[DB, ("AWS_LAMBDA_FUNCTION_NAME", "worker")]).expect_err("needs a URL");
        assert_eq!(on_lambda.var, "QUEUE_URL");
        let bad = config_from(&[DB, ("QUEUE_BACKEND", "kafka")]).expect_err("unknown");
        assert_eq!(bad.var, "QUEUE_BACKEND");
        let bad_dlq = config_from(&[DB, ("QUEUE_BACKEND", "sqs"), ("QUEUE_URL", "https://q"), ("DLQ_URL", "ftp://x")])
            .expect_err("bad url");
        assert_eq!(bad_dlq.var, "DLQ_URL");
    }

    #[test]
    fn missing_database_url_names_the_variable() {
        let error = config_from(&[]).expect_err("must fail");
        assert_eq!(error.var, "DATABASE_URL");
        assert!(error.to_string().starts_with("configuration error: DATABASE_URL "));
        assert!(!error.to_string().contains('\n'));
    }

    #[test]
    fn database_host_must_be_a_bare_host_name() {
        let proxy = "db-proxy.proxy-abc.us-east-1.rds.amazonaws.com";
        let config = config_from(&[DB, ("DATABASE_HOST", proxy)]).expect("valid");
        assert_eq!(config.database_host.as_deref(), Some(proxy));
        assert_eq!(config_from(&[DB]).expect("valid").database_host, None);
        for bad in ["https://db", "db:5432", "db/app", "a b"] {
            assert_eq!(config_from(&[DB, ("DATABASE_HOST", bad)]).expect_err(bad).var, "DATABASE_HOST");
        }
    }

    #[test]
    fn empty_value_counts_as_missing() {
        assert_eq!(config_from(&[("DATABASE_URL", "  ")]).expect_err("must fail").var, "DATABASE_URL");
    }

    #[test]
    fn invalid_values_name_their_variable() {
        let cases = [
            ("DATABASE_URL", "mysql://x"),
            ("DATABASE_URL", "postgres://app@host:notaport/db"),
            ("DB_MAX_CONNECTIONS", "lots"),
            ("DB_MAX_CONNECTIONS", "0"),
            ("RATE_LIMIT_ENABLED", "maybe"),
            ("TRUSTED_PROXY_HOPS", "-1"),
            ("ENVIRONMENT", "prod"),
            ("LOG_FORMAT", "xml"),
            ("LOG_LEVEL", "lou[d"),
            ("BACKEND_CORS_ORIGINS", "*"),
            ("BACKEND_CORS_ORIGINS", "localhost:3000"),
            ("BACKEND_CORS_ORIGINS", "https://example.com/app"),
            ("JWT_SECRET", "too-short"),
            ("JWT_PRIVATE_KEY", "-----BEGIN PRIVATE KEY-----\\nnope\\n-----END PRIVATE KEY-----"),
            ("ACCESS_TOKEN_EXPIRE_MINUTES", "0"),
            ("MAX_SESSIONS_PER_USER", "0"),
            ("COOKIE_SECURE", "maybe"),
            ("PASSWORD_POLICY", "strict"),
            ("FRONTEND_URL", "ftp://example.com"),
            ("MAIL_BACKEND", "smtp"),
            ("WS_MAX_CONNECTIONS_PER_SESSION", "0"),
            ("WS_MAX_CONNECTIONS_PER_SESSION", "101"),
            ("WS_MAX_CONNECTIONS_PER_USER", "0"),
            ("WS_MAX_CONNECTIONS_PER_USER", "many"),
        ];
        for (var, value) in cases {
            let mut pairs = vec![DB];
            if var == "DATABASE_URL" {
                pairs.clear();
            }
            pairs.push((var, value));
            let error = config_from(&pairs).expect_err(&format!("{var}={value} must fail"));
            assert_eq!(error.var, var, "{var}={value}");
        }
    }

    #[test]
    fn cors_origins_are_trimmed_and_trailing_slashes_dropped() {
        let config = config_from(&[DB, ("BACKEND_CORS_ORIGINS", " https://app.example.com/ , http://localhost:3000")])
            .expect("valid config");
        assert_eq!(config.cors_origins, vec!["https://app.example.com", "http://localhost:3000"]);
    }

    #[test]
    fn a_previous_private_key_is_published_next_to_the_current_one() {
        let current = include_str!("../tests/keys/test-ec-private.pem").replace('\n', "\\n");
        let previous = include_str!("../tests/keys/test-rsa-private.pem");
        let config =
            config_from(&[DB, ("JWT_PRIVATE_KEY", &current), ("JWT_PREVIOUS_PRIVATE_KEY", previous)]).expect("valid");
        assert_eq!(config.require_jwt().expect("keys").jwks().expect("published").keys.len(), 2);

        let secret = ("JWT_SECRET", "0123456789abcdef0123456789abcdef");
        let error = config_from(&[DB, secret, ("JWT_PREVIOUS_PRIVATE_KEY", previous)]).expect_err("no private key");
        assert_eq!(error.var, "JWT_PREVIOUS_PRIVATE_KEY");
        let error = config_from(&[DB, ("JWT_PRIVATE_KEY", previous), ("JWT_PREVIOUS_PRIVATE_KEY", previous)])
            .expect_err("same key");
        assert_eq!(error.var, "JWT_PREVIOUS_PRIVATE_KEY");
    }

    #[test]
    fn jwt_keys_come_from_a_secret_or_a_pem_with_escaped_newlines() {
        let config = config_from(&[DB, ("JWT_SECRET", "0123456789abcdef0123456789abcdef")]).expect("valid config");
        assert_eq!(config.require_jwt().expect("keys").ttl_seconds(), 900);

        let pem = include_str!("../tests/keys/test-ec-private.pem").replace('\n', "\\n");
        let config =
            config_from(&[DB, ("JWT_PRIVATE_KEY", &pem), ("ACCESS_TOKEN_EXPIRE_MINUTES", "5")]).expect("valid");
        let keys = config.require_jwt().expect("keys");
        assert_eq!(keys.algorithm(), jsonwebtoken::Algorithm::ES256);
        assert_eq!(keys.ttl_seconds(), 300);
    }

    /// A `.env` written for the seed, as its README shows one.
    const SEED_ENV: [(&str, &str); 16] = [
        ("DATABASE_URL", "postgresql://postgres:dev_password_123@localhost:5432/fastapi_template"),
        ("SECRET_KEY", "dev_secret_key_change_in_production"),
        ("ACCESS_TOKEN_EXPIRE_MINUTES", "43200"),
        ("ENABLE_RATE_LIMITING", "false"),
        ("RATE_LIMIT_LOGIN", "10/minute"),
        ("RATE_LIMIT_DEFAULT", "1000 per hour"),
        ("VERIFICATION_TOKEN_EXPIRE_HOURS", "48"),
        ("PASSWORD_RESET_TOKEN_EXPIRE_HOURS", "2"),
        ("ACCOUNT_DELETION_TOKEN_EXPIRE_HOURS", "12"),
        ("ACCOUNT_DELETION_GRACE_PERIOD_DAYS", "14"),
        ("ACCOUNT_DELETION_REMINDER_DAYS", "1,7,3"),
        ("FROM_EMAIL", "noreply@example.com"),
        ("FROM_NAME", "Your App, Inc."),
        ("SMTP_HOST", "smtp.gmail.com"),
        ("ENABLE_REDIS", "false"),
        ("LOG_LEVEL", "INFO"),
    ];

    #[test]
    fn a_seed_env_file_starts_with_every_setting_it_names() {
        let config = config_from(&SEED_ENV).expect("a seed .env is a valid configuration");
        assert_eq!(config.require_jwt().expect("SECRET_KEY is the signing secret").ttl_seconds(), 43_200 * 60);
        assert!(!config.rate_limit_enabled);
        assert_eq!(config.rate_limits.login, Limit { name: "login", max: 10, window_seconds: 60 });
        assert_eq!(config.rate_limits.default, Limit { name: "default", max: 1000, window_seconds: 3_600 });
        assert_eq!(config.rate_limits.register, Limit::REGISTER);
        assert_eq!(config.verification_token_ttl, chrono::Duration::hours(48));
        assert_eq!(config.password_reset_token_ttl, chrono::Duration::hours(2));
        assert_eq!(config.deletion_token_ttl, chrono::Duration::hours(12));
        assert_eq!(config.deletion_grace_days, 14);
        assert_eq!(config.deletion_reminder_days, vec![7, 3, 1]);
        assert_eq!(config.mail_from, "\"Your App, Inc.\" <noreply@example.com>");
        assert_eq!(
            config.seed_aliases_used,
            vec![
                ("SECRET_KEY", "JWT_SECRET"),
                ("FROM_EMAIL", "MAIL_FROM"),
                ("FROM_NAME", "MAIL_FROM"),
                ("ENABLE_RATE_LIMITING", "RATE_LIMIT_ENABLED"),
                ("ACCOUNT_DELETION_GRACE_PERIOD_DAYS", "DELETION_GRACE_DAYS"),
                ("ACCOUNT_DELETION_REMINDER_DAYS", "DELETION_REMINDER_DAYS"),
            ]
        );
        assert_eq!(config.ignored_seed_settings, vec!["SMTP_HOST", "ENABLE_REDIS"]);
    }

    #[test]
    fn our_setting_wins_over_the_seeds_name_for_it() {
        let config = config_from(&[
            DB,
            ("JWT_SECRET", "ours-ours-ours-ours-ours-ours-ours-ours"),
            ("SECRET_KEY", "short"),
            ("RATE_LIMIT_ENABLED", "true"),
            ("ENABLE_RATE_LIMITING", "false"),
            ("MAIL_FROM", "Ours <ours@example.com>"),
            ("FROM_EMAIL", "seed@example.com"),
        ])
        .expect("valid: the seed's values are not even read");
        assert!(config.rate_limit_enabled);
        assert_eq!(config.mail_from, "Ours <ours@example.com>");
        assert!(config.seed_aliases_used.is_empty());
        assert!(config.ignored_seed_settings.is_empty());
        assert_eq!(config.rate_limits, RateLimits::SEED);
    }

    #[test]
    fn a_bad_value_under_a_seed_name_is_reported_under_that_name() {
        let cases = [
            ("SECRET_KEY", "short"),
            ("ENABLE_RATE_LIMITING", "sometimes"),
            ("ACCOUNT_DELETION_GRACE_PERIOD_DAYS", "a week"),
            ("ACCOUNT_DELETION_REMINDER_DAYS", "3,0"),
            ("FROM_EMAIL", "not an address"),
            ("RATE_LIMIT_LOGIN", "5/fortnight"),
            ("RATE_LIMIT_OAUTH", "0/minute"),
            ("VERIFICATION_TOKEN_EXPIRE_HOURS", "0"),
            ("PASSWORD_RESET_TOKEN_EXPIRE_HOURS", "100"),
            ("ACCESS_TOKEN_EXPIRE_MINUTES", "43201"),
            ("MAIL_FROM", "<>"),
        ];
        for (var, value) in cases {
            let error = config_from(&[DB, (var, value)]).expect_err(&format!("{var}={value} must fail"));
            assert_eq!(error.var, var, "{var}={value}: {error}");
        }
    }

    #[test]
    fn the_seeds_example_secret_is_refused_in_production_only() {
        let seed_secret = ("SECRET_KEY", "dev_secret_key_change_in_production");
        config_from(&[DB, seed_secret]).expect("fine for development");
        let error = config_from(&[DB, seed_secret, ("ENVIRONMENT", "production")]).expect_err("public secret");
        assert_eq!(error.var, "SECRET_KEY");
        assert!(error.to_string().contains("published example"), "{error}");
    }

    /// Every setting this module reads, by the quoted upper-case names in its source.
    fn setting_names() -> std::collections::BTreeSet<&'static str> {
        let not_settings = ["INFO", "WARNING", "AWS_LAMBDA_FUNCTION_NAME"];
        include_str!("config.rs")
            .split('"')
            .skip(1)
            .step_by(2)
            .filter(|name| {
                name.len() > 2
                    && name.starts_with(|c: char| c.is_ascii_uppercase())
                    && name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            })
            .filter(|name| !not_settings.contains(name))
            .collect()
    }

    #[test]
    fn every_setting_is_documented_in_the_env_example_and_the_readme() {
        let env_example = include_str!("../../.env.example");
        let readme = include_str!("../../README.md");
        let names = setting_names();
        assert!(names.len() > 80, "found only {names:?}");
        for name in names {
            let word = |text: &str| {
                text.match_indices(name).any(|(at, _)| {
                    let before = text[..at].chars().next_back();
                    let after = text[at + name.len()..].chars().next();
                    let part_of_name = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
                    !part_of_name(before) && !part_of_name(after)
                })
            };
            assert!(word(env_example), "{name} is missing from .env.example");
            assert!(word(readme), "{name} is missing from README.md");
        }
    }

    #[test]
    fn the_env_example_uncommented_is_the_defaults() {
        let mut pairs: Vec<(String, String)> = vec![(DB.0.into(), DB.1.into())];
        for line in include_str!("../../.env.example").lines() {
            let Some((name, rest)) = line.strip_prefix("# ").and_then(|line| line.split_once('=')) else { continue };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
                continue;
            }
            let value = rest.split(" #").next().unwrap_or_default().trim().trim_matches('"');
            if !value.is_empty() {
                pairs.push((name.into(), value.into()));
            }
        }
        assert!(pairs.len() > 40, "read only {} settings", pairs.len());
        let example = Config::from_lookup(|name| pairs.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
            .expect("the example is a valid configuration");
        let defaults = config_from(&[DB, ("QUEUE_BACKEND", "local")]).expect("defaults");
        assert_eq!(format!("{example:?}"), format!("{defaults:?}"));
    }

    #[test]
    fn seed_log_level_names_are_accepted() {
        let config = config_from(&[DB, ("LOG_LEVEL", "WARNING")]).expect("valid config");
        assert_eq!(config.log_level.as_str(), "warn");
    }

    #[test]
    fn superuser_needs_both_email_and_password() {
        let only_email = config_from(&[DB, ("FIRST_SUPERUSER_EMAIL", "admin@example.com")]).expect_err("must fail");
        assert_eq!(only_email.var, "FIRST_SUPERUSER_PASSWORD");
        let only_password = config_from(&[DB, ("FIRST_SUPERUSER_PASSWORD", "long enough")]).expect_err("must fail");
        assert_eq!(only_password.var, "FIRST_SUPERUSER_EMAIL");
        let short = config_from(&[DB, ("FIRST_SUPERUSER", "a@b.co"), ("FIRST_SUPERUSER_PASSWORD", "short")])
            .expect_err("must fail");
        assert_eq!(short.var, "FIRST_SUPERUSER_PASSWORD");
        // An address login would refuse could never sign in: refused at start, under the name used.
        let unusable = config_from(&[DB, ("FIRST_SUPERUSER", "a@b.c"), ("FIRST_SUPERUSER_PASSWORD", "long enough")])
            .expect_err("must fail");
        assert_eq!(unusable.var, "FIRST_SUPERUSER");
        let disposable = config_from(&[
            DB,
            ("FIRST_SUPERUSER_EMAIL", "a@mailinator.com"),
            ("FIRST_SUPERUSER_PASSWORD", "long enough"),
        ])
        .expect_err("must fail");
        assert_eq!(disposable.var, "FIRST_SUPERUSER_EMAIL");
    }

    #[test]
    fn superuser_email_is_lowercased_and_username_defaults_to_admin() {
        let config = config_from(&[
            DB,
            ("FIRST_SUPERUSER", " Admin@Example.COM "),
            ("FIRST_SUPERUSER_PASSWORD", "Sup3r-secret!"),
        ])
        .expect("valid config");
        let seed = config.first_superuser.expect("superuser configured");
        assert_eq!(seed.email, "admin@example.com");
        assert_eq!(seed.username, "admin");
        assert_eq!(seed.password.expose_secret(), "Sup3r-secret!");
    }
}
