alter table storage.buckets add column if not exists versioning_status text not null default 'DISABLED';
alter table storage.buckets drop constraint if exists buckets_versioning_status_check;
alter table storage.buckets add constraint buckets_versioning_status_check
  check (versioning_status in ('DISABLED', 'ENABLED', 'SUSPENDED'));
alter table storage.buckets drop constraint if exists buckets_versioning_standard_only_check;
alter table storage.buckets add constraint buckets_versioning_standard_only_check
  check (type = 'STANDARD' or versioning_status = 'DISABLED');
-- Versioning is not switched on yet anywhere.
alter table storage.buckets drop constraint if exists buckets_versioning_dark_check;
alter table storage.buckets add constraint buckets_versioning_dark_check check (versioning_status = 'DISABLED');

alter table storage.objects add column if not exists archived_at timestamptz;
alter table storage.objects add column if not exists is_delete_marker boolean not null default false;
alter table storage.objects add column if not exists is_versioned boolean not null default false;
