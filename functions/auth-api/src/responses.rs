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

/// `{"message": "..."}`, the seed's answer of logout and session revocation.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Message {
    message: &'static str,
}

impl Message {
    pub(crate) fn new(message: &'static str) -> Self {
        Self { message }
    }
}

/// `{"message", "email_sent"}`, the seed's answer of the routes that mail a link. `email_sent` is
/// always true: these routes answer alike whether or not the address has an account.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EmailSent {
    message: &'static str,
    email_sent: bool,
}

impl EmailSent {
    pub(crate) fn new(message: &'static str) -> Self {
        Self { message, email_sent: true }
    }
}

/// An email field of a lookup route (resend, forgot, request-deletion): every well-formed address
/// gets the same answer, whether or not it has an account; a malformed one, or one of the seed's
/// disposable domains, is the seed's 422.
pub(crate) fn lookup_email(raw: &str) -> Result<Email, ApiError> {
    Email::parse_existing(raw).map_err(|rule| ApiError::from(rule.at("email", json!(raw))))
}
