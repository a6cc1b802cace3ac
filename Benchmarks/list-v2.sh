#!/usr/bin/env bash
# List-v2 page latency (p50/p99) on a bucket seeded with 1,000,000 object rows (release, an
# authenticated user under an RLS select policy), against the same SQL run by pgbench (one client,
# per-statement latencies logged) on the same Postgres, in the same run.
#
#   Benchmarks/list-v2.sh [pages-per-shape=300] [rows=1000000]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
source Benchmarks/lib.sh

bench_prepare 0
pages=${1:-300}
rows=${2:-1000000}

bench_user_setup list_v2 big

# Rows only (listing never reads the bytes): dir-000..099 / sub-00..99 / 100 files each.
log "seeding $rows object rows"
start=$(seconds)
psql "$DATABASE_URL" -q <<SQL
insert into storage.objects (bucket_id, name, owner_id, version, metadata, user_metadata)
select 'big', format('dir-%s/sub-%s/file-%s.bin', lpad((i % 100)::text, 3, '0'), lpad(((i / 100) % 100)::text, 2, '0'),
                     lpad(i::text, 7, '0')),
       '$user', gen_random_uuid()::text,
       jsonb_build_object('size', 4096, 'mimetype', 'application/octet-stream', 'eTag', '"' || md5(i::text) || '"'), '{}'
  from generate_series(0, $rows - 1) as i;
create policy big_select on storage.objects for select to authenticated using (bucket_id = 'big');
vacuum analyze storage.objects;
SQL
seeded=$(psql "$DATABASE_URL" -Atc "select count(*) from storage.objects where bucket_id = 'big'")
seed_seconds=$(python3 -c "print(f'{$(seconds) - $start:.0f}')")

client_json=$(python3 Benchmarks/list_v2_client.py "$base" big "$token" "$pages" "$rows")
kill "$server"; wait "$server" 2>/dev/null || true; server=

# The server's statements for the same shapes, as the same user (values from pgbench's random()).
claims="{\"role\":\"authenticated\",\"sub\":\"$user\"}"
become="SELECT set_config('role', 'authenticated', true), set_config('request.jwt.claims', :claims, true), set_config('request.jwt.claim.sub', :user_id, true);"
columns="key, name, id, updated_at, created_at, last_accessed_at, metadata"
flat="SELECT NULL::text, name, id, updated_at, created_at, last_accessed_at, metadata FROM storage.objects"
dir="'dir-' || lpad(:d::text, 3, '0') || '/'"
sub="$dir || 'sub-' || lpad(:s::text, 2, '0')"
# The prefixes are computed first (\gset) so the listing gets them as parameters, as from the server.
declare -A sql=(
  [1]="SELECT $columns FROM storage.search_v2('', 'big', 101, 1, '', 'asc', 'name', '');"
  [2]="SELECT $columns FROM storage.search_v2(:dir, 'big', 101, 2, '', 'asc', 'name', '');"
  [3]="SELECT $columns FROM storage.search_v2(:sub || '/', 'big', 101, 3, '', 'asc', 'name', '');"
  [4]="$flat WHERE bucket_id = 'big' AND name COLLATE \"C\" >= :dir AND name COLLATE \"C\" < :upper AND name COLLATE \"C\" LIKE :pattern ORDER BY name COLLATE \"C\" ASC LIMIT 1001;"
  [5]="$flat WHERE bucket_id = 'big' AND name COLLATE \"C\" > :sub ORDER BY name COLLATE \"C\" ASC LIMIT 1001;"
)
baseline=()
for shape in 1 2 3 4 5; do
  printf '\\set d random(0, 99)\n\\set s random(0, 99)\nSELECT %s AS dir, %s AS sub, %s AS pattern, %s AS upper \\gset\nBEGIN;\n%s\n%s\nCOMMIT;\n' \
    "$dir" "$sub" "$dir || '%'" "'dir-' || lpad(:d::text, 3, '0') || '0'" "$become" "${sql[$shape]}" > "$WORK/list-$shape.sql"
  rm -f "$WORK"/list_log.*
  "$(postgres_bin)/pgbench" -n -M extended -c 1 -t "$pages" -f "$WORK/list-$shape.sql" -l --log-prefix="$WORK/list_log" \
    -D claims="$claims" -D user_id="$user" "$DATABASE_URL" >/dev/null
  baseline+=("$(pgbench_percentiles "$WORK"/list_log.*)")
done

python3 - "$client_json" "$pages" "$seeded" "$seed_seconds" "${baseline[@]}" <<'PY'
import json, sys, datetime, os
shapes = json.loads(sys.argv[1]); pages, seeded, seed_seconds = sys.argv[2], sys.argv[3], sys.argv[4]
baseline = [tuple(map(float, b.split()[:2])) for b in sys.argv[5:]]
print(f"| list-v2 on {int(seeded):,} rows ({datetime.date.today()}, {os.cpu_count()} cores, {pages} pages per shape) "
      "| p50 ms | p99 ms | SQL alone (pgbench) p50 / p99 ms | p50 ratio |")
print("|---|---|---|---|---|")
for (name, result), (b50, b99) in zip(shapes.items(), baseline):
    print(f"| {name} | {result['p50_ms']:.2f} | {result['p99_ms']:.2f} | {b50:.2f} / {b99:.2f} | {result['p50_ms'] / b50:.2f} |")
print(f"\nSeeding {int(seeded):,} rows with one INSERT … SELECT took {seed_seconds} s. The SQL baseline is the transaction the "
      "server runs for the page (role and claims set, then the listing statement), one client, from pgbench's per-transaction log.")
PY
