-- Upstream rewrote an early search() here; the current definition is installed by 0063.
select 1;
