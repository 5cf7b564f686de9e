-- Addresses SES reported as undeliverable: a hard (permanent) bounce, or a complaint (the
-- recipient marked a mail as spam). Mail to them is dropped instead of sent, which protects the
-- account's SES reputation (SES reviews an account above a 5% bounce or 0.1% complaint rate).
-- Keyed by the SHA-256 of the normalised address (`normalized_address`): no address is stored in
-- clear, though a digest confirms a guessed address, so the purge deletes the rows of the
-- addresses it erases. A superuser can clear a row (the user fixed their mailbox) through the
-- admin API.
create table undeliverable_addresses (
    email_digest      bytea primary key,
    reason            text not null check (reason in ('bounce', 'complaint')),
    -- SES's bounce type and subtype, or the complaint's feedback type; never an address
    detail            text not null default '',
    first_reported_at timestamptz not null default now(),
    last_reported_at  timestamptz not null default now(),
    reports           integer not null default 1
);

-- A mail dropped because its address is undeliverable is closed (sent_at set) with the reason,
-- so the outbox sweep never retries it.
alter table outbox add column dropped_reason text;
