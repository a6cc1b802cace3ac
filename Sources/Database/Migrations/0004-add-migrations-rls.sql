alter table storage.migrations enable row level security;
