//! Ports: the small traits behind which side effects live, so the same service code runs with
//! AWS adapters in Lambda and local adapters in the devserver and tests.

mod events;
mod mailer;
mod metrics;
mod publisher;
mod queue;

pub use events::{EventSink, EventsError, MAX_BATCH, PutFuture};
pub use mailer::{MailError, Mailer};
pub use metrics::{Metric, MetricsSink};
pub use publisher::{PublishError, PublishFuture, Publisher};
pub use queue::{Queue, QueueDepth, QueueError};
