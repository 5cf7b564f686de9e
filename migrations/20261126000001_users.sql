-- Accounts (DESIGN §3). Emails are stored trimmed and lowercased by the application; the check
-- constraint makes that a database guarantee, so a plain unique index gives case-insensitive
-- uniqueness without the citext extension (which managed Postgres may not allow).

create function set_updated_at() returns trigger
language plpgsql as $$
begin
    new.updated_at := now();
    return new;
end;
$$;

create table users (
    id                      uuid primary key default gen_random_uuid(),
    email                   text not null,
    username                text not null,
    -- null for accounts that only sign in through Google/Apple
    password_hash           text,
    is_verified             boolean not null default false,
    is_superuser            boolean not null default false,
    is_active               boolean not null default true,
    created_at              timestamptz not null default now(),
    updated_at              timestamptz not null default now(),
    password_changed_at     timestamptz,
    deletion_requested_at   timestamptz,
    deletion_scheduled_for  timestamptz,
    -- days-before-deletion reminders already mailed (3, 1), so each is sent exactly once
    deletion_reminders_sent smallint[] not null default '{}',
    failed_login_count      integer not null default 0,
    locked_until            timestamptz,
    constraint users_email_key unique (email),
    -- case-sensitive, as in the seed
    constraint users_username_key unique (username),
    constraint users_email_normalized check (email = lower(btrim(email))),
    constraint users_failed_login_count_nonnegative check (failed_login_count >= 0)
);

-- the purge and reminder jobs scan only accounts with a pending deletion
create index users_deletion_scheduled_for_idx on users (deletion_scheduled_for)
    where deletion_scheduled_for is not null;

create trigger users_set_updated_at before update on users
    for each row execute function set_updated_at();
