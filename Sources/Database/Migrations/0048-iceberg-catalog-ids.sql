-- Analytics catalogs get uuid ids; names become unique among live (not deleted) catalogs.
do $$
begin
  if exists (select 1 from information_schema.columns
             where table_schema = 'storage' and table_name = 'buckets_analytics' and column_name = 'id'
               and data_type = 'text') then
    alter table storage.iceberg_namespaces drop constraint if exists iceberg_namespaces_bucket_id_fkey;
    alter table storage.iceberg_tables drop constraint if exists iceberg_tables_bucket_id_fkey;
    alter table storage.buckets_analytics drop constraint if exists buckets_analytics_pkey;
    alter table storage.buckets_analytics rename column id to name;
    alter table storage.buckets_analytics add column id uuid not null default gen_random_uuid() primary key;
    alter table storage.buckets_analytics add column if not exists deleted_at timestamptz null;

    alter table storage.iceberg_namespaces rename column bucket_id to bucket_name;
    alter table storage.iceberg_namespaces add column catalog_id uuid;
    update storage.iceberg_namespaces ns set catalog_id = c.id
      from storage.buckets_analytics c where c.name = ns.bucket_name;
    alter table storage.iceberg_namespaces alter column catalog_id set not null;
    alter table storage.iceberg_namespaces
      add constraint iceberg_namespaces_catalog_id_fkey foreign key (catalog_id)
      references storage.buckets_analytics (id) on delete cascade;
    drop index if exists storage.idx_iceberg_namespaces_bucket_id;
    create unique index idx_iceberg_namespaces_bucket_id on storage.iceberg_namespaces (catalog_id, name);

    alter table storage.iceberg_tables rename column bucket_id to bucket_name;
    alter table storage.iceberg_tables add column catalog_id uuid;
    update storage.iceberg_tables t set catalog_id = c.id
      from storage.buckets_analytics c where c.name = t.bucket_name;
    alter table storage.iceberg_tables alter column catalog_id set not null;
    alter table storage.iceberg_tables
      add constraint iceberg_tables_catalog_id_fkey foreign key (catalog_id)
      references storage.buckets_analytics (id) on delete cascade;
    drop index if exists storage.idx_iceberg_tables_namespace_id;
    create unique index idx_iceberg_tables_namespace_id on storage.iceberg_tables (catalog_id, namespace_id, name);
    create unique index if not exists idx_iceberg_tables_location on storage.iceberg_tables (location);
  end if;
end
$$;
create unique index if not exists buckets_analytics_unique_name_idx
  on storage.buckets_analytics (name) where deleted_at is null;
