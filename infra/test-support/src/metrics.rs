//! A metrics sink that remembers what was counted, for tests to assert on.

use std::sync::Mutex;

use shared::ports::{Metric, MetricsSink};

/// Every count, in order.
#[derive(Debug, Default)]
pub struct RecordingMetrics(Mutex<Vec<Metric>>);

impl RecordingMetrics {
    /// How often `metric` was counted.
    pub fn count_of(&self, metric: Metric) -> usize {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter().filter(|m| **m == metric).count()
    }
}

impl MetricsSink for RecordingMetrics {
    fn count(&self, metric: Metric) {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(metric);
    }
}
