//! `UserResponse`, the seed's public view of an account.

use serde::Serialize;
use uuid::Uuid;

use crate::repo::users::User;
use crate::time::rfc3339;

/// What clients see of a user (never the password hash or security counters).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[schema(example = json!({
    "id": "0b7c6c7e-2f5a-4f55-8a5e-7d3c1f2e9a10", "email": "jane@example.com", "username": "jane",
    "is_verified": true, "is_superuser": false, "is_active": true,
    "created_at": "2026-12-07T09:30:12.345678Z", "date_created": "2026-12-07T09:30:12.345678Z",
    "oauth_provider": null}))]
pub struct UserResponse {
    /// Account id.
    pub id: Uuid,
    /// Normalised email.
    pub email: String,
    /// Username.
    pub username: String,
    /// Whether the email address is confirmed.
    pub is_verified: bool,
    /// Administrator.
    pub is_superuser: bool,
    /// Disabled accounts cannot sign in.
    pub is_active: bool,
    /// Creation time, RFC 3339 UTC.
    pub created_at: String,
    /// The seed's name for `created_at` (same value), kept so the seed's clients find it.
    pub date_created: String,
    /// `google` or `apple` for accounts created through that provider, else null (seed key).
    pub oauth_provider: Option<String>,
}

impl From<&User> for UserResponse {
    fn from(user: &User) -> Self {
        Self {
            id: user.id,
            email: user.email.clone(),
            username: user.username.clone(),
            is_verified: user.is_verified,
            is_superuser: user.is_superuser,
            is_active: user.is_active,
            created_at: rfc3339(user.created_at),
            date_created: rfc3339(user.created_at),
            oauth_provider: user.oauth_provider.clone(),
        }
    }
}
