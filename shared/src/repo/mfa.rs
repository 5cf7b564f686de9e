//! Second factors, their recovery codes, pending sign-in challenges and the wrong-code counter.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::domain::login_backoff::BackoffRule;
use crate::security::tokens::TokenHash;

/// A factor with what is needed to check a code against it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Factor {
    /// Primary key (also the associated data of its sealed secret).
    pub id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// Nonce, ciphertext and tag of the secret.
    pub secret_sealed: Vec<u8>,
    /// The key that sealed it.
    pub key_id: String,
    /// Set once a code from it was checked; until then it protects nothing.
    pub activated_at: Option<DateTime<Utc>>,
    /// The newest step whose code was accepted.
    pub last_used_step: Option<i64>,
}

/// A factor as its owner sees it: no secret.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FactorView {
    /// Factor id.
    pub id: Uuid,
    /// `totp`.
    pub kind: String,
    /// Enrolled at.
    pub created_at: DateTime<Utc>,
    /// Activated at; `None` while enrolment is unfinished.
    pub activated_at: Option<DateTime<Utc>>,
    /// Last accepted code.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// Stores a new, inactive factor and drops the user's other unfinished enrolments.
pub async fn create_factor(
    tx: &mut sqlx::PgConnection,
    id: Uuid,
    user_id: Uuid,
    secret_sealed: &[u8],
    key_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!("delete from mfa_factors where user_id = $1 and activated_at is null", user_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query!(
        "insert into mfa_factors (id, user_id, secret_sealed, key_id) values ($1, $2, $3, $4)",
        id,
        user_id,
        secret_sealed,
        key_id
    )
    .execute(&mut *tx)
    .await
    .map(drop)
}

/// One of the user's factors, active or not (another user's id gives `None`).
pub async fn find_factor(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    factor_id: Uuid,
) -> Result<Option<Factor>, sqlx::Error> {
    sqlx::query_as!(
        Factor,
        "select id, user_id, secret_sealed, key_id, activated_at, last_used_step
           from mfa_factors where id = $1 and user_id = $2",
        factor_id,
        user_id
    )
    .fetch_optional(db)
    .await
}

/// The user's active factor, if any.
pub async fn active_factor(db: impl PgExecutor<'_>, user_id: Uuid) -> Result<Option<Factor>, sqlx::Error> {
    sqlx::query_as!(
        Factor,
        "select id, user_id, secret_sealed, key_id, activated_at, last_used_step
           from mfa_factors where user_id = $1 and activated_at is not null",
        user_id
    )
    .fetch_optional(db)
    .await
}

/// Whether the user has an active factor (a sign-in then needs it).
pub async fn has_active_factor(db: impl PgExecutor<'_>, user_id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        "select exists (select 1 from mfa_factors where user_id = $1 and activated_at is not null) as \"active!\"",
        user_id
    )
    .fetch_one(db)
    .await
}

/// The user's factors, oldest first.
pub async fn list_factors(db: impl PgExecutor<'_>, user_id: Uuid) -> Result<Vec<FactorView>, sqlx::Error> {
    sqlx::query_as!(
        FactorView,
        "select id, kind, created_at, activated_at, last_used_at from mfa_factors
          where user_id = $1 order by created_at, id",
        user_id
    )
    .fetch_all(db)
    .await
}

/// Records that the code of `step` was accepted. `false` when that step or a newer one already
/// was: of two requests with one code, exactly one gets `true` (the row lock orders them).
pub async fn claim_step(db: impl PgExecutor<'_>, factor_id: Uuid, step: i64) -> Result<bool, sqlx::Error> {
    sqlx::query!(
        "update mfa_factors set last_used_step = $2, last_used_at = now()
          where id = $1 and (last_used_step is null or last_used_step < $2)",
        factor_id,
        step
    )
    .execute(db)
    .await
    .map(|done| done.rows_affected() == 1)
}

/// Activates an enrolment whose code of `step` was accepted. `false` when it is already active,
/// gone, or the step was used; a second active factor of the user is a unique violation.
pub async fn activate(db: impl PgExecutor<'_>, factor_id: Uuid, step: i64) -> Result<bool, sqlx::Error> {
    sqlx::query!(
        "update mfa_factors set activated_at = now(), last_used_step = $2, last_used_at = now()
          where id = $1 and activated_at is null and (last_used_step is null or last_used_step < $2)",
        factor_id,
        step
    )
    .execute(db)
    .await
    .map(|done| done.rows_affected() == 1)
}

/// Stores a secret sealed again under the newest key, unless another request did meanwhile.
pub async fn reseal(
    db: impl PgExecutor<'_>,
    factor_id: Uuid,
    old_key_id: &str,
    secret_sealed: &[u8],
    key_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update mfa_factors set secret_sealed = $3, key_id = $4 where id = $1 and key_id = $2",
        factor_id,
        old_key_id,
        secret_sealed,
        key_id
    )
    .execute(db)
    .await
    .map(drop)
}

/// Deletes one of the user's factors; `false` when there is no such factor of theirs.
pub async fn delete_factor(db: impl PgExecutor<'_>, user_id: Uuid, factor_id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query!("delete from mfa_factors where id = $1 and user_id = $2", factor_id, user_id)
        .execute(db)
        .await
        .map(|done| done.rows_affected() == 1)
}

/// Deletes all the user's factors (and with them their recovery codes); returns how many.
pub async fn delete_all(db: impl PgExecutor<'_>, user_id: Uuid) -> Result<u64, sqlx::Error> {
    sqlx::query!("delete from mfa_factors where user_id = $1", user_id)
        .execute(db)
        .await
        .map(|done| done.rows_affected())
}

/// Replaces the factor's recovery codes with these digests.
pub async fn replace_recovery_codes(
    tx: &mut sqlx::PgConnection,
    factor_id: Uuid,
    digests: &[[u8; 32]],
) -> Result<(), sqlx::Error> {
    sqlx::query!("delete from mfa_recovery_codes where factor_id = $1", factor_id).execute(&mut *tx).await?;
    let digests: Vec<Vec<u8>> = digests.iter().map(|digest| digest.to_vec()).collect();
    sqlx::query!(
        "insert into mfa_recovery_codes (factor_id, code_digest) select $1, unnest($2::bytea[])",
        factor_id,
        &digests
    )
    .execute(&mut *tx)
    .await
    .map(drop)
}

/// Spends a recovery code; `false` when it is unknown or already spent (of two concurrent uses,
/// one wins).
pub async fn use_recovery_code(
    db: impl PgExecutor<'_>,
    factor_id: Uuid,
    digest: &[u8; 32],
) -> Result<bool, sqlx::Error> {
    sqlx::query!(
        "update mfa_recovery_codes set used_at = now()
          where factor_id = $1 and code_digest = $2 and used_at is null",
        factor_id,
        &digest[..]
    )
    .execute(db)
    .await
    .map(|done| done.rows_affected() == 1)
}

/// How many unspent recovery codes the factor has.
pub async fn recovery_codes_left(db: impl PgExecutor<'_>, factor_id: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        "select count(*) as \"left!\" from mfa_recovery_codes where factor_id = $1 and used_at is null",
        factor_id
    )
    .fetch_one(db)
    .await
}

/// A pending second step of a sign-in.
#[derive(Debug, Clone)]
pub struct Challenge {
    /// Who is signing in.
    pub user_id: Uuid,
    /// The methods the first step used.
    pub amr: Vec<String>,
}

/// Stores a challenge's token digest.
pub async fn create_challenge(
    db: impl PgExecutor<'_>,
    hash: &TokenHash,
    user_id: Uuid,
    amr: &[String],
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "insert into mfa_challenges (token_hash, user_id, amr, expires_at) values ($1, $2, $3, $4)",
        &hash[..],
        user_id,
        amr,
        expires_at
    )
    .execute(db)
    .await
    .map(drop)
}

/// A challenge that can still be completed: unused, unexpired, its account active and its
/// password unchanged since the first step (a reset ends pending sign-ins as it ends sessions).
pub async fn live_challenge(db: impl PgExecutor<'_>, hash: &TokenHash) -> Result<Option<Challenge>, sqlx::Error> {
    sqlx::query_as!(
        Challenge,
        "select c.user_id, c.amr from mfa_challenges c join users u on u.id = c.user_id
          where c.token_hash = $1 and c.used_at is null and c.expires_at > now() and u.is_active
            and (u.password_changed_at is null or u.password_changed_at <= c.created_at)",
        &hash[..]
    )
    .fetch_optional(db)
    .await
}

/// Marks a challenge used; `false` when it already was (its token is single use), or when it no
/// longer holds: checked again here, under the caller's lock on the user row, so a password reset
/// or deactivation that committed after [`live_challenge`] still ends it.
pub async fn consume_challenge(db: impl PgExecutor<'_>, hash: &TokenHash) -> Result<bool, sqlx::Error> {
    sqlx::query!(
        "update mfa_challenges c set used_at = now()
           from users u
          where c.token_hash = $1 and u.id = c.user_id and c.used_at is null and c.expires_at > now()
            and u.is_active and (u.password_changed_at is null or u.password_changed_at <= c.created_at)",
        &hash[..]
    )
    .execute(db)
    .await
    .map(|done| done.rows_affected() == 1)
}

/// Counts a second-factor attempt before its code is checked, under the login back-off rule,
/// unless the account is inside a back-off window (`false` then, nothing counted).
pub async fn claim_attempt(db: impl PgExecutor<'_>, user_id: Uuid, rule: BackoffRule) -> Result<bool, sqlx::Error> {
    let sql = super::users::claim_counted_attempt_sql!("mfa_attempts", "user_id");
    super::users::claim_counted_attempt(db, sql, user_id, rule).await
}

/// When the account's second-factor back-off ends (`None` when it is not backing off).
pub async fn attempts_locked_until(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar!("select locked_until from mfa_attempts where user_id = $1 and locked_until > now()", user_id)
        .fetch_optional(db)
        .await
        .map(Option::flatten)
}

/// Forgets the wrong codes once a correct second factor was given.
pub async fn reset_attempts(db: impl PgExecutor<'_>, user_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!("delete from mfa_attempts where user_id = $1", user_id).execute(db).await.map(drop)
}
