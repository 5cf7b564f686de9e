//! The full account row (less the password hash) for the admin API and the data export, and the
//! admin's list, search and flag updates.
//!
//! Kept apart from [`super::users::User`], which every authenticated request reads: that one stays
//! narrow, this one carries the lifecycle and security columns only these two views need.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

/// An account as an administrator (or, in the export, its owner) sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserDetails {
    /// Primary key.
    pub id: Uuid,
    /// Normalised email.
    pub email: String,
    /// Username (case kept).
    pub username: String,
    /// The email address was confirmed.
    pub is_verified: bool,
    /// Administrator.
    pub is_superuser: bool,
    /// Disabled accounts cannot sign in.
    pub is_active: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change of the row (trigger-maintained).
    pub updated_at: DateTime<Utc>,
    /// Last password change; `None` for accounts that never had one.
    pub password_changed_at: Option<DateTime<Utc>>,
    /// When the owner asked for deletion.
    pub deletion_requested_at: Option<DateTime<Utc>>,
    /// When the account will be purged; `Some` means a deletion is pending.
    pub deletion_scheduled_for: Option<DateTime<Utc>>,
    /// Consecutive failed logins since the last success.
    pub failed_login_count: i32,
    /// Login attempts are refused until then (back-off).
    pub locked_until: Option<DateTime<Utc>>,
    /// Whether a password is set (OAuth-only accounts have none); the hash itself never leaves SQL.
    pub has_password: bool,
    /// `bounce` or `complaint` when SES reported the address undeliverable (its mail is dropped).
    pub email_undeliverable: Option<String>,
}

/// A checked query that reads whole [`UserDetails`] rows: `before` + the columns + `after`.
macro_rules! query_details {
    ($before:literal, $after:literal $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            UserDetails,
            $before
                + "id, email, username, is_verified, is_superuser, is_active, created_at, updated_at, password_changed_at,
                   deletion_requested_at, deletion_scheduled_for, failed_login_count, locked_until,
                   password_hash is not null as \"has_password!\",
                   (select reason from undeliverable_addresses
                     where email_digest = sha256(convert_to(normalized_address(email), 'UTF8'))) as email_undeliverable"
                + $after
            $(, $arg)*
        )
    };
}

/// A checked query over the accounts `filter` selects: `before` + the `where` clause + `after`.
/// `$1` is a LIKE pattern (see [`UserFilter::search_pattern`]), `$2`–`$5` optional flags; unset
/// filters match everything. The list and its count share this one clause.
macro_rules! query_filtered_users {
    ($query:ident!($($head:tt)*), $before:literal, $after:literal, $filter:expr $(, $arg:expr)* $(,)?) => {
        sqlx::$query!(
            $($head)*
            $before
                + " where ($1::text is null or email ilike $1 escape '\\' or username ilike $1 escape '\\')
                     and ($2::bool is null or is_verified = $2)
                     and ($3::bool is null or is_superuser = $3)
                     and ($4::bool is null or is_active = $4)
                     and ($5::bool is null or (deletion_scheduled_for is not null) = $5)"
                + $after,
            $filter.search_pattern(),
            $filter.is_verified,
            $filter.is_superuser,
            $filter.is_active,
            $filter.pending_deletion
            $(, $arg)*
        )
    };
}

/// What the admin list is narrowed to; `None` means "any".
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Case-insensitive substring of the email or the username, taken literally.
    pub search: Option<String>,
    /// Only verified (or unverified) accounts.
    pub is_verified: Option<bool>,
    /// Only administrators (or non-administrators).
    pub is_superuser: Option<bool>,
    /// Only active (or deactivated) accounts.
    pub is_active: Option<bool>,
    /// Only accounts with (or without) a scheduled deletion.
    pub pending_deletion: Option<bool>,
}

impl UserFilter {
    /// The search as an `ilike` pattern: `%`, `_` and `\` are escaped, so a search for `a_b`
    /// does not also match `axb`.
    pub fn search_pattern(&self) -> Option<String> {
        let search = self.search.as_deref()?;
        let mut pattern = String::with_capacity(search.len() + 2);
        pattern.push('%');
        for c in search.chars() {
            if matches!(c, '%' | '_' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('%');
        Some(pattern)
    }
}

/// One account by id.
pub async fn find(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<UserDetails>, sqlx::Error> {
    query_details!("select ", " from users where id = $1", id).fetch_optional(db).await
}

/// One page of the accounts matching `filter`, newest first.
pub async fn list(
    db: impl PgExecutor<'_>,
    filter: &UserFilter,
    limit: i64,
    offset: i64,
) -> Result<Vec<UserDetails>, sqlx::Error> {
    query_filtered_users!(
        query_as!(UserDetails,),
        "select id, email, username, is_verified, is_superuser, is_active, created_at, updated_at,
                password_changed_at, deletion_requested_at, deletion_scheduled_for, failed_login_count, locked_until,
                password_hash is not null as \"has_password!\",
                (select reason from undeliverable_addresses
                  where email_digest = sha256(convert_to(normalized_address(email), 'UTF8'))) as email_undeliverable
           from users",
        " order by created_at desc, id limit $6 offset $7",
        filter,
        limit,
        offset,
    )
    .fetch_all(db)
    .await
}

/// How many accounts match `filter`.
pub async fn count(db: impl PgExecutor<'_>, filter: &UserFilter) -> Result<i64, sqlx::Error> {
    query_filtered_users!(query_scalar!(), "select count(*) as \"count!\" from users", "", filter).fetch_one(db).await
}

/// Locks the rows of every active superuser until the transaction ends and returns their ids.
/// Two concurrent demotions then run one after the other, and the second sees the first's
/// result, so together they cannot remove the last administrator. Locked in id order, so two
/// such transactions never deadlock.
pub async fn lock_active_superusers(db: impl PgExecutor<'_>) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar!("select id from users where is_superuser and is_active and is_verified order by id for update")
        .fetch_all(db)
        .await
}

/// Reads one account and locks its row until the transaction ends.
pub async fn find_for_update(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<UserDetails>, sqlx::Error> {
    query_details!("select ", " from users where id = $1 for update", id).fetch_optional(db).await
}

/// Sets the given flags (`None` keeps the current value); `None` when there is no such account.
pub async fn update_flags(
    db: impl PgExecutor<'_>,
    id: Uuid,
    is_active: Option<bool>,
    is_superuser: Option<bool>,
    is_verified: Option<bool>,
) -> Result<Option<UserDetails>, sqlx::Error> {
    query_details!(
        "update users set is_active = coalesce($2, is_active), is_superuser = coalesce($3, is_superuser),
                          is_verified = coalesce($4, is_verified)
          where id = $1 returning ",
        "",
        id,
        is_active,
        is_superuser,
        is_verified,
    )
    .fetch_optional(db)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(search: &str) -> Option<String> {
        UserFilter { search: Some(search.into()), ..UserFilter::default() }.search_pattern()
    }

    #[test]
    fn like_wildcards_and_the_escape_character_are_escaped() {
        assert_eq!(pattern("jane").as_deref(), Some("%jane%"));
        assert_eq!(pattern("100%_x\\y").as_deref(), Some("%100\\%\\_x\\\\y%"));
        assert_eq!(UserFilter::default().search_pattern(), None);
    }
}
