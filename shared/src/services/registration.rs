//! `POST /auth/register`: validate, create an unverified account, mail a verification link.
//!
//! An address that already has an account gets the same 201 and body shape as a new one, so the
//! endpoint does not reveal who is registered (the seed answered 400 "Email already registered").
//! The owner is mailed a notice instead of a verification link. Both paths hash the password,
//! write one outbox mail and queue it, so they also take about the same time. A taken username
//! is still refused: usernames are public handles, and the check runs the same way whether or not
//! the email exists.
//!
//! What a registration leaves behind must not differ either: a free address's new account holds
//! the username and answers its password with "verify your email". So every registration writes a
//! hold (`registration_holds`) with the username and the password's hash, for [`HOLD_DAYS`] or
//! until the address is verified: registering again, registering the username from another
//! address, and signing in with the submitted password then answer alike, and cost alike (login
//! checks the holds of the address whether or not the account's password matched).

use chrono::SubsecRound;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::outbox_mail::Unsolicited;
use super::{Caller, outbox_mail};
use crate::AppState;
use crate::domain::InvalidInput;
use crate::error::{ApiError, ErrorCode};
use crate::mail::templates::Template;
use crate::repo::one_time_tokens::Purpose;
use crate::repo::registration_holds;
use crate::repo::users::{self, Taken, User};
use crate::security::password;
use crate::security::validation::{Email, Username, check_password};

/// How long a registration of a taken address holds its username and password.
pub const HOLD_DAYS: i64 = 30;

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

/// Registers an account and returns it, or, when the email already has an account, an
/// unsaved stand-in that looks the same to the caller. All field errors are reported together,
/// like FastAPI does.
pub async fn register(state: &AppState, input: Registration, caller: &Caller) -> Result<User, ApiError> {
    let (email, username) = validate(state, &input)?;

    let hash = password::hash(input.password).await?;

    let mut tx = state.db.begin().await?;
    registration_holds::lock_username(&mut *tx, username.as_str()).await?;
    if registration_holds::held_by_another(&mut *tx, username.as_str(), email.as_str()).await? {
        return Err(username_taken());
    }
    let until = chrono::Utc::now() + chrono::Duration::days(HOLD_DAYS);
    let user = match users::insert(&mut *tx, email.as_str(), username.as_str(), &hash).await? {
        Ok(user) => user,
        Err(Taken::Email) => {
            drop(tx);
            return answer_for_existing_email(state, (&email, &username, &hash), caller).await;
        }
        Err(Taken::Username) => return Err(username_taken()),
    };
    // Held like a taken address's registration, so signing in costs the same on both (see login).
    registration_holds::hold(&mut *tx, username.as_str(), email.as_str(), &hash, until).await?;
    let outbox_id = queue_verification_mail(state, &mut tx, &user).await?;
    caller.audit(&mut *tx, "register", Some(user.id), true, json!({})).await?;
    tx.commit().await?;
    state.metrics.count(crate::ports::Metric::Registered);
    // Counted as the taken address's notice is, so both paths cost the same; a new account's
    // first link goes out whatever the count.
    outbox_mail::within_recipient_budget(state, Unsolicited::Verification, &user.email).await?;

    outbox_mail::queue_delivery(state, outbox_id).await;
    Ok(user)
}

/// The 400 for a username another account or a pending registration holds.
pub(crate) fn username_taken() -> ApiError {
    ApiError::refused(ErrorCode::UsernameExists, "Username already taken. Please choose a different username.")
}

/// The email belongs to an account: refuse a username someone else has exactly as for a new
/// address; otherwise hold the username and password, mail the owner a notice and answer with a
/// stand-in for the account that would have been created.
async fn answer_for_existing_email(
    state: &AppState,
    (email, username, password_hash): (&Email, &Username, &str),
    caller: &Caller,
) -> Result<User, ApiError> {
    let within_budget =
        outbox_mail::within_recipient_budget(state, Unsolicited::RegistrationNotice, email.as_str()).await?;
    let mut tx = state.db.begin().await?;
    registration_holds::lock_username(&mut *tx, username.as_str()).await?;
    if users::username_taken_by_another(&mut *tx, username.as_str(), email.as_str()).await?
        || registration_holds::held_by_another(&mut *tx, username.as_str(), email.as_str()).await?
    {
        return Err(username_taken());
    }
    let until = chrono::Utc::now() + chrono::Duration::days(HOLD_DAYS);
    registration_holds::hold(&mut *tx, username.as_str(), email.as_str(), password_hash, until).await?;
    let owner = users::find_by_email(&mut *tx, email.as_str()).await?;
    let mut outbox_id = None;
    if let Some(owner) = owner.as_ref().filter(|owner| owner.is_active && within_budget) {
        let to = (owner.email.as_str(), owner.username.as_str());
        outbox_id = Some(outbox_mail::queue_notice(state, &mut tx, to, Template::AccountExists).await?);
    }
    let owner_id = owner.map(|owner| owner.id);
    caller.audit(&mut *tx, "register", owner_id, false, json!({"reason": "email_exists"})).await?;
    tx.commit().await?;
    if let Some(outbox_id) = outbox_id {
        outbox_mail::queue_delivery(state, outbox_id).await;
    }
    Ok(stand_in(email, username))
}

/// What a fresh registration would have returned: a new id, unverified, created now (to the
/// microsecond, as the database stores a new account's).
fn stand_in(email: &Email, username: &Username) -> User {
    User {
        id: uuid::Uuid::new_v4(),
        email: email.as_str().to_owned(),
        username: username.as_str().to_owned(),
        password_hash: None,
        is_verified: false,
        is_superuser: false,
        is_active: true,
        created_at: chrono::Utc::now().trunc_subsecs(6),
        failed_login_count: 0,
        locked_until: None,
        oauth_provider: None,
    }
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
        state.config.verification_token_ttl,
    )
    .await
}

fn validate(state: &AppState, input: &Registration) -> Result<(Email, Username), ApiError> {
    let mut errors: Vec<InvalidInput> = Vec::new();
    let email = Email::parse(&input.email).map_err(|rule| errors.push(rule.at("email", json!(input.email)))).ok();
    let username =
        Username::parse(&input.username).map_err(|rule| errors.push(rule.at("username", json!(input.username)))).ok();
    let context = [input.username.trim(), email.as_ref().map_or("", Email::local_part), input.email.trim()];
    if let Err(rule) = check_password(input.password.expose_secret(), state.config.password_policy, &context) {
        errors.push(rule.at("password", Value::String("**********".into())));
    }
    match (email, username) {
        (Some(email), Some(username)) if errors.is_empty() => Ok((email, username)),
        _ => Err(ApiError::from(errors)),
    }
}
