-- clikd:no-transaction
-- The feed's "latest ready drops" query. Built CONCURRENTLY so a live database keeps taking writes;
-- that cannot run inside a transaction, hence the opt-out above (and IF NOT EXISTS for reruns).

CREATE INDEX CONCURRENTLY IF NOT EXISTS drops_published_idx ON drops (published_at DESC) WHERE status = 'ready';
