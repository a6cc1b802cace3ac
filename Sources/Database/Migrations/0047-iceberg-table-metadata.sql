alter table storage.iceberg_namespaces add column if not exists metadata jsonb not null default '{}';
alter table storage.iceberg_tables add column if not exists remote_table_id text null;
alter table storage.iceberg_tables add column if not exists shard_key text null;
alter table storage.iceberg_tables add column if not exists shard_id text null;
