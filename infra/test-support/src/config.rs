//! Test configurations: settings given as `(NAME, value)` pairs, layered over defaults, instead
//! of a `Config::from_lookup` closure per test.

use std::path::{Path, PathBuf};

use shared::Config;
use shared::config::SEED_ALIASES;

/// A database URL that is never dialled: tests hand their own pool in, and an app built without
/// one (`AppState::new`) must find nothing listening (port 1).
pub const UNUSED_DATABASE_URL: &str = "postgres://unused@127.0.0.1:1/unused";

/// The HS256 secret of every [`app_config`], for tests that sign or forge tokens themselves.
pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123";

/// A configuration from `vars` on top of the one required setting, `DATABASE_URL` (as
/// [`UNUSED_DATABASE_URL`]); everything else keeps the code's own default, so a test states what
/// it depends on. A later pair wins over an earlier one; an empty value counts as unset.
pub fn test_config(vars: &[(&str, &str)]) -> Config {
    // Events (file backend) go to a directory of their own, never into the crate's `.local/`.
    let events_dir = std::env::temp_dir().join(format!("test-events-{}", uuid::Uuid::new_v4())).display().to_string();
    layered(&[("DATABASE_URL", UNUSED_DATABASE_URL), ("EVENTS_DIR", events_dir.as_str())], vars)
}

/// The configuration of a [`TestApp`](crate::TestApp), with `vars` on top: tokens signed with
/// [`JWT_SECRET`], no rate limits, links to `http://localhost:3000`, mail written to `mail_dir`,
/// and a 500 ms pool timeout so that an app without a database answers at once. When `vars` turn
/// rate limits on, it waits for room in the current window (see [`crate::rate_limit_window`]).
pub fn app_config(mail_dir: &Path, vars: &[(&str, &str)]) -> Config {
    let events_dir = mail_dir.join("events").display().to_string();
    let mail_dir = mail_dir.display().to_string();
    let defaults = [
        ("DATABASE_URL", UNUSED_DATABASE_URL),
        ("DB_ACQUIRE_TIMEOUT_MS", "500"),
        ("JWT_SECRET", JWT_SECRET),
        ("MAIL_DIR", mail_dir.as_str()),
        ("EVENTS_DIR", events_dir.as_str()),
        ("FRONTEND_URL", "http://localhost:3000"),
        ("RATE_LIMIT_ENABLED", "false"),
    ];
    let config = layered(&defaults, vars);
    if config.rate_limit_enabled {
        crate::rate_limit_window::leave_room_in_the_rate_limit_window();
    }
    config
}

/// A fresh mail directory under the system's temporary one (created by the first mail).
pub fn temp_mail_dir() -> PathBuf {
    std::env::temp_dir().join(format!("test-mail-{}", uuid::Uuid::new_v4()))
}

/// `vars` over `defaults`. A default also gives way to its seed alias (`ENABLE_RATE_LIMITING`
/// for `RATE_LIMIT_ENABLED`), since the config reads our name first.
fn layered(defaults: &[(&str, &str)], vars: &[(&str, &str)]) -> Config {
    let overridden = |name: &str| {
        let alias = SEED_ALIASES.iter().find(|(ours, _)| *ours == name).map(|(_, seed)| *seed);
        vars.iter().any(|(given, _)| *given == name || Some(*given) == alias)
    };
    let all: Vec<(&str, &str)> = defaults.iter().filter(|(name, _)| !overridden(name)).chain(vars).copied().collect();
    Config::from_lookup(|name| all.iter().rev().find(|(given, _)| *given == name).map(|(_, value)| (*value).to_owned()))
        .expect("test config")
}
