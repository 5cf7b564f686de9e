//! Logging setup: JSON lines on Lambda (CloudWatch), readable text in a terminal.

use tracing_subscriber::EnvFilter;

use crate::config::{Config, LogFormat};

/// Installs the global subscriber once, at start. Later calls (tests) are ignored.
pub fn init(config: &Config) {
    init_with(config.log_format, &config.log_level);
}

/// Same as [`init`] for binaries that have not loaded a `Config` (yet).
pub fn init_with(format: LogFormat, level: &str) {
    // Postgres NOTICEs ("relation already exists, skipping") are noise at info level.
    let directives = format!("{level},sqlx::postgres::notice=warn");
    let filter = EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stdout);
    let _already_set = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_ansi(false)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}
