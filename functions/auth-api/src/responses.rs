//! Response bodies and input helpers shared by this function's routes.

use serde::Serialize;
use serde_json::json;
use shared::error::ApiError;
use shared::security::validation::Email;
use utoipa::ToSchema;

/// `{"detail": "..."}`, the seed's success answer for actions.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Detail {
    detail: &'static str,
}

impl Detail {
    pub(crate) fn new(detail: &'static str) -> Self {
        Self { detail }
    }
}

/// An email field of a lookup route (resend, forgot): syntax only, so every well-formed address
/// gets the same answer; a malformed one is the seed's 422.
pub(crate) fn lookup_email(raw: &str) -> Result<Email, ApiError> {
    Email::parse_address(raw).map_err(|rule| ApiError::Validation(vec![rule.at("email", json!(raw))]))
}
