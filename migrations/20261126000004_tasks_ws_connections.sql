-- Background tasks (the Celery replacement, DESIGN §6) and WebSocket connections (§8). Both
-- belong to a user and go with the account when it is purged: connections by cascade, tasks by
-- the purge job (the reference is `set null` so deleting a user otherwise never fails on them).

create table tasks (
    id          uuid primary key default gen_random_uuid(),
    name        text not null,
    args        jsonb not null default '[]',
    kwargs      jsonb not null default '{}',
    status      text not null default 'PENDING',
    result      jsonb,
    error       text,
    attempts    integer not null default 0,
    created_by  uuid references users (id) on delete set null,
    created_at  timestamptz not null default now(),
    started_at  timestamptz,
    finished_at timestamptz,
    constraint tasks_status_known
        check (status in ('PENDING', 'STARTED', 'SUCCESS', 'FAILURE', 'REVOKED'))
);

create index tasks_status_created_idx on tasks (status, created_at desc);
-- the cleanup job removes finished tasks past their retention
create index tasks_finished_at_idx on tasks (finished_at) where finished_at is not null;

create table ws_connections (
    connection_id text not null,
    user_id       uuid not null references users (id) on delete cascade,
    room          text not null default 'default',
    connected_at  timestamptz not null default now(),
    -- a connection may be in several rooms
    constraint ws_connections_pkey primary key (connection_id, room)
);

create index ws_connections_user_idx on ws_connections (user_id);
create index ws_connections_room_idx on ws_connections (room);

-- the purge job removes a deleted account's queued mail, found by recipient
create index outbox_recipient_idx on outbox ((payload->>'to'));
-- admin actions are found by the account they were done to (audit filter, export, purge)
create index audit_log_target_user_idx on audit_log ((details->>'target_user_id'));
-- the cleanup job removes old rows by age
create index one_time_tokens_expires_at_idx on one_time_tokens (expires_at);
create index sessions_expires_at_idx on sessions (expires_at);
