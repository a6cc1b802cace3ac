alter table storage.s3_multipart_uploads alter column in_progress_size type bigint;
alter table storage.s3_multipart_uploads_parts alter column size type bigint;
