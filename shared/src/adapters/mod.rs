//! Implementations of the ports: local ones here, AWS ones as they land.

pub mod file_mailer;
pub mod mime;
pub mod unavailable_mailer;
