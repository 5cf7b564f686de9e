-- The purge scrubs a deleted account's address from the rows that outlive the account: other
-- users' `send_email` tasks, and mail that no account links to (SECURITY.md §2.5). Both are found
-- by the address as the application normalises it, through the expression indexes below, so the
-- purge costs one index lookup per purged address, whatever the number of users, tasks or mails.

-- An address as `Email::parse_address` normalises it: trimmed of whitespace (the characters
-- Rust's `char::is_whitespace` accepts) and lowercased. Task arguments are stored as submitted
-- (" Jane@Example.com"), so this is what makes them comparable with `users.email`. Immutable,
-- so indexes can use it; built-ins only, so it resolves whatever the `search_path`.
create function normalized_address(raw text) returns text
language sql immutable strict parallel safe
as $$
    select lower(btrim(raw, E' \t\n\x0b\f\r\u0085\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000'))
$$;

-- The recipient of a `send_email` task: the keyword `to` or its alias `to_email`, else the first
-- positional argument (`TaskName::parameters` in shared/src/domain/tasks.rs).
create index tasks_send_email_recipient_idx
    on tasks (normalized_address(coalesce(kwargs->>'to', kwargs->>'to_email', args->>0)))
    where name = 'send_email';

-- Replaces the case-sensitive index of the same name: the purge matches recipients normalised.
drop index outbox_recipient_idx;
create index outbox_recipient_idx on outbox (normalized_address(payload->>'to'));
