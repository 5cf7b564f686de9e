-- Second factors (TOTP), their recovery codes, the pending second step of a sign-in, and the
-- assurance level of each session.

-- A TOTP factor. The secret is sealed with AES-256-GCM under a named key (key_id), bound to the
-- row's id, so neither a copy of the table nor a ciphertext moved to another row gives a usable
-- secret. A factor counts once activated_at is set (a code from it was checked).
create table mfa_factors (
    id             uuid primary key default gen_random_uuid(),
    user_id        uuid not null references users (id) on delete cascade,
    kind           text not null default 'totp',
    secret_sealed  bytea not null,
    key_id         text not null,
    created_at     timestamptz not null default now(),
    activated_at   timestamptz,
    last_used_at   timestamptz,
    -- the newest 30-second step whose code was accepted: a code is never accepted twice, and
    -- an older step is refused once a newer one was used
    last_used_step bigint,
    constraint mfa_factors_kind_known check (kind in ('totp'))
);

create index mfa_factors_user_idx on mfa_factors (user_id);
-- unfinished enrolments, for the cleanup that drops the stale ones
create index mfa_factors_pending_idx on mfa_factors (created_at) where activated_at is null;
-- one active TOTP factor per account
create unique index mfa_factors_one_active_idx on mfa_factors (user_id) where activated_at is not null;

-- Single-use recovery codes of a factor, kept only as HMACs keyed by the factor's secret: a
-- copy of this table cannot be brute-forced without the key that seals the secrets.
create table mfa_recovery_codes (
    factor_id   uuid not null references mfa_factors (id) on delete cascade,
    code_digest bytea not null,
    created_at  timestamptz not null default now(),
    used_at     timestamptz,
    primary key (factor_id, code_digest),
    constraint mfa_recovery_codes_digest_is_sha256 check (octet_length(code_digest) = 32)
);

-- The second step of a sign-in whose first factor passed: the mfa_token (SHA-256 digest only),
-- single use, short-lived, and the methods already used (amr), carried into the session.
create table mfa_challenges (
    token_hash bytea primary key,
    user_id    uuid not null references users (id) on delete cascade,
    amr        text[] not null,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    used_at    timestamptz,
    constraint mfa_challenges_hash_is_sha256 check (octet_length(token_hash) = 32)
);

create index mfa_challenges_expires_at_idx on mfa_challenges (expires_at);
-- an account's challenges, for the cascade when it is purged
create index mfa_challenges_user_idx on mfa_challenges (user_id);

-- Wrong second-factor codes, counted per account like wrong passwords but apart from them: a
-- correct password must not reset this count. Same columns as unknown_email_logins, so one SQL
-- rule backs off all three.
create table mfa_attempts (
    user_id            uuid primary key references users (id) on delete cascade,
    failed_login_count integer not null default 0,
    locked_until       timestamptz,
    updated_at         timestamptz not null default now()
);

-- The assurance of a session: aal 1 (one factor) or 2 (a second factor checked), the methods
-- used (RFC 8176 style: pwd, email, oauth, totp, recovery_code), and when the second factor was
-- last checked, for actions that need a recent one.
alter table sessions add column aal smallint not null default 1;
alter table sessions add column amr text[] not null default '{}';
alter table sessions add column aal2_at timestamptz;
alter table sessions add constraint sessions_aal_known check (aal in (1, 2));
