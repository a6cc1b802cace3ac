-- Upstream's prefixes-table design, later rolled back; recorded so ids match, nothing to do.
select 1;
