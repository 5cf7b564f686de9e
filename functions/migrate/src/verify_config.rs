//! `migrate verify-config`: everything a function checks at its cold start, and what it would
//! only find out at its first request (the database, the migrations, the queue), reported in
//! one go, so a deploy's settings can be checked before traffic reaches them.

use std::collections::HashMap;
use std::time::Duration;

use shared::config::QueueBackend;
use shared::{AppState, Config};

/// Longest wait for the database or the queue to answer.
const PATIENCE: Duration = Duration::from_secs(10);

/// The report, one line per check, and whether every check passed.
pub async fn verify_config() -> (String, bool) {
    let mut report = Report::default();
    let overlay = match shared::startup::secrets_overlay().await {
        Ok(overlay) if overlay.is_empty() => {
            report.ok("secrets: none named (SECRETS_ARN unset); the environment alone is read");
            overlay
        }
        Ok(overlay) => {
            report.ok(&format!("secrets: {} setting(s) read from SECRETS_ARN", overlay.len()));
            overlay
        }
        Err(problem) => {
            report.problem(&format!("secrets: {problem}"));
            HashMap::new()
        }
    };
    let (config, problems) = Config::check_all(|name| overlay.get(name).cloned().or_else(|| std::env::var(name).ok()));
    for problem in &problems {
        report.problem(&format!("settings: {} {}", problem.var, problem.problem));
    }
    let Some(config) = config else {
        report.note("the database and the queue were not tried: fix the settings first");
        return report.finish();
    };
    report.ok(&format!("settings: environment {:?}", config.environment));
    match config.require_jwt() {
        Ok(_) => report.ok("signing key: set"),
        Err(problem) => report.problem(&format!("signing key: {problem}")),
    }
    let state = AppState::new(config);
    match tokio::time::timeout(PATIENCE, crate::pending_migrations(&state.db)).await {
        Ok(Ok(0)) => report.ok("database: reachable, every migration applied"),
        Ok(Ok(pending)) => {
            report.problem(&format!("database: reachable, but {pending} migration(s) not applied (run migrate)"))
        }
        Ok(Err(error)) => report.problem(&format!("database: {error}")),
        Err(_) => report.problem(&format!("database: no answer within {PATIENCE:?}")),
    }
    if let (QueueBackend::Sqs { .. }, Some(queue)) = (&state.config.queue, &state.queue) {
        match tokio::time::timeout(PATIENCE, queue.depth()).await {
            Ok(Ok(depth)) => report.ok(&format!(
                "queue: reachable, {} job(s) waiting, {} dead-lettered",
                depth.pending,
                depth.dead_letter.map_or_else(|| "? (DLQ_URL unset)".to_owned(), |count| count.to_string())
            )),
            Ok(Err(error)) => report.problem(&format!("queue: {error}")),
            Err(_) => report.problem(&format!("queue: no answer within {PATIENCE:?}")),
        }
    }
    report.finish()
}

#[derive(Default)]
struct Report {
    lines: Vec<String>,
    problems: usize,
}

impl Report {
    fn ok(&mut self, line: &str) {
        self.lines.push(format!("ok       {line}"));
    }

    fn problem(&mut self, line: &str) {
        self.problems += 1;
        self.lines.push(format!("PROBLEM  {line}"));
    }

    fn note(&mut self, line: &str) {
        self.lines.push(format!("         {line}"));
    }

    fn finish(mut self) -> (String, bool) {
        let passed = self.problems == 0;
        self.lines.push(if passed { "every check passed".into() } else { format!("{} problem(s)", self.problems) });
        (self.lines.join("\n"), passed)
    }
}
