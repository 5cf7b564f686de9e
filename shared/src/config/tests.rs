//! The settings' parsing, defaults, refusals and seed aliases.

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
    let config = config_from(&[DB, ("WS_MAX_CONNECTIONS_PER_SESSION", "2"), ("WS_MAX_CONNECTIONS_PER_USER", "1000")])
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
        MFA_KEY,
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
const MFA_KEY: (&str, &str) = ("MFA_ENCRYPTION_KEY", "a-random-string-of-at-least-32-characters");

#[test]
fn a_deployment_does_not_start_with_the_local_defaults() {
    let queue_url = ("QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/jobs");
    let lambda = ("AWS_LAMBDA_FUNCTION_NAME", "auth-api");
    for deployment in [vec![("ENVIRONMENT", "production")], vec![("ENVIRONMENT", "staging")], vec![lambda, queue_url]] {
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
        let derived_mfa_key = with(&[PUBLIC_FRONT_END, PUBLIC_ORIGINS, PUBLIC_SENDER]);
        assert_eq!(derived_mfa_key.expect_err("MFA key from JWT_SECRET").var, "MFA_ENCRYPTION_KEY");
        with(&[PUBLIC_FRONT_END, PUBLIC_ORIGINS, PUBLIC_SENDER, MFA_KEY]).expect("public settings");
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
    let current = include_str!("../../tests/keys/test-ec-private.pem").replace('\n', "\\n");
    let previous = include_str!("../../tests/keys/test-rsa-private.pem");
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

    let pem = include_str!("../../tests/keys/test-ec-private.pem").replace('\n', "\\n");
    let config = config_from(&[DB, ("JWT_PRIVATE_KEY", &pem), ("ACCESS_TOKEN_EXPIRE_MINUTES", "5")]).expect("valid");
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
    include_str!("../config.rs")
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
    let env_example = include_str!("../../../.env.example");
    let readme = include_str!("../../../README.md");
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
    for line in include_str!("../../../.env.example").lines() {
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
    let disposable =
        config_from(&[DB, ("FIRST_SUPERUSER_EMAIL", "a@mailinator.com"), ("FIRST_SUPERUSER_PASSWORD", "long enough")])
            .expect_err("must fail");
    assert_eq!(disposable.var, "FIRST_SUPERUSER_EMAIL");
}

#[test]
fn superuser_email_is_lowercased_and_username_defaults_to_admin() {
    let config =
        config_from(&[DB, ("FIRST_SUPERUSER", " Admin@Example.COM "), ("FIRST_SUPERUSER_PASSWORD", "Sup3r-secret!")])
            .expect("valid config");
    let seed = config.first_superuser.expect("superuser configured");
    assert_eq!(seed.email, "admin@example.com");
    assert_eq!(seed.username, "admin");
    assert_eq!(seed.password.expose_secret(), "Sup3r-secret!");
}

fn all_problems(pairs: &[(&str, &str)]) -> (Option<Config>, Vec<&'static str>) {
    let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let (config, problems) = Config::check_all(|name| map.get(name).cloned());
    (config, problems.iter().map(|problem| problem.var).collect())
}

#[test]
fn every_problem_is_reported_at_once_not_only_the_first() {
    let (config, problems) = all_problems(&[
        ("DATABASE_URL", "mysql://nope"),
        ("LOG_LEVEL", "loud"),
        ("RATE_LIMIT_ENABLED", "perhaps"),
        ("FIRST_SUPERUSER_EMAIL", "admin@example.com"),
        ("QUEUE_BACKEND", "sqs"),
    ]);
    assert!(config.is_none());
    let mut problems = problems;
    problems.sort_unstable();
    assert_eq!(
        problems,
        ["DATABASE_URL", "FIRST_SUPERUSER_PASSWORD", "LOG_LEVEL", "QUEUE_URL", "RATE_LIMIT_ENABLED"],
        "each problem once, a required variable's stand-in letting the rest be checked"
    );
}

#[test]
fn good_settings_have_no_problem_and_give_the_configuration() {
    let (config, problems) = all_problems(&[DB]);
    assert!(problems.is_empty(), "{problems:?}");
    assert!(config.is_some());
    let (config, problems) = all_problems(&[]);
    assert_eq!((config.is_none(), problems), (true, vec!["DATABASE_URL"]));
}
