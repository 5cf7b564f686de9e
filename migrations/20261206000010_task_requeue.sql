-- A task is stored PENDING before its message is queued. If the function dies between the two,
-- nothing would ever run it: the outbox sweep queues such tasks again. These columns space its
-- attempts out (a message may only be late, and a worker runs a task once whatever it receives).

alter table tasks
    add column sweeps        integer     not null default 0,
    add column next_sweep_at timestamptz not null default now() + interval '5 minutes';

create index tasks_pending_sweep_idx on tasks (next_sweep_at) where status = 'PENDING';
