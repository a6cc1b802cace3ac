drop function if exists storage.get_size_by_bucket();
create function storage.get_size_by_bucket() returns table (size bigint, bucket_id text)
language plpgsql stable as $$
begin
  return query
    select sum((o.metadata ->> 'size')::bigint)::bigint, o.bucket_id
    from storage.objects as o
    group by o.bucket_id;
end
$$;
