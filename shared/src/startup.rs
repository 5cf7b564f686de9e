//! Cold-start wiring shared by every binary: read configuration (exiting with one line naming a
//! bad variable), install logging, build the state. No network I/O happens here.

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
pub fn state_or_exit(needs: Needs) -> AppState {
    let config = Config::from_env_or_exit();
    if needs == Needs::SigningKey
        && let Err(error) = config.require_jwt()
    {
        eprintln!("{error}");
        std::process::exit(2);
    }
    crate::telemetry::init(&config);
    AppState::new(config)
}
