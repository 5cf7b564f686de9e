//! `POST /auth/register`: validate, create an unverified account, mail a verification link.

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::{Caller, outbox_mail};
use crate::AppState;
use crate::error::{ApiError, FieldError};
use crate::mail::templates::Template;
use crate::repo::one_time_tokens::Purpose;
use crate::repo::users::{self, Taken, User};
use crate::security::password;
use crate::security::validation::{Email, Username, check_password};

/// How long a verification link works.
pub const VERIFY_EMAIL_VALID_FOR: chrono::Duration = chrono::Duration::hours(24);

/// The fields a registration needs; anything else in the body (such as `is_superuser`) is ignored.
#[derive(Debug)]
pub struct Registration {
    /// As typed.
    pub email: String,
    /// As typed.
    pub username: String,
    /// As typed.
    pub password: SecretString,
}

/// Registers an account. All field errors are reported together, like FastAPI does.
pub async fn register(state: &AppState, input: Registration, caller: &Caller) -> Result<User, ApiError> {
    let (email, username) = validate(state, &input)?;

    let hash = password::hash(input.password).await.map_err(|error| ApiError::Internal(error.into()))?;

    let mut tx = state.db.begin().await?;
    let user = match users::insert(&mut *tx, email.as_str(), username.as_str(), &hash).await? {
        Ok(user) => user,
        Err(Taken::Email) => {
            return Err(ApiError::BadRequest { code: "email_exists", detail: "Email already registered".into() });
        }
        Err(Taken::Username) => {
            return Err(ApiError::BadRequest { code: "username_exists", detail: "Username already taken".into() });
        }
    };
    let outbox_id = queue_verification_mail(state, &mut tx, &user).await?;
    caller.audit(&mut *tx, "register", Some(user.id), true, json!({})).await?;
    tx.commit().await?;

    outbox_mail::queue_delivery(state, outbox_id).await;
    Ok(user)
}

/// Issues a verification token for `user` (voiding older ones) and queues the mail with its
/// link, inside the caller's transaction.
pub(crate) async fn queue_verification_mail(
    state: &AppState,
    tx: &mut sqlx::PgConnection,
    user: &User,
) -> Result<uuid::Uuid, ApiError> {
    outbox_mail::queue_token_mail(
        state,
        tx,
        (user.id, &user.email, &user.username),
        Purpose::VerifyEmail,
        Template::VerifyEmail,
        "verify-email",
        VERIFY_EMAIL_VALID_FOR,
    )
    .await
}

fn validate(state: &AppState, input: &Registration) -> Result<(Email, Username), ApiError> {
    let mut errors: Vec<FieldError> = Vec::new();
    let email = Email::parse(&input.email).map_err(|rule| errors.push(rule.at("email", json!(input.email)))).ok();
    let username =
        Username::parse(&input.username).map_err(|rule| errors.push(rule.at("username", json!(input.username)))).ok();
    let context = [input.username.trim(), email.as_ref().map_or("", Email::local_part), input.email.trim()];
    if let Err(rule) = check_password(input.password.expose_secret(), state.config.password_policy, &context) {
        errors.push(rule.at("password", Value::String("**********".into())));
    }
    match (email, username) {
        (Some(email), Some(username)) if errors.is_empty() => Ok((email, username)),
        _ => Err(ApiError::Validation(errors)),
    }
}
