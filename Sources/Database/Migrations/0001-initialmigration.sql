-- Placeholder kept so migration ids match upstream's.
select 1;
