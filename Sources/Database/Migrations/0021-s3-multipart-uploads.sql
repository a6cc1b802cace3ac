create table if not exists storage.s3_multipart_uploads (
  id text primary key,
  in_progress_size bigint not null default 0,
  upload_signature text not null,
  bucket_id text not null references storage.buckets (id),
  key text collate "C" not null,
  version text not null,
  owner_id text,
  created_at timestamptz not null default now()
);

create table if not exists storage.s3_multipart_uploads_parts (
  id uuid primary key default gen_random_uuid(),
  upload_id text not null references storage.s3_multipart_uploads (id) on delete cascade,
  size bigint not null default 0,
  part_number int not null,
  bucket_id text not null references storage.buckets (id),
  key text collate "C" not null,
  etag text not null,
  owner_id text,
  version text not null,
  created_at timestamptz not null default now()
);

create index if not exists idx_multipart_uploads_list
  on storage.s3_multipart_uploads (bucket_id, key collate "C", created_at asc);

alter table storage.s3_multipart_uploads enable row level security;
alter table storage.s3_multipart_uploads_parts enable row level security;

revoke all on storage.s3_multipart_uploads from anon, authenticated;
revoke all on storage.s3_multipart_uploads_parts from anon, authenticated;
grant all on storage.s3_multipart_uploads to service_role;
grant all on storage.s3_multipart_uploads_parts to service_role;
grant select on storage.s3_multipart_uploads to authenticated, anon;
grant select on storage.s3_multipart_uploads_parts to authenticated, anon;

-- Multipart uploads grouped S3-style by the delimiter (used by the S3 protocol surface).
create or replace function storage.list_multipart_uploads_with_delimiter(
  bucket_id text, prefix_param text, delimiter_param text, max_keys integer default 100,
  next_key_token text default '', next_upload_token text default ''
) returns table (key text, id text, created_at timestamptz)
language plpgsql as $$
begin
  return query
    with collapsed as (
      select
        case
          when position(delimiter_param in substring(u.key from length(prefix_param) + 1)) > 0
            then left(u.key, length(prefix_param) + position(delimiter_param in substring(u.key from length(prefix_param) + 1)))
          else u.key
        end as key,
        u.id,
        u.created_at
      from storage.s3_multipart_uploads u
      where u.bucket_id = list_multipart_uploads_with_delimiter.bucket_id
        and u.key ilike prefix_param || '%'
    )
    select distinct on (c.key collate "C") c.key, c.id, c.created_at
    from collapsed c
    where (next_key_token = '' or c.key collate "C" > next_key_token)
      and (next_upload_token = '' or c.id collate "C" > next_upload_token)
    order by c.key collate "C", c.created_at
    limit max_keys;
end
$$;
