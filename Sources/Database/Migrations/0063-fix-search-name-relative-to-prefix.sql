-- List v1 (POST /object/list). Runs as the caller, so row-level security decides what is seen.
--
-- Sorted by name: one level below `prefix`, matched case-insensitively on prefix || search,
-- folders and files interleaved in lower(name) byte order. Folders are found by skip-scan over
-- (bucket_id, lower(name) COLLATE "C"). `offsets` counts folders and files alike.
-- Sorted by a timestamp: folders first (by name), then files by the column.
-- Names are relative to `prefix`; folder rows have every other column NULL. `levels` is unused.
drop function if exists storage.search(text, text, integer, integer, integer, text, text, text);
create function storage.search(
  prefix text, bucketname text, limits integer default 100, levels integer default 1,
  offsets integer default 0, search text default '', sortcolumn text default 'name',
  sortorder text default 'asc'
) returns table (
  name text, id uuid, updated_at timestamptz, created_at timestamptz, last_accessed_at timestamptz, metadata jsonb
) language plpgsql stable as $$
declare
  v_limit integer := least(coalesce(limits, 100), 1500);
  v_offset integer := greatest(coalesce(offsets, 0), 0);
  v_prefix text := coalesce(prefix, '');
  v_match text := lower(coalesce(prefix, '') || coalesce(search, ''));
  v_asc boolean := lower(coalesce(sortorder, 'asc')) = 'asc';
  v_direction text := case when lower(coalesce(sortorder, 'asc')) = 'asc' then 'asc' else 'desc' end;
  v_column text := lower(coalesce(sortcolumn, 'name'));
  v_upper text;
  v_bound_lower text;
  v_bound_name text;
  v_batch integer := least(greatest(least(coalesce(limits, 100), 1500) * 2, 100), 1000);
  v_seen integer := 0;
  v_rows integer;
  v_jumped boolean;
  v_position integer;
  v_common text;
  v_first_level integer;
  v_level integer;
  r record;
begin
  if v_limit < 1 then
    return;
  end if;
  if v_column not in ('name', 'updated_at', 'created_at', 'last_accessed_at') then
    v_column := 'name';
  end if;

  if v_column <> 'name' then
    -- The caller escapes LIKE wildcards in prefix and search for this path.
    v_first_level := coalesce(array_length(string_to_array(v_prefix, '/'), 1), 1);
    v_level := coalesce(array_length(string_to_array(v_prefix || coalesce(search, ''), '/'), 1), 1);
    return query execute format(
      $q$with folders as (
           select array_to_string(o.path_tokens[$1:$2], '/') as folder
             from storage.objects o
            where o.name ilike $3 || '%%' and o.bucket_id = $4 and array_length(o.path_tokens, 1) <> $2
            group by folder
            order by folder %s
         )
         (select f.folder, null::uuid, null::timestamptz, null::timestamptz, null::timestamptz, null::jsonb
            from folders f)
         union all
         (select array_to_string(o.path_tokens[$1:$2], '/'), o.id, o.updated_at, o.created_at,
                 o.last_accessed_at, o.metadata
            from storage.objects o
           where o.name ilike $3 || '%%' and o.bucket_id = $4 and array_length(o.path_tokens, 1) = $2
           order by %I %s)
         limit $5 offset $6$q$,
      v_direction, v_column, v_direction)
      using v_first_level, v_level, v_prefix || coalesce(search, ''), bucketname, v_limit, v_offset;
    return;
  end if;

  if v_match <> '' then
    v_upper := left(v_match, -1) || chr(ascii(right(v_match, 1)) + 1);
  end if;

  loop
    exit when v_seen >= v_offset + v_limit;
    v_rows := 0;
    v_jumped := false;
    for r in execute format(
      $q$select o.name, o.id, o.updated_at, o.created_at, o.last_accessed_at, o.metadata,
                lower(o.name) collate "C" as lower_name
           from storage.objects o
          where o.bucket_id = $1 and lower(o.name) collate "C" >= $2 %s %s
          order by lower(o.name) collate "C" %s, o.name collate "C" %s
          limit $6$q$,
      case when v_upper is null then '' else 'and lower(o.name) collate "C" < $3' end,
      case
        when v_bound_lower is null then ''
        when v_asc then 'and lower(o.name) collate "C" >= $4 and (lower(o.name) collate "C", o.name collate "C") > ($4, $5)'
        else 'and lower(o.name) collate "C" <= $4 and (lower(o.name) collate "C", o.name collate "C") < ($4, $5)'
      end,
      v_direction, v_direction)
      using bucketname, v_match, v_upper, v_bound_lower, v_bound_name, v_batch
    loop
      v_rows := v_rows + 1;
      v_position := position('/' in substring(r.lower_name from length(v_match) + 1));
      if v_position > 0 then
        v_common := left(r.name, length(v_match) + v_position);
        if v_seen >= v_offset then
          name := substring(rtrim(v_common, '/') from length(v_prefix) + 1);
          id := null;
          updated_at := null;
          created_at := null;
          last_accessed_at := null;
          metadata := null;
          return next;
        end if;
        v_seen := v_seen + 1;
        -- Jump over the whole folder: '0' is the byte after '/'.
        v_bound_lower := case when v_asc then lower(left(v_common, -1)) || '0' else lower(v_common) end;
        v_bound_name := '';
        v_jumped := true;
        exit;
      end if;
      if v_seen >= v_offset then
        name := substring(r.name from length(v_prefix) + 1);
        id := r.id;
        updated_at := r.updated_at;
        created_at := r.created_at;
        last_accessed_at := r.last_accessed_at;
        metadata := r.metadata;
        return next;
      end if;
      v_seen := v_seen + 1;
      v_bound_lower := r.lower_name;
      v_bound_name := r.name;
      exit when v_seen >= v_offset + v_limit;
    end loop;
    exit when not v_jumped and v_rows < v_batch;
  end loop;
end
$$;
