//! Passwordless sign-in: a mailed link and a 6-digit code, either of which signs in once.
//!
//! Asking answers the same whether or not the address has an account, no sooner than the floor
//! forgot-password keeps. The link's token has 256 bits; the code has only a million values, so
//! it is kept as a keyed digest bound to its link, and the fifth wrong code voids the request.
//! Checking a code also takes the floor, so an unknown address and a wrong code cost alike.

use serde_json::json;

use super::Caller;
use super::login::{SignIn, open_session};
use super::outbox_mail::{self, Unsolicited};
use super::uniform_latency::{ADDRESS_LOOKUP_FLOOR, no_sooner_than};
use crate::AppState;
use crate::domain::assurance;
use crate::error::{ApiError, ErrorCode};
use crate::mail::templates::Template;
use crate::repo::one_time_tokens::{self, Purpose};
use crate::repo::{registration_holds, users};
use crate::security::server_key::{self, ServerKey};
use crate::security::tokens::{self, TokenHash};
use crate::security::validation::Email;

/// The one answer to a request, whether or not the account exists.
pub const REQUEST_REPLY: &str = "If an account with that email exists, a sign-in link and code have been sent.";

/// How long the link and the code work.
const VALID_FOR: chrono::Duration = chrono::Duration::minutes(10);

/// Wrong codes one request allows; the last voids it.
const MAX_CODE_TRIES: i16 = 5;

/// Digits in a sign-in code.
const CODE_DIGITS: usize = 6;

/// What the client presents to sign in.
#[derive(Debug)]
pub enum Proof {
    /// The token from the mailed link.
    Link(String),
    /// The address and the code from the mail.
    Code {
        /// As typed.
        email: String,
        /// As typed.
        code: String,
    },
}

/// Mails a sign-in link and code to an active account; nothing to anyone else. The caller
/// answers [`REQUEST_REPLY`] in every case, no sooner than [`ADDRESS_LOOKUP_FLOOR`].
pub async fn request(state: &AppState, email: &Email) -> Result<(), ApiError> {
    ensure_enabled(state)?;
    no_sooner_than(ADDRESS_LOOKUP_FLOOR, mail_link_and_code(state, email)).await
}

async fn mail_link_and_code(state: &AppState, email: &Email) -> Result<(), ApiError> {
    let keys = state.config.require_jwt()?;
    let Some(user) = users::find_by_email(&state.db, email.as_str()).await? else { return Ok(()) };
    if !user.is_active {
        return Ok(());
    }
    if !outbox_mail::within_recipient_budget(state, Unsolicited::MagicLink, &user.email).await? {
        return Ok(());
    }
    let link = outbox_mail::new_link(state, "magic-link", VALID_FOR)?;
    let code = new_code()?;
    let mut tx = state.db.begin().await?;
    one_time_tokens::replace(&mut tx, user.id, Purpose::MagicLink, &link.token.hash, link.expires_at).await?;
    let digest = code_digest(keys.server_key(), &link.token.hash, &code);
    one_time_tokens::set_code_digest(&mut *tx, &link.token.hash, &digest).await?;
    let minutes = VALID_FOR.num_minutes().to_string();
    let extra = [("code", code.as_str()), ("valid_minutes", minutes.as_str())];
    let to = (user.email.as_str(), user.username.as_str());
    let outbox_id = outbox_mail::queue_link_mail(state, &mut tx, to, Template::MagicLink, &link, &extra).await?;
    tx.commit().await?;
    outbox_mail::queue_delivery(state, outbox_id).await;
    Ok(())
}

/// Signs in with a link or a code, exactly as a login does (session, refresh token, access
/// token), and marks an unverified address verified: the mail reached it.
pub async fn sign_in(state: &AppState, proof: Proof, caller: &Caller) -> Result<SignIn, ApiError> {
    ensure_enabled(state)?;
    let keys = state.config.require_jwt()?;
    let user_id = match proof {
        Proof::Link(token) => use_link(state, &token).await?,
        Proof::Code { email, code } => {
            no_sooner_than(ADDRESS_LOOKUP_FLOOR, use_code(state, keys.server_key(), &email, &code)).await?
        }
    };
    let Some(user_id) = user_id else {
        caller.audit(&state.db, "magic_link_login", None, false, json!({"reason": "invalid"})).await?;
        return Err(invalid());
    };
    let Some(user) = users::find_by_id(&state.db, user_id).await? else { return Err(invalid()) };
    if !user.is_active {
        caller.audit(&state.db, "magic_link_login", Some(user.id), false, json!({"reason": "inactive"})).await?;
        return Err(ApiError::refused(ErrorCode::InactiveUser, "Inactive user"));
    }
    if !user.is_verified {
        let mut tx = state.db.begin().await?;
        users::mark_verified(&mut *tx, user.id).await?;
        registration_holds::release(&mut *tx, user.id).await?;
        tx.commit().await?;
        state.metrics.count(crate::ports::Metric::Verified);
    }
    caller.audit(&state.db, "magic_link_login", Some(user.id), true, json!({})).await?;
    open_session(state, &user, None, caller, assurance::EMAIL).await
}

/// Uses the link's token; its user, or `None` for an unknown, used or expired one.
async fn use_link(state: &AppState, token: &str) -> Result<Option<uuid::Uuid>, ApiError> {
    let token = tokens::clean(token);
    if !tokens::is_well_formed(&token) {
        return Ok(None);
    }
    Ok(one_time_tokens::consume(&state.db, &tokens::hash(&token), Purpose::MagicLink).await?)
}

/// Checks a code against the address's live request, counting a wrong one.
async fn use_code(
    state: &AppState,
    server_key: &ServerKey,
    email: &str,
    code: &str,
) -> Result<Option<uuid::Uuid>, ApiError> {
    let Ok(email) = Email::parse_address(email) else { return Ok(None) };
    let Some(user) = users::find_by_email(&state.db, email.as_str()).await? else { return Ok(None) };
    let code = code.trim();
    let mut tx = state.db.begin().await?;
    // User row first, then the token, the order every writer of both uses.
    users::lock_for_update(&mut *tx, user.id).await?;
    let Some(live) = one_time_tokens::lock_live_code(&mut tx, user.id, Purpose::MagicLink).await? else {
        return Ok(None);
    };
    let Ok(token_hash) = TokenHash::try_from(live.token_hash.as_slice()) else { return Ok(None) };
    let matches = is_code(code) && code_digest(server_key, &token_hash, code)[..] == live.code_digest[..];
    if !matches {
        let voided = one_time_tokens::count_wrong_code(&mut *tx, &live.token_hash, MAX_CODE_TRIES).await?;
        tx.commit().await?;
        if voided {
            tracing::info!("a sign-in request was voided after {MAX_CODE_TRIES} wrong codes");
        }
        return Ok(None);
    }
    let used = one_time_tokens::consume(&mut *tx, &token_hash, Purpose::MagicLink).await?;
    tx.commit().await?;
    Ok(used)
}

fn is_code(code: &str) -> bool {
    code.len() == CODE_DIGITS && code.bytes().all(|byte| byte.is_ascii_digit())
}

/// A uniformly random code of [`CODE_DIGITS`] digits, leading zeros kept.
fn new_code() -> Result<String, tokens::RandomnessError> {
    const RANGE: u32 = 1_000_000;
    // Rejection sampling: values at or above the largest multiple of RANGE would bias the digits.
    let limit = u32::MAX - u32::MAX % RANGE;
    loop {
        let mut bytes = [0u8; 4];
        getrandom::fill(&mut bytes).map_err(|_| tokens::RandomnessError)?;
        let value = u32::from_le_bytes(bytes);
        if value < limit {
            return Ok(format!("{:0width$}", value % RANGE, width = CODE_DIGITS));
        }
    }
}

/// The stored form of `code`: keyed, and bound to its link's token so that the same code in
/// another request has another digest.
fn code_digest(server_key: &ServerKey, token_hash: &TokenHash, code: &str) -> [u8; 32] {
    let mut input = Vec::with_capacity(token_hash.len() + code.len());
    input.extend_from_slice(token_hash);
    input.extend_from_slice(code.as_bytes());
    server_key.digest(server_key::Purpose::SignInCode, &input)
}

fn ensure_enabled(state: &AppState) -> Result<(), ApiError> {
    match state.config.magic_link_enabled {
        true => Ok(()),
        false => Err(ApiError::refused(ErrorCode::NotFound, "Passwordless sign-in is not enabled")),
    }
}

fn invalid() -> ApiError {
    ApiError::refused(ErrorCode::InvalidMagicLink, "Invalid or expired sign-in link or code")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits_and_vary() {
        let codes: Vec<String> = (0..200).map(|_| new_code().expect("random")).collect();
        assert!(codes.iter().all(|code| is_code(code)), "{codes:?}");
        let distinct: std::collections::HashSet<&String> = codes.iter().collect();
        assert!(distinct.len() > 190, "{} distinct of 200", distinct.len());
    }

    #[test]
    fn a_code_digest_depends_on_its_link() {
        let key = ServerKey::derive_from(b"a secret of at least thirty-two bytes");
        let (one, two) = (tokens::hash("one"), tokens::hash("two"));
        assert_eq!(code_digest(&key, &one, "123456"), code_digest(&key, &one, "123456"));
        assert_ne!(code_digest(&key, &one, "123456"), code_digest(&key, &two, "123456"));
        assert_ne!(code_digest(&key, &one, "123456"), code_digest(&key, &one, "123457"));
    }

    #[test]
    fn only_six_ascii_digits_are_a_code() {
        for bad in ["12345", "1234567", "12345a", "١٢٣٤٥٦", ""] {
            assert!(!is_code(bad), "{bad}");
        }
        assert!(is_code("012345"));
    }
}
