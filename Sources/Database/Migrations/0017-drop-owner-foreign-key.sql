alter table storage.objects drop constraint if exists objects_owner_fkey;
