//! Implementations of the ports: local ones here, AWS ones as they land.

pub mod file_mailer;
pub mod mime;
#[cfg(feature = "aws")]
pub mod ses;
pub mod unavailable_mailer;
