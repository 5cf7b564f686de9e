//! Local auth events: one JSON file per event in `EVENTS_DIR`, named by time and event id, each
//! what EventBridge would carry (`source`, `detail-type`, `detail`). Written to a temporary name
//! and renamed, so a reader never sees half an event.

use std::path::PathBuf;

use serde_json::json;

use crate::domain::events::AuthEvent;
use crate::ports::{EventSink, EventsError, PutFuture};

/// Writes events into a directory.
#[derive(Debug, Clone)]
pub struct FileEvents {
    dir: PathBuf,
    source: String,
}

impl FileEvents {
    /// Events written into `dir` (created on first use), with `source` as EventBridge's.
    pub fn new(dir: impl Into<PathBuf>, source: impl Into<String>) -> Self {
        Self { dir: dir.into(), source: source.into() }
    }
}

impl EventSink for FileEvents {
    fn put<'a>(&'a self, events: &'a [AuthEvent]) -> PutFuture<'a> {
        Box::pin(async move {
            let failed = |error: std::io::Error| EventsError(error.to_string());
            tokio::fs::create_dir_all(&self.dir).await.map_err(failed)?;
            for event in events {
                let body = json!({"source": self.source, "detail-type": event.kind, "detail": event});
                let stamp = event.occurred_at.format("%Y%m%dT%H%M%S%.6fZ");
                let name = format!("{stamp}-{}.json", event.event_id);
                let partial = self.dir.join(format!(".{name}.partial"));
                tokio::fs::write(&partial, body.to_string()).await.map_err(failed)?;
                tokio::fs::rename(&partial, self.dir.join(name)).await.map_err(failed)?;
            }
            Ok(vec![true; events.len()])
        })
    }
}
