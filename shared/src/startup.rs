//! Cold-start wiring shared by every binary: read configuration (overlaid with the secret named
//! by `SECRETS_ARN`, if any), exit with one line naming a bad variable, install logging, build
//! the state. Apart from reading that secret, no network I/O happens here.

use std::collections::HashMap;

use crate::telemetry::LogWriter;
use crate::{AppState, Config};

/// What a binary needs beyond the base configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Only the base configuration.
    Nothing,
    /// An access-token signing key (`JWT_SECRET` or `JWT_PRIVATE_KEY`).
    SigningKey,
}

/// Loads the configuration, exits with status 2 and one line when it is unusable, installs the
/// log subscriber and returns the state.
pub async fn state_or_exit(needs: Needs) -> AppState {
    state_or_exit_with_defaults(needs, &[], LogWriter::Direct).await
}

/// [`state_or_exit`] for a binary whose defaults differ from a Lambda function's (the devserver
/// runs its own queue worker and writes its logs from a thread of their own): `defaults` apply
/// where neither the secret nor the environment sets a variable.
pub async fn state_or_exit_with_defaults(needs: Needs, defaults: &[(&str, &str)], writer: LogWriter) -> AppState {
    let overlay = match secrets_overlay().await {
        Ok(overlay) => overlay,
        Err(message) => exit_with(&message),
    };
    let lookup = |name: &str| {
        overlay
            .get(name)
            .cloned()
            .or_else(|| std::env::var(name).ok())
            .or_else(|| defaults.iter().find(|(key, _)| *key == name).map(|(_, value)| (*value).to_owned()))
    };
    let config = Config::from_lookup(lookup).unwrap_or_else(|error| exit_with(&error.to_string()));
    if needs == Needs::SigningKey
        && let Err(error) = config.require_jwt()
    {
        exit_with(&error.to_string());
    }
    crate::telemetry::init(config.log_format, &config.log_level, writer);
    config.log_seed_settings();
    AppState::new(config)
}

fn exit_with(message: &str) -> ! {
    eprintln!("{message}");
    std::process::exit(2);
}

/// The settings stored in the secrets `SECRETS_ARN` names; they win over the environment.
pub async fn secrets_overlay() -> Result<HashMap<String, String>, String> {
    let Some(arn) = std::env::var("SECRETS_ARN").ok().filter(|arn| !arn.trim().is_empty()) else {
        return Ok(HashMap::new());
    };
    load_secret(arn.trim()).await
}

#[cfg(feature = "secrets")]
async fn load_secret(arn: &str) -> Result<HashMap<String, String>, String> {
    crate::adapters::secrets_manager::load_all(arn).await.map_err(|error| format!("configuration error: {error}"))
}

#[cfg(not(feature = "secrets"))]
async fn load_secret(_arn: &str) -> Result<HashMap<String, String>, String> {
    Err("configuration error: SECRETS_ARN is set but this binary was built without the `secrets` feature".into())
}
