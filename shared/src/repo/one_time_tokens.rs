//! Single-use, purpose-bound tokens for mail links, stored as SHA-256 digests.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::security::tokens::TokenHash;

/// What a one-time token may be used for; a token of one purpose never works for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Confirming a new account's email address (24 h).
    VerifyEmail,
    /// Setting a new password after "forgot password" (1 h).
    ResetPassword,
    /// Confirming an account-deletion request (24 h).
    ConfirmDeletion,
    /// Switching the account to the new address the token carries (24 h, mailed to that address).
    ChangeEmail,
    /// Restoring the address an email change replaced (72 h, mailed to the old address).
    UndoEmailChange,
    /// Signing in without a password (10 minutes; carries a code digest too).
    MagicLink,
    /// Setting the first password of an account an administrator created (7 days).
    AcceptInvite,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::ResetPassword => "reset_password",
            Self::ConfirmDeletion => "confirm_deletion",
            Self::ChangeEmail => "change_email",
            Self::UndoEmailChange => "undo_email_change",
            Self::MagicLink => "magic_link",
            Self::AcceptInvite => "accept_invite",
        }
    }
}

/// Stores a new token and voids the user's earlier unused tokens of the same purpose, so only
/// the newest link works.
pub async fn replace(
    tx: &mut sqlx::PgConnection,
    user_id: Uuid,
    purpose: Purpose,
    hash: &TokenHash,
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    // Lock the user row first: two concurrent replacements then run one after the other, and the
    // second voids the first one's token instead of both surviving.
    super::users::lock_for_update(&mut *tx, user_id).await?;
    sqlx::query!(
        "update one_time_tokens set used_at = now() where user_id = $1 and purpose = $2 and used_at is null",
        user_id,
        purpose.as_str()
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "insert into one_time_tokens (token_hash, user_id, purpose, expires_at) values ($1, $2, $3, $4)",
        &hash[..],
        user_id,
        purpose.as_str(),
        expires_at
    )
    .execute(&mut *tx)
    .await
    .map(drop)
}

/// [`replace`] for a token that acts on an address other than the account's own (`email`): the
/// new address of an email change.
pub async fn replace_for_address(
    tx: &mut sqlx::PgConnection,
    user_id: Uuid,
    purpose: Purpose,
    hash: &TokenHash,
    email: &str,
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    replace(&mut *tx, user_id, purpose, hash, expires_at).await?;
    sqlx::query!("update one_time_tokens set email = $2 where token_hash = $1", &hash[..], email)
        .execute(&mut *tx)
        .await
        .map(drop)
}

/// Stores a token that acts on `email` without voiding the user's other tokens of its purpose:
/// each email change's undo link must keep working whatever changes follow it.
pub async fn add_for_address(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    purpose: Purpose,
    hash: &TokenHash,
    email: &str,
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "insert into one_time_tokens (token_hash, user_id, purpose, email, expires_at) values ($1, $2, $3, $4, $5)",
        &hash[..],
        user_id,
        purpose.as_str(),
        email,
        expires_at
    )
    .execute(db)
    .await
    .map(drop)
}

/// The user of a token that could be used now, without using it (so a request that fails
/// validation afterwards does not burn the link).
pub async fn peek(db: impl PgExecutor<'_>, hash: &TokenHash, purpose: Purpose) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        "select user_id from one_time_tokens
          where token_hash = $1 and purpose = $2 and used_at is null and expires_at > now()",
        &hash[..],
        purpose.as_str()
    )
    .fetch_optional(db)
    .await
}

/// Uses a token: marks it used and returns its user, atomically, so two concurrent uses of
/// the same token cannot both succeed. `None` for unknown, used, expired or other-purpose tokens.
pub async fn consume(db: impl PgExecutor<'_>, hash: &TokenHash, purpose: Purpose) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        "update one_time_tokens set used_at = now()
          where token_hash = $1 and purpose = $2 and used_at is null and expires_at > now()
          returning user_id",
        &hash[..],
        purpose.as_str()
    )
    .fetch_optional(db)
    .await
}

/// Voids the user's unused undo links of email changes made after the one `used` undid.
pub async fn void_later_undo_links(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    used: &TokenHash,
) -> Result<u64, sqlx::Error> {
    sqlx::query!(
        "update one_time_tokens set used_at = now()
          where user_id = $1 and purpose = $2 and used_at is null
            and created_at > (select created_at from one_time_tokens where token_hash = $3)",
        user_id,
        Purpose::UndoEmailChange.as_str(),
        &used[..]
    )
    .execute(db)
    .await
    .map(|done| done.rows_affected())
}

/// [`peek`] for a token that acts on an address: its user and that address.
pub async fn peek_with_address(
    db: impl PgExecutor<'_>,
    hash: &TokenHash,
    purpose: Purpose,
) -> Result<Option<(Uuid, String)>, sqlx::Error> {
    let row = sqlx::query!(
        "select user_id, email from one_time_tokens
          where token_hash = $1 and purpose = $2 and used_at is null and expires_at > now()",
        &hash[..],
        purpose.as_str()
    )
    .fetch_optional(db)
    .await?;
    Ok(row.and_then(|row| Some((row.user_id, row.email?))))
}

/// The links that act on the account: a password change, a deactivation or an email change
/// voids them, as a link mailed earlier may have been read by someone else. The undo link of an
/// email change is not among them: it is the owner's way back from whoever made the change, so
/// nothing that person can do (changing the password included) may void it.
const ACCOUNT_LINKS: [Purpose; 5] =
    [Purpose::ResetPassword, Purpose::ConfirmDeletion, Purpose::ChangeEmail, Purpose::MagicLink, Purpose::AcceptInvite];

/// Voids a user's unused links that act on the account (see [`ACCOUNT_LINKS`]).
pub async fn void_account_links(db: impl PgExecutor<'_>, user_id: Uuid) -> Result<u64, sqlx::Error> {
    let purposes: Vec<&str> = ACCOUNT_LINKS.iter().map(|purpose| purpose.as_str()).collect();
    sqlx::query!(
        "update one_time_tokens set used_at = now()
         where user_id = $1 and purpose = any($2) and used_at is null",
        user_id,
        &purposes as _
    )
    .execute(db)
    .await
    .map(|done| done.rows_affected())
}

/// Voids a user's unused tokens of one purpose, so an old link stops working (e.g. a pending
/// "confirm deletion" link after the user cancelled).
pub async fn void_unused(db: impl PgExecutor<'_>, user_id: Uuid, purpose: Purpose) -> Result<u64, sqlx::Error> {
    sqlx::query!(
        "update one_time_tokens set used_at = now() where user_id = $1 and purpose = $2 and used_at is null",
        user_id,
        purpose.as_str()
    )
    .execute(db)
    .await
    .map(|done| done.rows_affected())
}

/// Attaches the keyed digest of a sign-in code to its link's token.
pub async fn set_code_digest(db: impl PgExecutor<'_>, hash: &TokenHash, digest: &[u8; 32]) -> Result<(), sqlx::Error> {
    sqlx::query!("update one_time_tokens set code_digest = $2 where token_hash = $1", &hash[..], &digest[..])
        .execute(db)
        .await
        .map(drop)
}

/// A usable token of `purpose` that carries a code, as a code check needs it.
#[derive(Debug, Clone)]
pub struct CodeToken {
    /// The token's digest, to use or count against it.
    pub token_hash: Vec<u8>,
    /// The keyed digest of its code.
    pub code_digest: Vec<u8>,
}

/// The user's usable token of `purpose` with a code, locked until the transaction ends so that
/// concurrent checks of one code are counted, and succeed, one at a time.
pub async fn lock_live_code(
    tx: &mut sqlx::PgConnection,
    user_id: Uuid,
    purpose: Purpose,
) -> Result<Option<CodeToken>, sqlx::Error> {
    sqlx::query_as!(
        CodeToken,
        r#"select token_hash, code_digest as "code_digest!" from one_time_tokens
            where user_id = $1 and purpose = $2 and used_at is null and expires_at > now()
              and code_digest is not null
            order by created_at desc
            limit 1
              for update"#,
        user_id,
        purpose.as_str()
    )
    .fetch_optional(tx)
    .await
}

/// Counts a wrong code against its token; the `max_tries`-th voids it. Returns whether it did.
pub async fn count_wrong_code(db: impl PgExecutor<'_>, token_hash: &[u8], max_tries: i16) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"update one_time_tokens
              set failed_attempts = failed_attempts + 1,
                  used_at = case when failed_attempts + 1 >= $2::smallint then now() else used_at end
            where token_hash = $1
        returning used_at is not null as "voided!""#,
        token_hash,
        max_tries
    )
    .fetch_one(db)
    .await
}
