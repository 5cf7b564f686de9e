//! What signed-in users change on their own account (the profile routes under `/users/me`).

use serde_json::json;
use uuid::Uuid;

use super::registration::username_taken;
use crate::AppState;
use crate::error::ApiError;
use crate::repo::users::{self, Taken, User};
use crate::security::validation::Username;

/// Gives the account a new username under the registration rules; a name another account (or a
/// pending registration) holds is refused like at registration.
pub async fn change_username(state: &AppState, user_id: Uuid, requested: &str) -> Result<User, ApiError> {
    let username = Username::parse(requested).map_err(|rule| rule.at("username", json!(requested)))?;
    match users::set_username(&state.db, user_id, username.as_str()).await? {
        Ok(user) => Ok(user),
        Err(Taken::Username | Taken::Email) => Err(username_taken()),
    }
}
