-- Upstream fixed folder-name casing in search() here; the current definition is installed by 0063.
select 1;
