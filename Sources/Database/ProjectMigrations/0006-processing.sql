-- Pending versions and their processing (docs/contract.md §12.3). A new version in a bucket with
-- steps is written to the backend and recorded here instead of in storage.objects: lists,
-- downloads, signed URLs and renders, which all read storage.objects, cannot see it. It becomes
-- the object's row (in one transaction with its ObjectCreated event) when every step passed.
CREATE TABLE IF NOT EXISTS storage_api.processing_jobs (
  id uuid PRIMARY KEY,
  bucket_id text NOT NULL,
  name text NOT NULL,
  -- The version's bytes are at <tenant>/<bucket>/<name>/<version>.
  version text NOT NULL,
  -- The row written when it is ready.
  owner_id text,
  upsert boolean NOT NULL,
  metadata jsonb NOT NULL,
  user_metadata jsonb,
  -- How the bytes came, for the ObjectCreated event: {"kind": "upload"|"copy", "uploadType", "route"}.
  origin jsonb NOT NULL,
  request_id text,
  state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'ready', 'rejected')),
  -- [{"name", "state": "pending|passed|failed", "detail"}], as the pipeline left them.
  steps jsonb NOT NULL,
  -- Attempts of the current step.
  attempts integer NOT NULL DEFAULT 0,
  sha256 text,
  reason text,
  -- A rejected version whose bytes were kept (on_reject: quarantine).
  quarantined boolean NOT NULL DEFAULT false,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  claim_token uuid,
  claimed_until timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz
);

CREATE INDEX IF NOT EXISTS processing_jobs_due_idx ON storage_api.processing_jobs (next_attempt_at) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS processing_jobs_key_idx ON storage_api.processing_jobs (bucket_id, name, created_at DESC);

-- Copies of ready versions to the configured targets, one row per target.
CREATE TABLE IF NOT EXISTS storage_api.processing_deliveries (
  job_id uuid NOT NULL REFERENCES storage_api.processing_jobs (id) ON DELETE CASCADE,
  target text NOT NULL,
  state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
  attempts integer NOT NULL DEFAULT 0,
  last_error text,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  claim_token uuid,
  claimed_until timestamptz,
  delivered_at timestamptz,
  PRIMARY KEY (job_id, target)
);

CREATE INDEX IF NOT EXISTS processing_deliveries_due_idx ON storage_api.processing_deliveries (next_attempt_at) WHERE state = 'pending';

GRANT SELECT, INSERT, UPDATE, DELETE ON storage_api.processing_jobs, storage_api.processing_deliveries TO service_role;
