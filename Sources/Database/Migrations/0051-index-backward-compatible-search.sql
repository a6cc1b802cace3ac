-- The index list v1 walks: case-insensitive, byte-ordered.
create index if not exists idx_objects_bucket_id_name_lower on storage.objects (bucket_id, (lower(name) collate "C"));
