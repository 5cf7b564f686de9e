-- Sign-in state, one-time tokens, rate-limit windows, the mail outbox and the audit log
-- (DESIGN §3). Secrets are never stored: tokens are kept only as SHA-256 digests, looked up by
-- primary key, so a database leak gives no usable token and a lookup never scans.

create table sessions (
    id            uuid primary key default gen_random_uuid(),
    user_id       uuid not null references users (id) on delete cascade,
    created_at    timestamptz not null default now(),
    last_used_at  timestamptz not null default now(),
    -- absolute end of the session; refreshing never extends it
    expires_at    timestamptz not null,
    revoked_at    timestamptz,
    revoke_reason text,
    device_info   text,
    ip_address    inet,
    user_agent    text,
    constraint sessions_expiry_after_creation check (expires_at > created_at)
);

-- live sessions of one user, newest first (session list, "at most N live" eviction)
create index sessions_user_live_idx on sessions (user_id, created_at desc) where revoked_at is null;

create table refresh_tokens (
    token_hash bytea primary key,
    session_id uuid not null references sessions (id) on delete cascade,
    issued_at  timestamptz not null default now(),
    -- set when this token was exchanged for its successor; a later use is a replay
    rotated_at timestamptz,
    constraint refresh_tokens_hash_is_sha256 check (octet_length(token_hash) = 32)
);

create index refresh_tokens_session_idx on refresh_tokens (session_id);

create table one_time_tokens (
    token_hash bytea primary key,
    user_id    uuid not null references users (id) on delete cascade,
    purpose    text not null,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    used_at    timestamptz,
    constraint one_time_tokens_hash_is_sha256 check (octet_length(token_hash) = 32),
    constraint one_time_tokens_purpose_known
        check (purpose in ('verify_email', 'reset_password', 'confirm_deletion'))
);

-- "a new token voids the older ones" touches only the unused tokens of one user and purpose
create index one_time_tokens_user_purpose_idx on one_time_tokens (user_id, purpose) where used_at is null;

-- fixed-window counters: one row per key and window, bumped by a single upsert per check
create table rate_limits (
    key          text not null,
    window_start timestamptz not null,
    count        integer not null default 0,
    primary key (key, window_start)
);

create index rate_limits_window_start_idx on rate_limits (window_start);

-- transactional outbox: written in the same transaction as the state change, delivered after
-- commit, re-delivered by a sweep until sent_at is set
create table outbox (
    id         uuid primary key default gen_random_uuid(),
    kind       text not null,
    payload    jsonb not null,
    created_at timestamptz not null default now(),
    sent_at    timestamptz,
    attempts   integer not null default 0,
    last_error text
);

create index outbox_unsent_idx on outbox (created_at) where sent_at is null;

-- security events; details never hold passwords, tokens or cookies
create table audit_log (
    id         bigint generated always as identity primary key,
    at         timestamptz not null default now(),
    event      text not null,
    user_id    uuid references users (id) on delete set null,
    ip         inet,
    user_agent text,
    success    boolean not null,
    details    jsonb not null default '{}'
);

create index audit_log_user_at_idx on audit_log (user_id, at desc);
create index audit_log_at_idx on audit_log (at desc);
