//! The seed's input rules, as parse-don't-validate newtypes: a value of [`Email`], [`Username`]
//! or an accepted password has passed every rule, so later code never re-checks.
//!
//! Each rule failure carries the seed's message; handlers turn it into a FastAPI-style 422 entry
//! with [`RuleViolation::at`].

mod email;
mod http_url;
mod password_policy;
mod username;

pub use email::Email;
pub use http_url::HttpUrl;
pub use password_policy::{LENGTH as PASSWORD_LENGTH, PasswordPolicy, check_password};
pub use username::{LENGTH as USERNAME_LENGTH, Username};

use serde_json::{Value, json};

use crate::domain::InvalidInput;

/// A broken input rule, with the message the client sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RuleViolation {
    /// Human-readable message (the seed's wording).
    pub message: String,
}

impl RuleViolation {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self { message: message.into() }
    }

    /// The violation at body field `field` (answered as a 422 entry); `input` is echoed back, so
    /// callers pass a mask for secrets.
    pub fn at(&self, field: &str, input: Value) -> InvalidInput {
        InvalidInput::new("value_error", vec![json!("body"), json!(field)], self.message.clone(), input)
    }
}

/// True for characters no identifier should contain: control characters (NUL included) and
/// invisible format characters that make two different strings look the same.
pub(crate) fn is_forbidden_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}')
}
