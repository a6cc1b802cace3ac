-- The SQL storage-api runs for one 4 KiB upload by an authenticated user under RLS (captured with
-- log_statement = all), for pgbench: the bucket lookup and the rolled-back RLS probe insert as the
-- caller, then the row written as the service role under the per-key advisory lock. Run with
-- `-M extended` (the server's protocol: variables become parameters) and -D service_jwt, user_jwt,
-- user_id, user_claims.
\set n random(1, 2000000000)
BEGIN;
SELECT set_config('role', 'service_role', true), set_config('request.jwt.claim.role', 'service_role', true),
       set_config('request.jwt', :service_jwt, true), set_config('request.jwt.claim.sub', '', true),
       set_config('request.jwt.claims', '{"role":"service_role"}', true), set_config('request.headers', '{"content-type":"application/octet-stream"}', true),
       set_config('request.method', 'POST', true), set_config('request.path', '/object/small/p/x.bin', true),
       set_config('storage.operation', 'storage.object.upload', true), set_config('storage.allow_delete_query', 'true', true);
SELECT id, name, owner::text, owner_id, coalesce(public, false), type::text, file_size_limit,
       array_remove(allowed_mime_types, NULL), created_at, updated_at FROM storage.buckets WHERE id = 'small' LIMIT 1;
SELECT set_config('role', 'authenticated', true), set_config('request.jwt.claim.role', 'authenticated', true),
       set_config('request.jwt', :user_jwt, true), set_config('request.jwt.claim.sub', :user_id, true),
       set_config('request.jwt.claims', :user_claims, true), set_config('request.headers', '{"content-type":"application/octet-stream"}', true),
       set_config('request.method', 'POST', true), set_config('request.path', '/object/small/p/x.bin', true),
       set_config('storage.operation', 'storage.object.upload', true), set_config('storage.allow_delete_query', 'true', true);
INSERT INTO storage.objects (bucket_id, name, owner, owner_id, metadata, user_metadata, version)
VALUES ('small', 'pgbench/' || :client_id || '/' || :n || '.bin', :user_id::uuid, :user_id,
        '{"mimetype": "application/octet-stream", "contentLength": 4096}', NULL, '1');
ROLLBACK;
BEGIN;
SELECT set_config('role', 'service_role', true), set_config('request.jwt.claim.role', 'service_role', true),
       set_config('request.jwt', :service_jwt, true), set_config('request.jwt.claim.sub', '', true),
       set_config('request.jwt.claims', '{"role":"service_role"}', true), set_config('request.headers', '{"content-type":"application/octet-stream"}', true),
       set_config('request.method', 'POST', true), set_config('request.path', '/object/small/p/x.bin', true),
       set_config('storage.operation', 'storage.object.upload', true), set_config('storage.allow_delete_query', 'true', true);
SELECT set_config('lock_timeout', '5000ms', true), pg_advisory_xact_lock(hashtext('small/pgbench/' || :client_id || '/' || :n));
SELECT id, bucket_id, name, owner::text, owner_id, version, created_at, updated_at, last_accessed_at, metadata, user_metadata
  FROM storage.objects WHERE bucket_id = 'small' AND name = 'pgbench/' || :client_id || '/' || :n || '.bin' LIMIT 1 FOR UPDATE;
INSERT INTO storage.objects (bucket_id, name, owner, owner_id, metadata, user_metadata, version)
VALUES ('small', 'pgbench/' || :client_id || '/' || :n || '.bin', :user_id::uuid, :user_id,
        '{"eTag": "\"0f343b0931126a20f133d67c2b018a3b\"", "size": 4096, "mimetype": "application/octet-stream", "cacheControl": "no-cache", "lastModified": "2026-11-22T02:10:00.813Z", "contentLength": 4096, "httpStatusCode": 200}',
        '{}', gen_random_uuid()::text)
ON CONFLICT (name, bucket_id) DO UPDATE SET
  metadata = EXCLUDED.metadata, user_metadata = EXCLUDED.user_metadata, version = EXCLUDED.version, owner = EXCLUDED.owner, owner_id = EXCLUDED.owner_id
RETURNING id, bucket_id, name, owner::text, owner_id, version, created_at, updated_at, last_accessed_at, metadata, user_metadata;
COMMIT;
