-- Leftovers of upstream's prefixes-table design, present only on databases it migrated.
drop trigger if exists prefixes_delete_hierarchy on storage.prefixes;
drop trigger if exists prefixes_create_hierarchy on storage.prefixes;
drop table if exists storage.prefixes cascade;
alter table storage.objects drop column if exists level;
drop function if exists storage.add_prefixes(text, text);
drop function if exists storage.delete_prefix(text, text);
drop function if exists storage.delete_prefix_hierarchy_trigger();
drop function if exists storage.prefixes_insert_trigger();
drop function if exists storage.objects_insert_prefix_trigger();
drop function if exists storage.objects_update_prefix_trigger();
drop function if exists storage.objects_update_level_trigger();
drop function if exists storage.objects_delete_cleanup();
drop function if exists storage.objects_update_cleanup();
drop function if exists storage.prefixes_delete_cleanup();
drop function if exists storage.lock_top_prefixes(text[], text[]);
drop function if exists storage.search_v1_optimised(text, text, integer, integer, integer, text, text, text);
