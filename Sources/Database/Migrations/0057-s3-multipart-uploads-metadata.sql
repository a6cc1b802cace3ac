alter table storage.s3_multipart_uploads add column if not exists metadata jsonb null;
