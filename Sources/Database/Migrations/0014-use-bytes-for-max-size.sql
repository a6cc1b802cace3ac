do $$
begin
  if exists (select 1 from information_schema.columns
             where table_schema = 'storage' and table_name = 'buckets' and column_name = 'max_file_size_kb') then
    if exists (select 1 from information_schema.columns
               where table_schema = 'storage' and table_name = 'buckets' and column_name = 'file_size_limit') then
      alter table storage.buckets drop column max_file_size_kb;
    else
      alter table storage.buckets rename column max_file_size_kb to file_size_limit;
    end if;
  end if;
end
$$;
alter table storage.buckets add column if not exists file_size_limit bigint default null;
alter table storage.buckets alter column file_size_limit type bigint;
