-- Queue messages already handled (DESIGN §6): SQS delivers at least once, so the worker records
-- each message id after its job succeeds and skips a redelivery. Rows older than the queue's
-- retention (14 days) can no longer be redelivered and are removed by the cleanup job.
create table processed_jobs (
    id           uuid primary key,
    job          text not null,
    processed_at timestamptz not null default now()
);

create index processed_jobs_processed_at_idx on processed_jobs (processed_at);
