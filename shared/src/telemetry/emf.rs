//! CloudWatch Embedded Metric Format: one JSON line per count on stdout, which CloudWatch Logs
//! turns into a metric (namespace `METRICS_NAMESPACE`, dimension `Service` = the function) with
//! no API call on the request's path. Lines are written whole, by the counting thread, like the
//! log lines on Lambda.

use std::io::Write;
use std::sync::Mutex;

use serde_json::json;

use crate::ports::{Metric, MetricsSink};

/// Writes EMF lines to `W` (stdout in production, a buffer in tests).
#[derive(Debug)]
pub struct Emf<W: Write + Send> {
    namespace: String,
    service: String,
    out: Mutex<W>,
}

impl<W: Write + Send> Emf<W> {
    /// Counts for `service` (the function) under `namespace`, written to `out`.
    pub fn new(namespace: impl Into<String>, service: impl Into<String>, out: W) -> Self {
        Self { namespace: namespace.into(), service: service.into(), out: Mutex::new(out) }
    }

    /// The writer, for tests to read what was written.
    pub fn into_inner(self) -> W {
        self.out.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The EMF document of one count.
    fn line(&self, metric: Metric, timestamp_ms: i64) -> String {
        let name = metric.name();
        let mut document = json!({
            "_aws": {
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [["Service"]],
                    "Metrics": [{"Name": name, "Unit": "Count"}],
                }],
            },
            "Service": self.service,
        });
        document[name] = json!(1);
        document.to_string()
    }
}

impl<W: Write + Send + std::fmt::Debug> MetricsSink for Emf<W> {
    fn count(&self, metric: Metric) {
        let mut line = self.line(metric, chrono::Utc::now().timestamp_millis());
        line.push('\n');
        let mut out = self.out.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // A metric that cannot be written is lost; the request goes on.
        let _ = out.write_all(line.as_bytes()).and_then(|()| out.flush());
    }
}

/// Counts nothing (local development, where there is no CloudWatch to read them).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMetrics;

impl MetricsSink for NoMetrics {
    fn count(&self, _metric: Metric) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn each_count_is_one_emf_line_cloudwatch_can_read() {
        let emf = Emf::new("ServerlessAuth/prod", "auth-api", Vec::new());
        emf.count(Metric::LoginSucceeded);
        emf.count(Metric::RateLimited);

        let written = String::from_utf8(emf.into_inner()).expect("utf-8");
        let lines: Vec<Value> =
            written.lines().map(|line| serde_json::from_str(line).expect("one JSON object per line")).collect();
        assert_eq!(lines.len(), 2);
        for (line, metric) in lines.iter().zip([Metric::LoginSucceeded, Metric::RateLimited]) {
            let directive = &line["_aws"]["CloudWatchMetrics"][0];
            assert_eq!(directive["Namespace"], "ServerlessAuth/prod");
            assert_eq!(directive["Dimensions"], json!([["Service"]]));
            assert_eq!(directive["Metrics"], json!([{"Name": metric.name(), "Unit": "Count"}]));
            assert!(line["_aws"]["Timestamp"].as_i64().is_some_and(|ms| ms > 1_700_000_000_000));
            assert_eq!((line["Service"].as_str(), line[metric.name()].as_i64()), (Some("auth-api"), Some(1)));
        }
    }
}
