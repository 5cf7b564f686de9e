//! Account-deletion state on `users`, the reminder claims and the purge.
//!
//! The scheduled jobs may run twice or at the same time (EventBridge delivers at least once), so
//! every statement here claims its rows atomically: a reminder is marked sent in the statement
//! that selects it, and the purge locks its batch with `skip locked`.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use crate::domain::deletion::{DeletionState, PURGED_ADDRESS};

/// Records a deletion request (the mail with the confirm link goes out in the same transaction).
pub async fn mark_requested(db: impl PgExecutor<'_>, user_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!("update users set deletion_requested_at = now() where id = $1", user_id).execute(db).await.map(drop)
}

/// The account a deletion was scheduled for.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Scheduled {
    /// Where the notice goes.
    pub email: String,
    /// For the greeting.
    pub username: String,
    /// When the purge runs.
    pub deletion_scheduled_for: DateTime<Utc>,
}

/// Schedules the purge of a user at `at`, unless one is already scheduled: then that date stands
/// and the reminders already sent stay sent. `None` when the account no longer exists.
pub async fn schedule(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    at: DateTime<Utc>,
) -> Result<Option<Scheduled>, sqlx::Error> {
    sqlx::query_as!(
        Scheduled,
        r#"update users
              set deletion_scheduled_for = coalesce(deletion_scheduled_for, $2),
                  deletion_requested_at = coalesce(deletion_requested_at, now()),
                  deletion_reminders_sent = case when deletion_scheduled_for is null then '{}'
                                                 else deletion_reminders_sent end
            where id = $1
            returning email, username, deletion_scheduled_for as "deletion_scheduled_for!""#,
        user_id,
        at,
    )
    .fetch_optional(db)
    .await
}

/// The two deletion columns of a user, as stored.
#[derive(Debug, Clone, Copy, Default, sqlx::FromRow)]
struct DeletionColumns {
    deletion_requested_at: Option<DateTime<Utc>>,
    deletion_scheduled_for: Option<DateTime<Utc>>,
}

impl From<DeletionColumns> for DeletionState {
    fn from(row: DeletionColumns) -> Self {
        Self { requested_at: row.deletion_requested_at, scheduled_for: row.deletion_scheduled_for }
    }
}

/// Clears a pending deletion. Returns the state it had, or `None` when nothing was pending.
pub async fn cancel(db: impl PgExecutor<'_>, user_id: Uuid) -> Result<Option<DeletionState>, sqlx::Error> {
    // The old values come from a self-join on the locked row, so the answer is what was cancelled.
    let row = sqlx::query_as!(
        DeletionColumns,
        "update users u
            set deletion_requested_at = null, deletion_scheduled_for = null, deletion_reminders_sent = '{}'
           from users old
          where u.id = $1 and old.id = u.id
            and (old.deletion_requested_at is not null or old.deletion_scheduled_for is not null)
          returning old.deletion_requested_at, old.deletion_scheduled_for",
        user_id,
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(DeletionState::from))
}

/// The deletion state of a user.
pub async fn state(db: impl PgExecutor<'_>, user_id: Uuid) -> Result<DeletionState, sqlx::Error> {
    let row = sqlx::query_as!(
        DeletionColumns,
        "select deletion_requested_at, deletion_scheduled_for from users where id = $1",
        user_id
    )
    .fetch_optional(db)
    .await?;
    Ok(row.unwrap_or_default().into())
}

/// An account a reminder was just claimed for.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReminderDue {
    /// The account.
    pub id: Uuid,
    /// Where the reminder goes.
    pub email: String,
    /// For the greeting.
    pub username: String,
    /// When the account will be purged.
    pub deletion_scheduled_for: DateTime<Utc>,
}

/// Claims up to `limit` accounts whose purge is at most `day` days away and whose `day` reminder
/// has not gone out, marking `covered` (the `day` reminder and earlier ones) as sent. A second or
/// concurrent run finds nothing to claim: the mark is part of the same statement, and rows another
/// run holds are skipped. Run it inside the transaction that queues the mails.
pub async fn claim_reminders(
    tx: &mut PgConnection,
    day: u32,
    covered: &[i16],
    limit: i64,
) -> Result<Vec<ReminderDue>, sqlx::Error> {
    sqlx::query_as!(
        ReminderDue,
        r#"update users u
            set deletion_reminders_sent =
                array(select distinct d from unnest(u.deletion_reminders_sent || $2::smallint[]) as d order by d)
          where u.id in (select id from users
                          where deletion_scheduled_for > now()
                            and deletion_scheduled_for <= now() + make_interval(days => $1)
                            and not ($1::smallint = any(deletion_reminders_sent))
                          order by deletion_scheduled_for
                          limit $3
                            for update skip locked)
            and not ($1::smallint = any(u.deletion_reminders_sent))
          returning u.id, u.email, u.username, u.deletion_scheduled_for as "deletion_scheduled_for!""#,
        i32::try_from(day).unwrap_or(i32::MAX),
        covered,
        limit,
    )
    .fetch_all(tx)
    .await
}

/// An account the purge removed: only what the PII-free audit entry needs.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Purged {
    /// The account's id (gone from every table; announced in `account.purged`).
    pub id: Uuid,
    /// When the user first asked.
    pub deletion_requested_at: Option<DateTime<Utc>>,
    /// When the purge was due.
    pub deletion_scheduled_for: DateTime<Utc>,
}

/// Whether this account is the only active administrator: deleting it would leave nobody able to
/// administer the service.
pub async fn is_last_superuser(db: impl PgExecutor<'_>, user_id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        "select coalesce(bool_and(id = $1), false) as \"only!\"
           from users where is_superuser and is_active and is_verified",
        user_id
    )
    .fetch_one(db)
    .await
}

/// Hard-deletes up to `limit` accounts whose grace period is over, with everything that refers
/// to them: sessions, refresh and one-time tokens, identities and WebSocket connections go by
/// cascade; their tasks are deleted; their audit entries lose address and agent, and other
/// entries lose the reference to them. Their address (and a former one an email change's undo
/// link still names) is scrubbed from the rows that outlive them
/// (see `scrub_address_from_tasks` and `scrub_address_from_outbox`; mail younger than
/// `mail_give_up_hours` is still being retried, so it is deleted). A superuser is kept (and stays
/// due) while no other active superuser would remain. Accounts another run is purging are
/// skipped. Run it inside a transaction.
pub async fn purge_due(tx: &mut PgConnection, limit: i64, mail_give_up_hours: i32) -> Result<Vec<Purged>, sqlx::Error> {
    let due = claim_due(tx, limit).await?;
    purge_claimed(tx, due, mail_give_up_hours).await
}

/// What [`purge_now`] found.
#[derive(Debug)]
pub enum PurgeNow {
    /// No account has that address.
    NotFound,
    /// The account is the last active superuser; purging it would leave nobody to administer.
    LastSuperuser,
    /// The account is gone.
    Purged(Purged),
}

/// Purges the account with `email` at once, whether or not its deletion was requested: the
/// operator's answer to an erasure request that cannot wait for the grace period.
pub async fn purge_now(tx: &mut PgConnection, email: &str, mail_give_up_hours: i32) -> Result<PurgeNow, sqlx::Error> {
    // As the admin API does before removing a superuser: two removals then run one after the
    // other, and the second sees the first's result.
    super::user_details::lock_active_superusers(&mut *tx).await?;
    let Some(account) = sqlx::query!(
        r#"select id, email,
                  (is_superuser and is_active and is_verified
                   and not exists (select 1 from users other
                                    where other.id <> u.id
                                      and other.is_superuser and other.is_active and other.is_verified
                                      and (other.deletion_scheduled_for is null
                                           or other.deletion_scheduled_for > now()))) as "last_superuser!"
             from users u
            where email = $1
              for update"#,
        email
    )
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(PurgeNow::NotFound);
    };
    if account.last_superuser {
        return Ok(PurgeNow::LastSuperuser);
    }
    sqlx::query!(
        "update users set deletion_scheduled_for = least(coalesce(deletion_scheduled_for, now()), now()) where id = $1",
        account.id
    )
    .execute(&mut *tx)
    .await?;
    let mut purged = purge_claimed(tx, vec![(account.id, account.email)], mail_give_up_hours).await?;
    Ok(purged.pop().map_or(PurgeNow::NotFound, PurgeNow::Purged))
}

/// Deletes the claimed (locked) accounts and every trace of their addresses.
async fn purge_claimed(
    tx: &mut PgConnection,
    due: Vec<(Uuid, String)>,
    mail_give_up_hours: i32,
) -> Result<Vec<Purged>, sqlx::Error> {
    if due.is_empty() {
        return Ok(Vec::new());
    }
    let (ids, mut emails): (Vec<Uuid>, Vec<String>) = due.into_iter().unzip();
    emails.extend(former_addresses(tx, &ids).await?);
    strip_audit_entries(tx, &ids).await?;
    sqlx::query!("delete from tasks where created_by = any($1)", &ids).execute(&mut *tx).await?;
    scrub_address_from_tasks(tx, &emails).await?;
    scrub_address_from_outbox(tx, &emails, mail_give_up_hours).await?;
    super::undeliverable::forget(&mut *tx, &emails).await?;
    sqlx::query_as!(
        Purged,
        r#"delete from users where id = any($1)
           returning id, deletion_requested_at, deletion_scheduled_for as "deletion_scheduled_for!""#,
        &ids
    )
    .fetch_all(&mut *tx)
    .await
}

/// The addresses the accounts had before an email change that can still be undone: they are the
/// person's too, and the change's notice went to them.
async fn former_addresses(tx: &mut PgConnection, ids: &[Uuid]) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select distinct email as "email!" from one_time_tokens
            where user_id = any($1) and purpose = 'undo_email_change' and email is not null"#,
        ids
    )
    .fetch_all(tx)
    .await
}

/// Locks up to `limit` due accounts (id and address), skipping the last active superuser and
/// accounts another run holds.
async fn claim_due(tx: &mut PgConnection, limit: i64) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    let rows = sqlx::query!(
        "select id, email from users u
          where deletion_scheduled_for <= now()
            and (not (is_superuser and is_active and is_verified)
                 or exists (select 1 from users other
                             where other.is_superuser and other.is_active and other.is_verified
                               and (other.deletion_scheduled_for is null or other.deletion_scheduled_for > now())))
          order by deletion_scheduled_for
          limit $1
            for update skip locked",
        limit
    )
    .fetch_all(tx)
    .await?;
    Ok(rows.into_iter().map(|row| (row.id, row.email)).collect())
}

/// The accounts' own entries keep what happened (for security statistics and, for an admin, what
/// was done to others) but nothing that points to the person; other entries lose the reference.
async fn strip_audit_entries(tx: &mut PgConnection, ids: &[Uuid]) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update audit_log set ip = null, user_agent = null, details = details - 'session_id' where user_id = any($1)",
        ids
    )
    .execute(&mut *tx)
    .await?;
    let id_texts: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    sqlx::query!(
        "update audit_log set details = details - 'target_user_id' where details->>'target_user_id' = any($1)",
        &id_texts
    )
    .execute(&mut *tx)
    .await
    .map(drop)
}

/// `send_email` tasks of other users addressed to a purged account keep their subject, body and
/// outcome — they are the sender's history — but the recipient becomes [`PURGED_ADDRESS`], in the
/// arguments and in an error that quotes it (a provider's refusal often does). Arguments are
/// stored as submitted, so they are compared normalised (`normalized_address`, in the migration
/// that indexes them), i.e. whatever case or padding the sender typed. A task still PENDING will
/// then fail its argument check when it runs (the placeholder is not a valid address), so
/// nothing is mailed. Cost: one lookup per address in the partial expression index
/// `tasks_send_email_recipient_idx`, plus the matching tasks; independent of the number of users
/// and of other tasks.
async fn scrub_address_from_tasks(tx: &mut PgConnection, emails: &[String]) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r"update tasks t
             set args = case when normalized_address(t.args->>0) = gone.email
                             then jsonb_set(t.args, '{0}', to_jsonb($2::text)) else t.args end,
                 kwargs = case when normalized_address(t.kwargs->>'to') = gone.email
                               then jsonb_set(t.kwargs, '{to}', to_jsonb($2::text))
                               when normalized_address(t.kwargs->>'to_email') = gone.email
                               then jsonb_set(t.kwargs, '{to_email}', to_jsonb($2::text))
                               else t.kwargs end,
                 -- the address, regex-escaped, in any case
                 error = regexp_replace(t.error, regexp_replace(gone.email, '([^[:alnum:]])', '\\\1', 'g'), $2, 'gi')
            from unnest($1::text[]) as gone(email)
           where t.name = 'send_email'
             and normalized_address(coalesce(t.kwargs->>'to', t.kwargs->>'to_email', t.args->>0)) = gone.email",
        emails,
        PURGED_ADDRESS,
    )
    .execute(&mut *tx)
    .await
    .map(drop)
}

/// Mail to a purged address, whether the account queued it or not (a notice, another user's
/// task): what is still being retried (unsent, younger than `give_up_hours`) is deleted, so it
/// never goes out; a delivered row, or one the sweep gave up on, stays for the delivery
/// statistics but keeps only [`PURGED_ADDRESS`] — no subject or body — and an error that quoted
/// the address quotes the placeholder. Recipients are compared normalised, so case does not
/// matter. Cost: one lookup per address in the expression index `outbox_recipient_idx`, plus the
/// matching rows; independent of the number of users and of other mail.
async fn scrub_address_from_outbox(
    tx: &mut PgConnection,
    emails: &[String],
    give_up_hours: i32,
) -> Result<(), sqlx::Error> {
    // A row a deliverer holds is waited for: once it is sent, this statement skips it and the next
    // one scrubs it.
    sqlx::query!(
        "delete from outbox
          where normalized_address(payload->>'to') = any($1)
            and sent_at is null and created_at > now() - make_interval(hours => $2)",
        emails,
        give_up_hours
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        r"update outbox o
             set payload = jsonb_build_object('to', $2::text, 'scrubbed', true),
                 last_error = regexp_replace(o.last_error, regexp_replace(gone.email, '([^[:alnum:]])', '\\\1', 'g'), $2, 'gi')
            from unnest($1::text[]) as gone(email)
           where normalized_address(o.payload->>'to') = gone.email",
        emails,
        PURGED_ADDRESS,
    )
    .execute(&mut *tx)
    .await
    .map(drop)
}
