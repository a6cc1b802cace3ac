-- The byte-order index the delimiter listing walks; the function itself is installed by 0050.
create index if not exists idx_objects_bucket_id_name on storage.objects (bucket_id, (name collate "C"));
