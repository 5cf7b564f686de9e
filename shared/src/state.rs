//! What every handler can reach: built once per cold start, cloned cheaply per request.

use std::sync::Arc;

use sqlx::PgPool;

use crate::adapters::file_mailer::FileMailer;
#[cfg(not(feature = "aws"))]
use crate::adapters::unavailable_mailer::UnavailableMailer;
use crate::config::{Config, MailBackend};
use crate::ports::Mailer;
use crate::security::oidc::IdTokenVerifier;

/// Shared application state. Later features add their ports (mailer, queue, ...) here.
#[derive(Clone, Debug)]
pub struct AppState {
    /// Settings read at start.
    pub config: Arc<Config>,
    /// Lazily connecting pool: creating it does no I/O, so cold start never waits on Postgres.
    pub db: PgPool,
    /// Delivers mail from the outbox.
    pub mailer: Arc<dyn Mailer>,
    /// Verifies Google/Apple ID tokens (caches the providers' keys).
    pub id_tokens: Arc<IdTokenVerifier>,
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
            #[cfg(feature = "aws")]
            MailBackend::Ses => Arc::new(crate::adapters::ses::SesMailer::new(config.mail_from.clone())),
            #[cfg(not(feature = "aws"))]
            MailBackend::Ses => Arc::new(UnavailableMailer),
        };
        let id_tokens = Arc::new(IdTokenVerifier::new(config.google.clone(), config.apple.clone()));
        Self { config: Arc::new(config), db, mailer, id_tokens }
    }
}
