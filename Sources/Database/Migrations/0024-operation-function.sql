-- The operation id of the current request (e.g. storage.object.upload), for policies.
create or replace function storage.operation() returns text
language plpgsql stable as $$
begin
  return current_setting('storage.operation', true);
end
$$;
