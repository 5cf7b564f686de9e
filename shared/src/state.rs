//! What every handler can reach: built once per cold start, cloned cheaply per request.

use std::sync::Arc;

use sqlx::PgPool;

use crate::adapters::file_mailer::FileMailer;
use crate::adapters::local_queue::LocalQueue;
#[cfg(not(feature = "ses"))]
use crate::adapters::unavailable_mailer::UnavailableMailer;
use crate::config::{Config, EventsBackend, MailBackend, QueueBackend};
use crate::db::KeptConnections;
use crate::domain::rate_limit_leases::Leases;
use crate::ports::{EventSink, Mailer, MetricsSink, Queue};
use crate::security::oidc::IdTokenVerifier;

/// Shared application state: configuration and the ports (database, mailer, queue) every handler,
/// job and test reaches. One reference count: the router clones it several times per request
/// (each layer and handler holds a copy), and one shared counter is cheaper to bump than seven.
#[derive(Clone, Debug)]
pub struct AppState(Arc<AppStateParts>);

/// What [`AppState`] holds; its fields are read through the state (`state.db`).
#[derive(Clone, Debug)]
pub struct AppStateParts {
    /// Settings read at start.
    pub config: Arc<Config>,
    /// Lazily connecting pool: creating it does no I/O, so cold start never waits on Postgres.
    pub db: PgPool,
    /// Delivers mail from the outbox.
    pub mailer: Arc<dyn Mailer>,
    /// Publishes auth events from the outbox.
    pub events: Arc<dyn EventSink>,
    /// Counts logins, mail, jobs, refusals (CloudWatch metrics on Lambda).
    pub metrics: Arc<dyn MetricsSink>,
    /// Verifies Google/Apple ID tokens (caches the providers' keys).
    pub id_tokens: Arc<IdTokenVerifier>,
    /// Where jobs are queued; `None` runs them inline (see [`crate::jobs::enqueue`]).
    pub queue: Option<Arc<dyn Queue>>,
    /// The devserver's in-process queue, whose receiving end its worker takes.
    pub local_queue: Option<Arc<LocalQueue>>,
    /// This instance's reserved shares of the rate-limit windows.
    pub rate_limit_leases: Arc<Leases>,
    /// Connections kept aside for the session lookup of authenticated requests.
    pub kept_connections: Arc<KeptConnections>,
}

impl AppState {
    /// Builds the state from configuration without touching the network.
    pub fn new(config: Config) -> Self {
        let db = crate::db::lazy_pool(&config);
        Self::with_pool(config, db)
    }

    /// Builds the state around an existing pool (tests hand in the pool of a fresh database).
    pub fn with_pool(config: Config, db: PgPool) -> Self {
        let mailer: Arc<dyn Mailer> = match config.mail_backend {
            MailBackend::File => Arc::new(FileMailer::new(config.mail_dir.clone(), config.mail_from.clone())),
            #[cfg(feature = "ses")]
            MailBackend::Ses => Arc::new(
                crate::adapters::ses::SesMailer::new(config.mail_from.clone())
                    .with_configuration_set(config.ses_configuration_set.clone()),
            ),
            #[cfg(not(feature = "ses"))]
            MailBackend::Ses => Arc::new(UnavailableMailer),
        };
        let events = event_sink(&config);
        let metrics: Arc<dyn MetricsSink> = match &config.metrics_namespace {
            Some(namespace) => Arc::new(crate::telemetry::emf::Emf::new(
                namespace.clone(),
                config.service_name.clone(),
                std::io::stdout(),
            )),
            None => Arc::new(crate::telemetry::emf::NoMetrics),
        };
        let id_tokens = Arc::new(IdTokenVerifier::new(config.google.clone(), config.apple.clone()));
        let local_queue = (config.queue == QueueBackend::Local).then(|| Arc::new(LocalQueue::default()));
        let queue: Option<Arc<dyn Queue>> = match &config.queue {
            QueueBackend::Inline => None,
            QueueBackend::Local => local_queue.clone().map(|queue| queue as Arc<dyn Queue>),
            #[cfg(feature = "sqs")]
            QueueBackend::Sqs { queue_url, dlq_url } => {
                Some(Arc::new(crate::adapters::sqs::SqsQueue::new(queue_url.clone(), dlq_url.clone())))
            }
            #[cfg(not(feature = "sqs"))]
            QueueBackend::Sqs { .. } => Some(Arc::new(crate::adapters::unavailable_queue::UnavailableQueue)),
        };
        let kept_connections = Arc::new(KeptConnections::for_pool_of(db.options().get_max_connections()));
        Self(Arc::new(AppStateParts {
            config: Arc::new(config),
            db,
            mailer,
            events,
            metrics,
            id_tokens,
            queue,
            local_queue,
            rate_limit_leases: Arc::default(),
            kept_connections,
        }))
    }

    /// The state with another metrics sink (tests count what a request counted).
    #[must_use]
    pub fn with_metrics(self, metrics: Arc<dyn MetricsSink>) -> Self {
        let mut parts = AppStateParts::clone(&self.0);
        parts.metrics = metrics;
        Self(Arc::new(parts))
    }

    /// The state with another event sink (tests swap in a real EventBridge one).
    #[must_use]
    pub fn with_events(self, events: Arc<dyn EventSink>) -> Self {
        let mut parts = AppStateParts::clone(&self.0);
        parts.events = events;
        Self(Arc::new(parts))
    }

    /// The state with another job queue (tests swap in an unreachable or a real SQS one).
    #[must_use]
    pub fn with_queue(self, queue: Arc<dyn Queue>) -> Self {
        let mut parts = AppStateParts::clone(&self.0);
        parts.queue = Some(queue);
        Self(Arc::new(parts))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppStateParts;

    fn deref(&self) -> &AppStateParts {
        &self.0
    }
}

/// The configured event sink; EventBridge only in binaries built with the `events` feature.
fn event_sink(config: &Config) -> Arc<dyn EventSink> {
    match &config.events_backend {
        EventsBackend::File { dir } => {
            Arc::new(crate::adapters::file_events::FileEvents::new(dir.clone(), config.event_source.clone()))
        }
        #[cfg(feature = "events")]
        EventsBackend::EventBridge { bus_name } => {
            Arc::new(crate::adapters::eventbridge::EventBridgeSink::new(bus_name.clone(), config.event_source.clone()))
        }
        #[cfg(not(feature = "events"))]
        EventsBackend::EventBridge { .. } => Arc::new(crate::adapters::unavailable_events::UnavailableEvents),
    }
}
