-- Upstream added the 8-argument search() here; the current definition is installed by 0063.
select 1;
