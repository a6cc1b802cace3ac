drop index if exists storage.objects_bucket_id_level_idx;
