-- Who created a resumable upload: only they (or the service role) may reach it afterwards.
-- A JWT caller is known by its `sub`, or by its role when the token has none; an upload made
-- through a signed upload token (`/upload/resumable/sign`) is reached only through that route.
ALTER TABLE storage_api.resumable_uploads ADD COLUMN IF NOT EXISTS creator_sub text;
ALTER TABLE storage_api.resumable_uploads ADD COLUMN IF NOT EXISTS creator_role text;
ALTER TABLE storage_api.resumable_uploads ADD COLUMN IF NOT EXISTS created_signed boolean NOT NULL DEFAULT false;
