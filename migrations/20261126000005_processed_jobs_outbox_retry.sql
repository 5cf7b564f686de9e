-- Queue messages already handled (DESIGN §6): SQS delivers at least once, so the worker records
-- each message id after its job succeeds and skips a redelivery. Rows older than the queue's
-- retention (14 days) can no longer be redelivered and are removed by the cleanup job.
create table processed_jobs (
    id           uuid primary key,
    job          text not null,
    processed_at timestamptz not null default now()
);

create index processed_jobs_processed_at_idx on processed_jobs (processed_at);

-- The outbox sweep queues unsent mail again with a growing pause (1, 2, 4 … 60 minutes), counted
-- in `sweeps`, so neither a queue backlog nor a long mail outage floods the queue; it gives up
-- after a day. New rows wait a minute: they belong to the request that queued them.
alter table outbox
    add column sweeps integer not null default 0,
    add column next_attempt_at timestamptz not null default now() + interval '1 minute';

drop index outbox_unsent_idx;
create index outbox_unsent_idx on outbox (next_attempt_at) where sent_at is null;
