alter table storage.objects
  add column if not exists path_tokens text[] generated always as (string_to_array(name, '/')) stored;
