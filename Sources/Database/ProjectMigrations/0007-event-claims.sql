-- The claim's walk: pending events in commit order, so a claim reads about as many rows as it
-- takes and stops at its limit. It used to gather the head of every key first (DISTINCT ON over
-- all pending events, through a bitmap scan that also visited the table for every dead index
-- entry left since the last vacuum), so a pass cost grew with the backlog: 157 ms for 32 events
-- behind 100,000 pending ones, against 2.7 ms this way (pgbench, one client); a backlog of 100,000
-- drains in 28 s instead of 287 s (Benchmarks/events.sh).
CREATE INDEX IF NOT EXISTS events_pending_seq_idx ON storage_api.events (seq) WHERE status = 'pending';
