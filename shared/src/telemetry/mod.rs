//! Logging setup: JSON lines on Lambda (CloudWatch), labelled with the invocation, the trace
//! and the request they belong to; readable text in a terminal.

mod background;
pub mod correlation;
pub mod emf;
mod json_lines;

pub use background::flush;

use tracing_subscriber::Registry;
use tracing_subscriber::filter::{FilterFn, LevelFilter, Targets};
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::{Filter, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// Where logs go and how they look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line: what CloudWatch Logs Insights queries.
    Json,
    /// Human-readable, for a terminal.
    Pretty,
}

/// A `LOG_LEVEL` that [`parse_filter`] accepts: a level, or `target=level` pairs. Checked when the
/// settings are read, so a typo stops the start instead of silencing the logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFilter(String);

impl LogFilter {
    /// Reads a filter; the seed's level names `WARNING`, `CRITICAL` and `FATAL` are accepted.
    pub fn parse(raw: &str) -> Option<Self> {
        let level = match raw.to_ascii_lowercase().as_str() {
            "warning" => "warn".to_owned(),
            "critical" | "fatal" => "error".to_owned(),
            other => other.to_owned(),
        };
        parse_filter(&level).map(|_| Self(level))
    }

    /// The filter as written (lowercased).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for LogFilter {
    fn default() -> Self {
        Self("info".into())
    }
}

/// Who writes the log lines to stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogWriter {
    /// The thread that logs, before it goes on: what Lambda needs, where an execution environment
    /// may be frozen as soon as the response is sent and a line still queued would be late or lost.
    Direct,
    /// A writer thread, many lines per system call, so the write is off every request's path:
    /// for a long-running server (the devserver). Call [`flush`] before the process exits.
    Background,
}

/// Installs the global subscriber once, at start. Later calls (tests) are ignored.
pub fn init(format: LogFormat, filter: &LogFilter, writer: LogWriter) {
    let _already_set = subscriber(format, filter.as_str(), writer).try_init();
}

/// The subscriber [`init`] installs, separate so tests can ask it what it lets through.
fn subscriber(format: LogFormat, level: &str, writer: LogWriter) -> Box<dyn tracing::Subscriber + Send + Sync> {
    // Postgres NOTICEs ("relation already exists, skipping") are noise at info level.
    let directives = format!("{level},sqlx::postgres::notice=warn");
    let targets = parse_filter(&directives).unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO));
    // Spans of info and above stay on whatever the level: their fields (the Lambda request id,
    // the trace id, the request id) label the lines logged inside them, warnings included.
    let most_verbose = Filter::<Registry>::max_level_hint(&targets).map(|level| level.max(LevelFilter::INFO));
    let filter = FilterFn::new(move |metadata| {
        (metadata.is_span() && *metadata.level() <= tracing::Level::INFO)
            || targets.would_enable(metadata.target(), metadata.level())
    })
    .with_max_level_hint(most_verbose.unwrap_or(LevelFilter::TRACE));
    let writer = match writer {
        LogWriter::Background => background::stdout_writer().map(BoxMakeWriter::new),
        LogWriter::Direct => None,
    };
    let writer = writer.unwrap_or_else(|| BoxMakeWriter::new(std::io::stdout));
    match format {
        LogFormat::Json => {
            Box::new(tracing_subscriber::registry().with(json_lines::JsonLines::new(writer)).with(filter))
        }
        LogFormat::Pretty => Box::new(
            tracing_subscriber::fmt()
                .with_max_level(LevelFilter::TRACE)
                .with_writer(writer)
                .compact()
                .finish()
                .with(filter),
        ),
    }
}

/// Reads a `LOG_LEVEL` filter: a level, or `target=level` pairs separated by commas.
///
/// Target lists rather than full `EnvFilter` directives: the span and field matching we never use
/// costs a regex engine, about 0.4 MB in every function's binary. Stricter than `Targets`' own
/// parser, which takes an unknown word as a target name: a typo such as `verbose` would then
/// silence every other log line instead of failing the config check.
pub fn parse_filter(directives: &str) -> Option<Targets> {
    let mut filter = Targets::new();
    for directive in directives.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        filter = match directive.split_once('=') {
            None => filter.with_default(directive.parse::<LevelFilter>().ok()?),
            Some((target, level)) => {
                let is_module_path = !target.is_empty()
                    && target.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '-'));
                if !is_module_path {
                    return None;
                }
                filter.with_target(target, level.parse::<LevelFilter>().ok()?)
            }
        };
    }
    Some(filter)
}

#[cfg(test)]
mod tests {
    use super::{LogFilter, LogFormat, LogWriter, parse_filter, subscriber};

    #[test]
    fn the_configured_level_decides_what_is_logged() {
        tracing::subscriber::with_default(subscriber(LogFormat::Json, "debug", LogWriter::Direct), || {
            assert!(tracing::enabled!(tracing::Level::DEBUG), "LOG_LEVEL=debug must let debug through");
            assert!(!tracing::enabled!(target: "sqlx::postgres::notice", tracing::Level::INFO));
        });
        tracing::subscriber::with_default(subscriber(LogFormat::Pretty, "warn", LogWriter::Direct), || {
            assert!(!tracing::enabled!(tracing::Level::INFO));
            assert!(tracing::enabled!(tracing::Level::WARN));
            assert!(
                tracing::enabled!(kind: tracing::metadata::Kind::SPAN, tracing::Level::INFO),
                "info spans label the warnings inside them"
            );
            assert!(!tracing::enabled!(kind: tracing::metadata::Kind::SPAN, tracing::Level::DEBUG));
        });
    }

    #[test]
    fn levels_and_target_lists_are_filters() {
        for good in ["info", "WARN", "debug,sqlx=warn", "info,sqlx::postgres::notice=warn", "off", "shared=trace,"] {
            assert!(parse_filter(good).is_some(), "{good}");
        }
    }

    #[test]
    fn the_seeds_level_names_read_as_ours() {
        assert_eq!(LogFilter::parse("WARNING").map(|filter| filter.as_str().to_owned()), Some("warn".into()));
        assert_eq!(LogFilter::parse("critical").map(|filter| filter.as_str().to_owned()), Some("error".into()));
        assert!(LogFilter::parse("verbose").is_none());
    }

    #[test]
    fn typos_and_unsupported_directives_are_refused() {
        for bad in ["verbose", "lou[d", "sqlx=loud", "=info", "info,[span]=debug", "a b=info"] {
            assert!(parse_filter(bad).is_none(), "{bad}");
        }
    }
}
