do $$
begin
  if not exists (select 1 from pg_type t join pg_namespace n on n.oid = t.typnamespace
                 where n.nspname = 'storage' and t.typname = 'buckettype') then
    create type storage.buckettype as enum ('STANDARD', 'ANALYTICS');
  end if;
end
$$;

alter table storage.buckets drop column if exists iceberg_catalog;
alter table storage.buckets add column if not exists type storage.buckettype not null default 'STANDARD';

create table if not exists storage.buckets_analytics (
  id text not null primary key,
  type storage.buckettype not null default 'ANALYTICS',
  format text not null default 'ICEBERG',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
alter table storage.buckets_analytics enable row level security;
grant all on storage.buckets_analytics to service_role, authenticated, anon;

create table if not exists storage.iceberg_namespaces (
  id uuid primary key default gen_random_uuid(),
  bucket_id text not null references storage.buckets_analytics (id) on delete cascade,
  name text collate "C" not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create unique index if not exists idx_iceberg_namespaces_bucket_id on storage.iceberg_namespaces (bucket_id, name);

create table if not exists storage.iceberg_tables (
  id uuid primary key default gen_random_uuid(),
  namespace_id uuid not null references storage.iceberg_namespaces (id) on delete cascade,
  bucket_id text not null references storage.buckets_analytics (id) on delete cascade,
  name text collate "C" not null,
  location text not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create unique index if not exists idx_iceberg_tables_namespace_id on storage.iceberg_tables (namespace_id, name);

alter table storage.iceberg_namespaces enable row level security;
alter table storage.iceberg_tables enable row level security;
revoke all on storage.iceberg_namespaces from anon, authenticated;
revoke all on storage.iceberg_tables from anon, authenticated;
grant all on storage.iceberg_namespaces to service_role;
grant all on storage.iceberg_tables to service_role;
grant select on storage.iceberg_namespaces to authenticated, anon;
grant select on storage.iceberg_tables to authenticated, anon;
