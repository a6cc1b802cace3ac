-- Resumable (TUS) uploads, shared by every replica. The bytes live in the backend as pieces
-- (temporary objects, and in S3 modes the parts of one multipart upload); this row names them,
-- counts what is durable, and says which request may write next.
CREATE TABLE IF NOT EXISTS storage_api.resumable_uploads (
  -- The id in upload URLs: base64url of "<bucket>/<name>/<version>".
  id text PRIMARY KEY,
  bucket_id text NOT NULL,
  name text NOT NULL,
  version text NOT NULL,
  -- NULL while the length is deferred.
  upload_length bigint,
  size_limit bigint NOT NULL,
  -- Bytes durably received (the TUS offset).
  received bigint NOT NULL DEFAULT 0,
  content_type text NOT NULL,
  cache_control text NOT NULL,
  user_metadata jsonb,
  upsert boolean NOT NULL DEFAULT false,
  owner_sub text,
  -- Which backend pieces hold the received bytes (ObjectStore's ResumablePieces, as JSON).
  pieces jsonb NOT NULL DEFAULT '{}',
  -- Numbers for new pieces and parts, handed out under the lease so no two writers share one.
  next_piece integer NOT NULL DEFAULT 1,
  next_part integer NOT NULL DEFAULT 1,
  -- The lease: one request writes at a time. Every acquisition increments the epoch, and
  -- every write names the epoch it holds, so a holder that lost the lease is fenced out.
  lease_epoch bigint NOT NULL DEFAULT 0,
  lease_expires_at timestamptz,
  release_requested boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  completed_at timestamptz
);

CREATE INDEX IF NOT EXISTS resumable_uploads_expires_at_idx ON storage_api.resumable_uploads (expires_at);
CREATE INDEX IF NOT EXISTS resumable_uploads_assembling_idx ON storage_api.resumable_uploads (created_at)
  WHERE completed_at IS NULL AND received = upload_length;

-- Internal state: no request role reads it. The service role (what the server acts as for its
-- own steps) marks an upload finished in the transaction that writes the object row.
REVOKE ALL ON SCHEMA storage_api FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA storage_api FROM PUBLIC;
GRANT USAGE ON SCHEMA storage_api TO service_role;
GRANT SELECT, UPDATE ON storage_api.resumable_uploads TO service_role;
