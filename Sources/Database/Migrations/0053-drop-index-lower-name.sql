drop index if exists storage.idx_objects_lower_name;
