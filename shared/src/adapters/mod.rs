//! Implementations of the ports: local ones here, AWS ones as they land.

#[cfg(feature = "ws")]
pub mod apigw_ws;
#[cfg(any(feature = "secrets", feature = "ses", feature = "sqs", feature = "ws", feature = "events"))]
pub mod aws_env;
#[cfg(feature = "events")]
pub mod eventbridge;
pub mod file_events;
pub mod file_mailer;
pub mod json_fetch;
pub mod local_queue;
pub mod local_ws;
pub mod mime;
#[cfg(feature = "secrets")]
pub mod secrets_manager;
#[cfg(feature = "ses")]
pub mod ses;
#[cfg(feature = "sqs")]
pub mod sqs;
pub mod unavailable_events;
pub mod unavailable_mailer;
pub mod unavailable_queue;
