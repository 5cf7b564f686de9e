-- Auth events for other systems wait in the outbox (kind 'event') until the worker publishes
-- them; the publisher reads the unsent ones least-tried first, then oldest first.

create index outbox_unsent_events_idx on outbox (attempts, created_at, id) where sent_at is null and kind = 'event';
