#!/usr/bin/env bash
# 4 KiB uploads per second at 16 concurrent clients, as an authenticated user under RLS (release,
# file mode), against pgbench running the same SQL transactions (Benchmarks/small-uploads.pgbench.sql,
# captured from the server with log_statement = all) with 16 clients on the same Postgres, in the
# same run. The difference is what HTTP, JWT checks, the file write with fsync and the pool cost.
#
#   Benchmarks/small-uploads.sh [seconds=20] [clients=16]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
source Benchmarks/lib.sh

bench_prepare 0
seconds=${1:-20}
clients=${2:-16}

bench_small_uploads_setup small_uploads

# Warm-up (connections, caches), then the measured run.
python3 Benchmarks/small_uploads_client.py "$base" small "$token" "$clients" 3 4096 >/dev/null
server_json=$(python3 Benchmarks/small_uploads_client.py "$base" small "$token" "$clients" "$seconds" 4096)
read -r server_rate server_p50 server_p99 failures < <(python3 -c "import json,sys; r=json.loads(sys.argv[1]); print(f\"{r['per_second']:.0f} {r['p50_ms']:.1f} {r['p99_ms']:.1f} {r['failures']}\")" "$server_json")
[ "$failures" = 0 ] || die "uploads failed: $server_json"
stored=$(psql "$DATABASE_URL" -Atc "select count(*) from storage.objects where bucket_id = 'small'")

kill "$server"; wait "$server" 2>/dev/null || true; server=
claims="{\"role\":\"authenticated\",\"sub\":\"$user\"}"
pgbench_run() {
  rm -f "$WORK"/pgbench_log.*
  "$(postgres_bin)/pgbench" -n -M extended -c "$clients" -j 2 -T "$1" -f Benchmarks/small-uploads.pgbench.sql -l --log-prefix="$WORK/pgbench_log" \
    -D service_jwt="$SERVICE_KEY" -D user_jwt="$token" -D user_id="$user" -D user_claims="$claims" "$DATABASE_URL"
}
pgbench_run 3 >/dev/null
pgbench_out=$(pgbench_run "$seconds")
pgbench_rate=$(awk '/^tps = / {printf "%.0f", $3}' <<<"$pgbench_out")
read -r pgbench_p50 pgbench_p99 _ < <(pgbench_percentiles "$WORK"/pgbench_log.*)
grep -q "number of failed transactions: 0 " <<<"$pgbench_out" || die "pgbench transactions failed: $pgbench_out"

cat <<TABLE
| 4 KiB uploads, $clients clients, ${seconds} s ($(date -u +%Y-%m-%d), $(nproc) cores) | uploads/s | p50 ms | p99 ms | ratio |
|---|---|---|---|---|
| baseline: pgbench, the same SQL transactions (2 per upload), same Postgres | $pgbench_rate | $pgbench_p50 | $pgbench_p99 | 1.00 |
| storage-api: POST /object (authenticated, RLS insert policy, file backend with fsync) | $server_rate | $server_p50 | $server_p99 | $(ratio "$server_rate" "$pgbench_rate") |

Rows written by the server run: $stored (every upload answered 200).
TABLE
