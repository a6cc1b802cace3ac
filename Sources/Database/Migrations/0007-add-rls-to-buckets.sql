alter table storage.buckets enable row level security;
