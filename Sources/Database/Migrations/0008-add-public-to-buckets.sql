alter table storage.buckets add column if not exists public boolean default false;
