-- Backend work that must happen even if the process doing it dies: bytes freed by a committed
-- row change (a delete, an overwrite, a move), and clean-ups a request could not finish because
-- the backend failed.
--
-- A row is written by the same transaction as the change that frees the bytes, so a crash
-- after COMMIT leaves the row and any replica's drainer removes the bytes later; a failed
-- COMMIT takes the row with it and the bytes stay, still referenced.
CREATE TABLE IF NOT EXISTS storage_api.backend_cleanups (
  id bigserial PRIMARY KEY,
  -- 'object': delete the key; 'prefix': delete everything under key + '/';
  -- 'failed-write': abort the key's multipart uploads, then delete it;
  -- 'multipart': abort the multipart upload upload_id of key.
  kind text NOT NULL CHECK (kind IN ('object', 'prefix', 'failed-write', 'multipart')),
  key text NOT NULL,
  upload_id text,
  -- When a drainer may take it: after the inline attempt's grace, or a retry's back-off.
  due_at timestamptz NOT NULL DEFAULT now(),
  -- Claims by drainers so far.
  attempts integer NOT NULL DEFAULT 0,
  last_error text,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS backend_cleanups_due_idx ON storage_api.backend_cleanups (due_at);
CREATE INDEX IF NOT EXISTS backend_cleanups_key_idx ON storage_api.backend_cleanups (key);

GRANT SELECT, INSERT, UPDATE, DELETE ON storage_api.backend_cleanups TO service_role;
GRANT USAGE ON SEQUENCE storage_api.backend_cleanups_id_seq TO service_role;
