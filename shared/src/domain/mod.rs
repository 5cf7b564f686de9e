//! Business rules without I/O: given facts and the current time, decide. Unit-tested directly.

pub mod assurance;
pub mod audit;
pub mod deletion;
pub mod device;
pub mod events;
mod invalid_input;
pub mod login_backoff;
pub mod mail_feedback;
pub mod pagination;
pub mod rate_limit;
pub mod rate_limit_leases;
pub mod tasks;
pub mod ws;

pub use invalid_input::InvalidInput;
