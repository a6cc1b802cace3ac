-- The outbox of storage events (docs/contract.md §12.2). A change writes its events in its own
-- transaction, so a rolled-back change leaves none and a committed one cannot lose them.
--
-- `seq` orders events of one key as their changes committed: every change takes the key's row
-- (or advisory) lock before it writes its event, so a later change of the same key cannot insert
-- its event until the earlier one has committed.
CREATE TABLE IF NOT EXISTS storage_api.events (
  id uuid PRIMARY KEY,
  seq bigserial NOT NULL UNIQUE,
  type text NOT NULL,
  bucket_id text NOT NULL,
  name text,
  -- Events of one key are delivered in order: `bucket/name`, or the bucket id for bucket events.
  order_key text NOT NULL,
  -- The webhook body's `event` member: {"$version","type","region","payload","applyTime"}.
  event jsonb NOT NULL,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
  -- Delivery attempts so far (claims), and when the next may start.
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  -- A delivering replica's claim: its token and until when it keeps others off.
  claim_token uuid,
  claimed_until timestamptz,
  last_error text,
  created_at timestamptz NOT NULL DEFAULT now(),
  delivered_at timestamptz
);

-- The claim's scan: the oldest pending event of each key.
CREATE INDEX IF NOT EXISTS events_pending_idx ON storage_api.events (order_key, seq) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS events_delivered_idx ON storage_api.events (delivered_at) WHERE status = 'delivered';

GRANT SELECT, INSERT, UPDATE, DELETE ON storage_api.events TO service_role;
GRANT USAGE ON SEQUENCE storage_api.events_seq_seq TO service_role;
