//! Queries on `users`.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::domain::login_backoff::BackoffRule;

/// A user row as the API needs it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct User {
    /// Primary key.
    pub id: Uuid,
    /// Normalised email.
    pub email: String,
    /// Username (case kept).
    pub username: String,
    /// PHC string; `None` for accounts that only sign in through an identity provider.
    pub password_hash: Option<String>,
    /// The email address was confirmed.
    pub is_verified: bool,
    /// Administrator.
    pub is_superuser: bool,
    /// Disabled accounts cannot sign in.
    pub is_active: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Consecutive failed logins since the last success.
    pub failed_login_count: i32,
    /// Login attempts are refused until then (back-off).
    pub locked_until: Option<DateTime<Utc>>,
    /// The first identity provider the account was linked to (`google`, `apple`), the seed's
    /// `oauth_provider`; `None` for accounts that registered with a password.
    pub oauth_provider: Option<String>,
}

/// A checked query that reads whole [`User`] rows: `before` + the columns + `after`, with binds.
macro_rules! query_users {
    ($before:literal, $after:literal $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            User,
            $before
                + "id, email, username, password_hash, is_verified, is_superuser, is_active, created_at, \
                   failed_login_count, locked_until, \
                   (select provider from oauth_identities where oauth_identities.user_id = users.id \
                     order by oauth_identities.created_at limit 1) as oauth_provider"
                + $after
            $(, $arg)*
        )
    };
}

/// The fields of a user the bootstrap has to reason about.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserFlags {
    /// Primary key.
    pub id: Uuid,
    /// Whether the account already has superuser rights.
    pub is_superuser: bool,
}

/// Finds a user by email (emails are stored lowercased, so the caller passes a lowercased one).
pub async fn find_flags_by_email(db: impl PgExecutor<'_>, email: &str) -> Result<Option<UserFlags>, sqlx::Error> {
    sqlx::query_as!(UserFlags, "select id, is_superuser from users where email = $1", email).fetch_optional(db).await
}

/// Finds a user by normalised email.
pub async fn find_by_email(db: impl PgExecutor<'_>, email: &str) -> Result<Option<User>, sqlx::Error> {
    query_users!("select ", " from users where email = $1", email).fetch_optional(db).await
}

/// Finds a user by id.
pub async fn find_by_id(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<User>, sqlx::Error> {
    query_users!("select ", " from users where id = $1", id).fetch_optional(db).await
}

/// Whether an account already uses `username` (the same comparison as `users_username_key`).
pub async fn username_taken(db: impl PgExecutor<'_>, username: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!("select exists (select 1 from users where username = $1) as \"taken!\"", username)
        .fetch_one(db)
        .await
}

/// Whether an account with another email than `email` has `username`.
pub async fn username_taken_by_another(
    db: impl PgExecutor<'_>,
    username: &str,
    email: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        "select exists (select 1 from users where username = $1 and email <> $2) as \"taken!\"",
        username,
        email
    )
    .fetch_one(db)
    .await
}

/// Which unique value a new account collided with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// `users_email_key`.
    Email,
    /// `users_username_key`.
    Username,
}

/// Turns a unique violation on email or username into [`Taken`]; other errors pass through.
fn taken_or(result: Result<User, sqlx::Error>) -> Result<Result<User, Taken>, sqlx::Error> {
    let constraint = |error: &sqlx::Error| match error {
        sqlx::Error::Database(error) => error.constraint().map(str::to_owned),
        _ => None,
    };
    match result {
        Ok(user) => Ok(Ok(user)),
        Err(error) => match constraint(&error).as_deref() {
            Some("users_email_key") => Ok(Err(Taken::Email)),
            Some("users_username_key") => Ok(Err(Taken::Username)),
            _ => Err(error),
        },
    }
}

/// Inserts an unverified, ordinary account. A unique violation comes back as [`Taken`], so two
/// concurrent registrations of the same email yield exactly one account.
pub async fn insert(
    db: impl PgExecutor<'_>,
    email: &str,
    username: &str,
    password_hash: &str,
) -> Result<Result<User, Taken>, sqlx::Error> {
    let inserted = query_users!(
        "insert into users (email, username, password_hash, password_changed_at) values ($1, $2, $3, now()) returning ",
        "",
        email,
        username,
        password_hash,
    )
    .fetch_one(db)
    .await;
    taken_or(inserted)
}

/// Inserts a verified account without a password, for a first Google/Apple sign-in.
pub async fn insert_oauth_user(
    db: impl PgExecutor<'_>,
    email: &str,
    username: &str,
) -> Result<Result<User, Taken>, sqlx::Error> {
    let inserted = query_users!(
        "insert into users (email, username, is_verified) values ($1, $2, true) returning ",
        "",
        email,
        username,
    )
    .fetch_one(db)
    .await;
    taken_or(inserted)
}

/// Inserts an active, unverified account without a password, for an administrator's invitation;
/// the invitee verifies the address and sets the password by accepting it.
pub async fn insert_invited(
    db: impl PgExecutor<'_>,
    email: &str,
    username: &str,
    is_superuser: bool,
) -> Result<Result<User, Taken>, sqlx::Error> {
    let inserted = query_users!(
        "insert into users (email, username, is_superuser) values ($1, $2, $3) returning ",
        "",
        email,
        username,
        is_superuser,
    )
    .fetch_one(db)
    .await;
    taken_or(inserted)
}

/// Inserts a verified, active superuser. Returns `None` when the email or username is already
/// taken (a concurrent bootstrap won the race), so the caller can re-read instead of failing.
pub async fn insert_superuser(
    db: impl PgExecutor<'_>,
    email: &str,
    username: &str,
    password_hash: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        "insert into users (email, username, password_hash, is_verified, is_superuser, is_active, password_changed_at)
         values ($1, $2, $3, true, true, true, now())
         on conflict do nothing
         returning id",
        email,
        username,
        password_hash
    )
    .fetch_optional(db)
    .await
}

/// Stores a new password hash; clears the login back-off (the owner proved control).
pub async fn set_password(db: impl PgExecutor<'_>, id: Uuid, password_hash: &str) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update users set password_hash = $2, password_changed_at = now(), failed_login_count = 0, locked_until = null
          where id = $1",
        id,
        password_hash
    )
    .execute(db)
    .await
    .map(drop)
}

/// Locks a user row until the transaction ends, serialising changes that must see each other
/// (session eviction, one-time token replacement).
pub async fn lock_for_update(db: impl PgExecutor<'_>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!("select 1 as locked from users where id = $1 for update", id).fetch_optional(db).await.map(drop)
}

/// Locks a user row until the transaction ends and tells whether its password hash is still
/// `verified` (always true for `None`; false when the row is gone). A password checked at the
/// start of a request may have been reset since: this is where a change or a new session made
/// with the old password is refused instead of undoing the reset.
pub async fn lock_if_password_is(
    db: impl PgExecutor<'_>,
    id: Uuid,
    verified: Option<&str>,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        "select $2::text is null or password_hash = $2 as \"still!\" from users where id = $1 for update",
        id,
        verified
    )
    .fetch_optional(db)
    .await
    .map(|still| still == Some(true))
}

/// Marks the email address confirmed.
pub async fn mark_verified(db: impl PgExecutor<'_>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!("update users set is_verified = true where id = $1", id).execute(db).await.map(drop)
}

/// Moves the account to `email` and marks it verified (whoever sets an address has just proved
/// they read its mail); `Err(Taken::Email)` when another account has it, so a registration that
/// won the race for the address leaves this change refused rather than failing.
pub async fn set_verified_email(
    db: impl PgExecutor<'_>,
    id: Uuid,
    email: &str,
) -> Result<Result<User, Taken>, sqlx::Error> {
    let updated =
        query_users!("update users set email = $2, is_verified = true where id = $1 returning ", "", id, email)
            .fetch_one(db)
            .await;
    taken_or(updated)
}

/// Deletes unverified accounts (other than `except`) registered with `email`: used when the
/// mailbox's owner has just proved control of it, so those registrations cannot be theirs.
pub async fn delete_unverified_with_email(
    db: impl PgExecutor<'_>,
    email: &str,
    except: Uuid,
) -> Result<u64, sqlx::Error> {
    sqlx::query!("delete from users where email = $1 and not is_verified and id <> $2", email, except)
        .execute(db)
        .await
        .map(|done| done.rows_affected())
}

/// Changes the username; `Err(Taken::Username)` when someone else has it.
pub async fn set_username(
    db: impl PgExecutor<'_>,
    id: Uuid,
    username: &str,
) -> Result<Result<User, Taken>, sqlx::Error> {
    // A username a registration of another address holds counts as taken (see
    // `registration_holds`); an empty result is reported as the unique violation it stands for.
    let updated = query_users!(
        "update users set username = $2
          where id = $1
            and not exists (select 1 from registration_holds h
                             where h.username = $2 and h.email <> users.email and h.expires_at > now())
         returning ",
        "",
        id,
        username,
    )
    .fetch_optional(db)
    .await;
    match updated {
        Ok(Some(user)) => Ok(Ok(user)),
        Ok(None) => Ok(Err(Taken::Username)),
        Err(error) => taken_or(Err(error)),
    }
}

/// The failures a row still counts: its `failed_login_count`, unless its last attempt (`$column`)
/// is more than `$4` days old, when the count is forgotten. One SQL text for accounts and unknown
/// addresses, so both age identically.
macro_rules! counted_failures {
    ($table:literal, $column:literal) => {
        concat!(
            "(case when ",
            $table,
            ".",
            $column,
            " > now() - make_interval(days => $4) then ",
            $table,
            ".failed_login_count else 0 end)"
        )
    };
}

/// The back-off window after one more failure on a row (binds: `$2` free failures, `$3` longest
/// window in seconds, `$4` days after which failures are forgotten), never shortening the current
/// one. One SQL text for accounts and unknown addresses, so both back off identically.
macro_rules! next_locked_until {
    ($table:literal, $column:literal) => {
        concat!(
            "greatest(",
            $table,
            ".locked_until, case when ",
            $crate::repo::users::counted_failures!($table, $column),
            " + 1 >= $2 ",
            "then now() + make_interval(secs => least($3::float8, power(2, least(",
            $crate::repo::users::counted_failures!($table, $column),
            " + 1 - $2, 30)))) end)"
        )
    };
}

/// The statement that claims an attempt on a counter table keyed by `$key` (`$1`), with the
/// columns `failed_login_count`, `locked_until` and `updated_at`: the first attempt inserts the
/// row as a failure counted on a fresh counter, later ones update it under the window rule, and
/// nothing is counted inside a window (no row returned). Binds as [`next_locked_until`].
macro_rules! claim_counted_attempt_sql {
    ($table:literal, $key:literal) => {
        concat!(
            "insert into ", $table, " as known (", $key, ", failed_login_count, locked_until)
             select $1, ",
            $crate::repo::users::counted_failures!("fresh", "updated_at"),
            " + 1, ",
            $crate::repo::users::next_locked_until!("fresh", "updated_at"),
            "
               from (select 0 as failed_login_count, null::timestamptz as locked_until, now() as updated_at) as fresh
             on conflict (", $key, ") do update
                set failed_login_count = ",
            $crate::repo::users::counted_failures!("known", "updated_at"),
            " + 1,
                    updated_at = now(),
                    locked_until = ",
            $crate::repo::users::next_locked_until!("known", "updated_at"),
            "
              where known.locked_until is null or known.locked_until <= now()
             returning ", $key
        )
    };
}
pub(crate) use {claim_counted_attempt_sql, counted_failures, next_locked_until};

/// Counts a login attempt against the account before its password is checked, unless the
/// account is inside a back-off window. Counting first (and resetting on success) means a burst of
/// concurrent guesses cannot all slip through before the counter catches up. The window rule of
/// [`crate::domain::login_backoff`] is applied here, atomically: after `free` failures each one
/// opens a window of 2^(n − free) seconds, at most `max_seconds`, and a window is never shortened.
/// Returns `false` when the account is backing off (nothing is counted then).
pub async fn claim_login_attempt(db: impl PgExecutor<'_>, id: Uuid, rule: BackoffRule) -> Result<bool, sqlx::Error> {
    let sql = concat!(
        "update users
            set failed_login_count = ",
        counted_failures!("users", "last_login_attempt_at"),
        " + 1,
                last_login_attempt_at = now(),
                locked_until = ",
        next_locked_until!("users", "last_login_attempt_at"),
        "
          where id = $1 and (locked_until is null or locked_until <= now())
          returning id"
    );
    claim_counted_attempt(db, sql, id, rule).await
}

/// [`claim_login_attempt`] for an address without an account, keyed by the address's digest, so
/// unknown addresses back off exactly like accounts do (every attempt on them fails, so every
/// claim is a failure). One statement, like the account's: the first attempt inserts the row as
/// a failure counted on a fresh counter, later ones update it under the same window rule.
pub async fn claim_unknown_email_attempt(
    db: impl PgExecutor<'_>,
    email_hash: &[u8; 32],
    rule: BackoffRule,
) -> Result<bool, sqlx::Error> {
    let sql = claim_counted_attempt_sql!("unknown_email_logins", "email_hash");
    claim_counted_attempt(db, sql, email_hash.to_vec(), rule).await
}

/// Runs a claim statement ([`claim_login_attempt`]'s, or a [`claim_counted_attempt_sql`] one)
/// for `key` under `rule`; `true` when the attempt
/// was counted, `false` inside a back-off window.
pub(crate) async fn claim_counted_attempt<'q, K>(
    db: impl PgExecutor<'q>,
    sql: &'static str,
    key: K,
    rule: BackoffRule,
) -> Result<bool, sqlx::Error>
where
    K: 'q + Send + sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    let claimed = sqlx::query(sql)
        .bind(key)
        .bind(rule.free_failures)
        .bind(rule.max_window_seconds as f64)
        .bind(rule.forget_after_days)
        .fetch_optional(db)
        .await?;
    Ok(claimed.is_some())
}

/// When an account's back-off window ends (`None` when it is not backing off).
pub async fn locked_until(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar!("select locked_until from users where id = $1 and locked_until > now()", id)
        .fetch_optional(db)
        .await
        .map(Option::flatten)
}

/// When an unknown address's back-off window ends (`None` when it is not backing off).
pub async fn unknown_email_locked_until(
    db: impl PgExecutor<'_>,
    email_hash: &[u8; 32],
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar!(
        "select locked_until from unknown_email_logins where email_hash = $1 and locked_until > now()",
        &email_hash[..]
    )
    .fetch_optional(db)
    .await
    .map(Option::flatten)
}

/// A stronger encoding of a password that was just verified against `verified_hash`.
#[derive(Debug, Clone, Copy)]
pub struct Rehash<'a> {
    /// The stored hash the password was verified against.
    pub verified_hash: &'a str,
    /// The same password under the current parameters.
    pub new_hash: &'a str,
}

/// Clears the failure counter once the password was right, optionally storing a stronger hash.
pub async fn record_successful_login(
    db: impl PgExecutor<'_>,
    id: Uuid,
    upgrade: Option<Rehash<'_>>,
) -> Result<(), sqlx::Error> {
    // The upgrade applies only over the hash it re-encodes: a reset committed since wins.
    sqlx::query!(
        "update users set failed_login_count = 0, locked_until = null,
                          password_hash = case when password_hash = $3 then coalesce($2, password_hash)
                                               else password_hash end
          where id = $1",
        id,
        upgrade.map(|rehash| rehash.new_hash),
        upgrade.map(|rehash| rehash.verified_hash)
    )
    .execute(db)
    .await
    .map(drop)
}
