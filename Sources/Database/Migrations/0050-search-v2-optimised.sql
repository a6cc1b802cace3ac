-- Listing by skip-scan over the (bucket_id, name COLLATE "C") index: each folder costs one index
-- probe however many objects it holds, so listing a bucket of millions of keys stays fast.

-- The part of p_key up to and including the first delimiter after p_prefix, or NULL for a leaf.
create or replace function storage.get_common_prefix(p_key text, p_prefix text, p_delimiter text)
returns text language sql immutable as $$
  select case
    when position(p_delimiter in substring(p_key from length(p_prefix) + 1)) > 0
      then left(p_key, length(p_prefix) + position(p_delimiter in substring(p_key from length(p_prefix) + 1)))
  end
$$;

-- Older overloads of upstream's prefix-table era.
drop function if exists storage.search(text, text, integer, integer, integer);
drop function if exists storage.search_v2(text, text, integer, integer, text);
drop function if exists storage.list_objects_with_delimiter(text, text, text, integer, text, text);
drop trigger if exists objects_insert_create_prefix on storage.objects;
drop trigger if exists objects_update_create_prefix on storage.objects;
drop trigger if exists objects_delete_delete_prefix on storage.objects;
drop trigger if exists objects_update_level_trigger on storage.objects;
drop trigger if exists objects_update_prefix_trigger on storage.objects;

-- S3-style listing: keys under prefix_param, with everything below the next delimiter collapsed
-- into one "common prefix" row (id NULL, name without the trailing delimiter).
-- The cursor (next_token, else start_after) is exclusive; a cursor ending in the delimiter names
-- a folder and skips everything under it.
create or replace function storage.list_objects_with_delimiter(
  _bucket_id text, prefix_param text, delimiter_param text, max_keys integer default 100,
  start_after text default '', next_token text default '', sort_order text default 'asc'
) returns table (
  name text, id uuid, metadata jsonb, updated_at timestamptz, created_at timestamptz, last_accessed_at timestamptz
) language plpgsql stable as $$
declare
  v_asc boolean := lower(coalesce(sort_order, 'asc')) = 'asc';
  v_prefix text := coalesce(prefix_param, '');
  v_delimiter text := coalesce(nullif(delimiter_param, ''), '/');
  v_start text := coalesce(nullif(next_token, ''), start_after, '');
  v_upper text;
  v_bound text;
  v_bound_inclusive boolean := false;
  v_batch integer := least(greatest(coalesce(max_keys, 100) * 2, 100), 1000);
  v_emitted integer := 0;
  v_rows integer;
  v_jumped boolean;
  v_common text;
  r record;
begin
  if coalesce(max_keys, 0) < 1 then
    return;
  end if;
  if v_prefix <> '' then
    v_upper := left(v_prefix, -1) || chr(ascii(right(v_prefix, 1)) + 1);
  end if;
  if v_start <> '' then
    if v_asc and right(v_start, length(v_delimiter)) = v_delimiter then
      v_bound := left(v_start, -1) || chr(ascii(right(v_start, 1)) + 1);
      v_bound_inclusive := true;
    else
      v_bound := v_start;
    end if;
  end if;

  loop
    exit when v_emitted >= max_keys;
    v_rows := 0;
    v_jumped := false;
    for r in execute format(
      $q$select o.name, o.id, o.metadata, o.updated_at, o.created_at, o.last_accessed_at
           from storage.objects o
          where o.bucket_id = $1 and o.name collate "C" >= $2 %s %s
          order by o.name collate "C" %s
          limit $5$q$,
      case when v_upper is null then '' else 'and o.name collate "C" < $3' end,
      case
        when v_bound is null then ''
        when v_asc and v_bound_inclusive then 'and o.name collate "C" >= $4'
        when v_asc then 'and o.name collate "C" > $4'
        else 'and o.name collate "C" < $4'
      end,
      case when v_asc then 'asc' else 'desc' end)
      using _bucket_id, v_prefix, v_upper, v_bound, v_batch
    loop
      v_rows := v_rows + 1;
      v_common := storage.get_common_prefix(r.name, v_prefix, v_delimiter);
      if v_common is not null then
        name := rtrim(v_common, v_delimiter);
        id := null;
        metadata := null;
        updated_at := null;
        created_at := null;
        last_accessed_at := null;
        return next;
        v_emitted := v_emitted + 1;
        if v_asc then
          v_bound := left(v_common, -1) || chr(ascii(right(v_common, 1)) + 1);
          v_bound_inclusive := true;
        else
          v_bound := v_common;
        end if;
        v_jumped := true;
        exit;
      end if;
      name := r.name;
      id := r.id;
      metadata := r.metadata;
      updated_at := r.updated_at;
      created_at := r.created_at;
      last_accessed_at := r.last_accessed_at;
      return next;
      v_emitted := v_emitted + 1;
      v_bound := r.name;
      v_bound_inclusive := false;
      exit when v_emitted >= max_keys;
    end loop;
    exit when not v_jumped and v_rows < v_batch;
  end loop;
end
$$;

-- Delimiter listing ordered by a timestamp: folders carry the earliest created_at beneath them.
create or replace function storage.search_by_timestamp(
  p_prefix text, p_bucket_id text, p_limit integer, p_level integer, p_start_after text,
  p_sort_order text, p_sort_column text, p_sort_column_after text
) returns table (
  key text, name text, id uuid, updated_at timestamptz, created_at timestamptz,
  last_accessed_at timestamptz, metadata jsonb
) language plpgsql stable as $$
declare
  v_prefix text := coalesce(p_prefix, '');
  v_upper text;
  v_desc boolean := lower(coalesce(p_sort_order, 'asc')) = 'desc';
  v_column text := case when lower(p_sort_column) = 'updated_at' then 'updated_at' else 'created_at' end;
begin
  if v_prefix <> '' then
    v_upper := left(v_prefix, -1) || chr(ascii(right(v_prefix, 1)) + 1);
  end if;
  return query execute format(
    $q$with entries as (
         select o.name, o.id, o.updated_at, o.created_at, o.last_accessed_at, o.metadata,
                storage.get_common_prefix(o.name, $1, '/') as common_prefix
           from storage.objects o
          where o.bucket_id = $2 and o.name collate "C" >= $1 %s
       ),
       combined as (
         select rtrim(e.common_prefix, '/') as name, null::uuid as id,
                min(e.created_at) as updated_at, min(e.created_at) as created_at,
                null::timestamptz as last_accessed_at, null::jsonb as metadata
           from entries e where e.common_prefix is not null group by e.common_prefix
         union all
         select e.name, e.id, e.updated_at, e.created_at, e.last_accessed_at, e.metadata
           from entries e where e.common_prefix is null
       )
       select split_part(c.name, '/', $3), c.name, c.id, c.updated_at, c.created_at, c.last_accessed_at, c.metadata
         from combined c
        where $4 = '' or (date_trunc('milliseconds', c.%I), c.name collate "C") %s
              (coalesce(nullif($5, '')::timestamptz, 'epoch'::timestamptz), $4)
        order by coalesce(date_trunc('milliseconds', c.%I), 'epoch'::timestamptz) %s, c.name collate "C" %s
        limit $6$q$,
    case when v_upper is null then '' else 'and o.name collate "C" < $7' end,
    v_column, case when v_desc then '<' else '>' end,
    v_column, case when v_desc then 'desc' else 'asc' end, case when v_desc then 'desc' else 'asc' end)
    using v_prefix, p_bucket_id, p_level, coalesce(p_start_after, ''), coalesce(p_sort_column_after, ''),
          p_limit, v_upper;
end
$$;

-- List v2 with the '/' delimiter; `key` is the path segment at depth `levels`.
create or replace function storage.search_v2(
  prefix text, bucket_name text, limits integer default 100, levels integer default 1,
  start_after text default '', sort_order text default 'asc', sort_column text default 'name',
  sort_column_after text default ''
) returns table (
  key text, name text, id uuid, updated_at timestamptz, created_at timestamptz,
  last_accessed_at timestamptz, metadata jsonb
) language plpgsql stable as $$
declare
  v_limit integer := least(coalesce(limits, 100), 1500);
  v_order text := case when lower(coalesce(sort_order, 'asc')) = 'desc' then 'desc' else 'asc' end;
  v_column text := case when lower(coalesce(sort_column, 'name')) in ('updated_at', 'created_at')
                        then lower(sort_column) else 'name' end;
begin
  if v_column = 'name' then
    return query
      select split_part(l.name, '/', levels), l.name, l.id, l.updated_at, l.created_at, l.last_accessed_at, l.metadata
        from storage.list_objects_with_delimiter(bucket_name, coalesce(prefix, ''), '/', v_limit,
                                                 coalesce(start_after, ''), '', v_order) l;
  else
    return query
      select * from storage.search_by_timestamp(prefix, bucket_name, v_limit, levels, start_after,
                                                v_order, v_column, sort_column_after);
  end if;
end
$$;
