-- Policy helpers: compare the current operation with one or several expected ids, ignoring a
-- leading 'storage.' on either side. Empty or NULL expectations never match.
create or replace function storage.allow_only_operation(expected_operation text) returns boolean
language sql stable as $$
  with normalised as (
    select
      case when storage.operation() like 'storage.%' then substr(storage.operation(), 9)
           else storage.operation() end as current_operation,
      case when expected_operation like 'storage.%' then substr(expected_operation, 9)
           else expected_operation end as expected
  )
  select case
    when expected is null or expected = '' then false
    else coalesce(current_operation = expected, false)
  end
  from normalised
$$;

create or replace function storage.allow_any_operation(expected_operations text[]) returns boolean
language sql stable as $$
  select coalesce(exists (
    select 1
      from unnest(expected_operations) as candidate(value)
     where candidate.value is not null and candidate.value <> ''
       and (case when candidate.value like 'storage.%' then substr(candidate.value, 9) else candidate.value end)
         = (case when storage.operation() like 'storage.%' then substr(storage.operation(), 9)
                 else storage.operation() end)
  ), false)
$$;
