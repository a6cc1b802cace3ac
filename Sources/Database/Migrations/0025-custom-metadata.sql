alter table storage.objects add column if not exists user_metadata jsonb null;
alter table storage.s3_multipart_uploads add column if not exists user_metadata jsonb null;
