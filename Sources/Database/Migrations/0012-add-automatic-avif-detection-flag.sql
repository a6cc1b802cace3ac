alter table storage.buckets add column if not exists avif_autodetection boolean default false;
