alter table storage.objects alter column id set default gen_random_uuid();
