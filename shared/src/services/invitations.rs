//! Invitations: a superuser creates an account for someone, who sets its password from a mailed
//! link and is signed in.
//!
//! The invited account is active but unverified and has no password, so nothing can sign in to
//! it until the link is opened (a passwordless sign-in link would also do: it proves the same
//! mailbox). The link lives 7 days; re-sending voids the previous one.

use secrecy::SecretString;
use serde_json::json;
use uuid::Uuid;

use super::Caller;
use super::login::{SignIn, open_session};
use super::oauth::random_suffix;
use super::outbox_mail;
use super::passwords::{check_new_password, check_password_rules};
use super::registration::username_taken;
use crate::AppState;
use crate::domain::InvalidInput;
use crate::domain::assurance;
use crate::error::{ApiError, ErrorCode};
use crate::mail::templates::Template;
use crate::repo::one_time_tokens::{self, Purpose};
use crate::repo::registration_holds;
use crate::repo::user_details::{self, UserDetails};
use crate::repo::users::{self, Taken, User};
use crate::security::validation::{Email, Username};
use crate::security::{password, tokens};

/// How long an invitation link works.
const VALID_FOR: chrono::Duration = chrono::Duration::days(7);

/// Attempts at a free generated `user_<8 hex>` username.
const USERNAME_ATTEMPTS: usize = 5;

/// What a superuser asks for.
#[derive(Debug)]
pub struct Invitation {
    /// As typed; the registration rules apply.
    pub email: String,
    /// As typed; `None` gives the account a generated one the invitee can replace on accepting.
    pub username: Option<String>,
    /// Make the new account an administrator.
    pub is_superuser: bool,
}

/// What the invitee sends back with the link's token.
#[derive(Debug)]
pub struct Acceptance {
    /// From the link.
    pub token: String,
    /// The first password; the password policy applies.
    pub password: SecretString,
    /// A username to replace the one the invitation gave.
    pub username: Option<String>,
}

/// Creates the account and mails its invitation; returns the account as administrators see it.
pub async fn invite(
    state: &AppState,
    admin_id: Uuid,
    invitation: Invitation,
    caller: &Caller,
) -> Result<UserDetails, ApiError> {
    let (email, username) = validate(&invitation)?;
    for _ in 0..USERNAME_ATTEMPTS {
        let candidate = match &username {
            Some(username) => username.as_str().to_owned(),
            None => format!("user_{}", random_suffix()?),
        };
        let mut tx = state.db.begin().await?;
        registration_holds::lock_username(&mut *tx, &candidate).await?;
        let held = registration_holds::held_by_another(&mut *tx, &candidate, email.as_str()).await?;
        let inserted = match held {
            true => Err(Taken::Username),
            false => users::insert_invited(&mut *tx, email.as_str(), &candidate, invitation.is_superuser).await?,
        };
        let user = match inserted {
            Ok(user) => user,
            Err(Taken::Email) => return Err(ApiError::refused(ErrorCode::EmailExists, "Email already registered")),
            Err(Taken::Username) if username.is_some() => return Err(username_taken()),
            Err(Taken::Username) => continue,
        };
        let outbox_id = queue_invitation(state, &mut tx, &user).await?;
        let details = json!({"target_user_id": user.id, "is_superuser": invitation.is_superuser});
        caller.audit(&mut *tx, "admin_user_invited", Some(admin_id), true, details).await?;
        tx.commit().await?;
        state.metrics.count(crate::ports::Metric::Registered);
        outbox_mail::queue_delivery(state, outbox_id).await;
        return user_details::find(&state.db, user.id).await?.ok_or_else(super::admin::user_not_found);
    }
    Err(ApiError::Internal("no free username for an invited account".into()))
}

/// Mails a new invitation link to an account that has not accepted yet, voiding the older one.
pub async fn resend(state: &AppState, admin_id: Uuid, target: Uuid, caller: &Caller) -> Result<(), ApiError> {
    let mut tx = state.db.begin().await?;
    users::lock_for_update(&mut *tx, target).await?;
    let user = users::find_by_id(&mut *tx, target).await?.ok_or_else(super::admin::user_not_found)?;
    if !is_pending(&user) {
        return Err(ApiError::refused(ErrorCode::InvitationNotPending, "This account has no pending invitation"));
    }
    let outbox_id = queue_invitation(state, &mut tx, &user).await?;
    caller.audit(&mut *tx, "admin_invitation_resent", Some(admin_id), true, json!({"target_user_id": target})).await?;
    tx.commit().await?;
    outbox_mail::queue_delivery(state, outbox_id).await;
    Ok(())
}

/// Sets the invited account's first password (and username, if given), marks the address
/// verified and signs in, as a login would.
pub async fn accept(state: &AppState, acceptance: Acceptance, caller: &Caller) -> Result<SignIn, ApiError> {
    state.config.require_jwt()?;
    // The rules that need no account first, as reset-password checks them before the token.
    check_password_rules(state, &[], &acceptance.password, "password")?;
    let username = acceptance
        .username
        .as_deref()
        .map(|raw| Username::parse(raw).map_err(|rule| ApiError::from(rule.at("username", json!(raw)))))
        .transpose()?;
    let token = tokens::clean(&acceptance.token);
    if !tokens::is_well_formed(&token) {
        return Err(invalid_invitation());
    }
    let hash = tokens::hash(&token);
    let Some(user_id) = one_time_tokens::peek(&state.db, &hash, Purpose::AcceptInvite).await? else {
        return Err(invalid_invitation());
    };
    let Some(user) = users::find_by_id(&state.db, user_id).await? else { return Err(invalid_invitation()) };
    if !is_pending(&user) {
        return Err(invalid_invitation());
    }
    let mut named = user.clone();
    if let Some(username) = &username {
        username.as_str().clone_into(&mut named.username);
    }
    check_new_password(state, &named, &acceptance.password, "password")?;
    let new_hash = password::hash(acceptance.password).await?;

    let mut tx = state.db.begin().await?;
    users::lock_for_update(&mut *tx, user.id).await?;
    if one_time_tokens::consume(&mut *tx, &hash, Purpose::AcceptInvite).await?.is_none() {
        return Err(invalid_invitation());
    }
    if let Some(username) = &username {
        registration_holds::lock_username(&mut *tx, username.as_str()).await?;
        // Refused as well when a registration of another address holds it.
        if users::set_username(&mut *tx, user.id, username.as_str()).await?.is_err() {
            return Err(username_taken());
        }
    }
    users::set_password(&mut *tx, user.id, &new_hash).await?;
    users::mark_verified(&mut *tx, user.id).await?;
    // The address is proven: registrations of it have nothing left to stand in for.
    registration_holds::release(&mut *tx, user.id).await?;
    caller.audit(&mut *tx, "invitation_accepted", Some(user.id), true, json!({})).await?;
    tx.commit().await?;
    state.metrics.count(crate::ports::Metric::Verified);
    let user = users::find_by_id(&state.db, user.id).await?.ok_or_else(invalid_invitation)?;
    open_session(state, &user, Some(&new_hash), caller, assurance::PASSWORD).await
}

/// Never signed in with a password or verified its address: the invitation is still open.
fn is_pending(user: &User) -> bool {
    user.is_active && !user.is_verified && user.password_hash.is_none()
}

async fn queue_invitation(state: &AppState, tx: &mut sqlx::PgConnection, user: &User) -> Result<Uuid, ApiError> {
    let link = outbox_mail::new_link(state, "accept-invite", VALID_FOR)?;
    one_time_tokens::replace(tx, user.id, Purpose::AcceptInvite, &link.token.hash, link.expires_at).await?;
    let days = VALID_FOR.num_days().to_string();
    let to = (user.email.as_str(), user.username.as_str());
    outbox_mail::queue_link_mail(state, tx, to, Template::Invitation, &link, &[("valid_days", days.as_str())]).await
}

fn validate(invitation: &Invitation) -> Result<(Email, Option<Username>), ApiError> {
    let mut errors: Vec<InvalidInput> = Vec::new();
    let email =
        Email::parse(&invitation.email).map_err(|rule| errors.push(rule.at("email", json!(invitation.email)))).ok();
    let username = match &invitation.username {
        Some(raw) => Username::parse(raw).map_err(|rule| errors.push(rule.at("username", json!(raw)))).ok(),
        None => None,
    };
    match email {
        Some(email) if errors.is_empty() => Ok((email, username)),
        _ => Err(ApiError::from(errors)),
    }
}

fn invalid_invitation() -> ApiError {
    ApiError::refused(ErrorCode::InvalidInvitation, "Invalid or expired invitation")
}
