alter table storage.buckets add column if not exists allowed_mime_types text[] default null;
-- The size limit column is created as file_size_limit (bytes) by 0014.
