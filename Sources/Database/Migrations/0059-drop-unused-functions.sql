drop function if exists storage.delete_leaf_prefixes(text[], text[]);
drop function if exists storage.get_level(text);
drop function if exists storage.get_prefixes(text);
drop function if exists storage.get_prefix(text);
drop function if exists storage.search_legacy_v1(text, text, integer, integer, integer, text, text, text);
