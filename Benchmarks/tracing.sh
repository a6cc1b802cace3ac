#!/usr/bin/env bash
# The cost of tracing: 4 KiB uploads per second under RLS (16 clients, file mode, release, events
# off so only tracing differs) with TRACING_ENABLED=false and with every request traced and its
# spans exported over OTLP/HTTP to a local endpoint, alternating in one run (off, on, off, on);
# the CPU each upload cost the server, Postgres and the endpoint; the spans' export volume.
#
#   Benchmarks/tracing.sh [seconds=20] [clients=16]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
source Benchmarks/lib.sh

bench_prepare 0
seconds=${1:-20}
clients=${2:-16}
bench_start_receiver
export EVENTS_ENABLED=false TRACING_ENABLED=false OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$receiver_port"
bench_small_uploads_setup tracing_bench
trap 'kill "$server" "$receiver" 2>/dev/null || true; stop_postgres "$WORK/postgres"' EXIT

restart() { export TRACING_ENABLED=$1; bench_restart_server; }
stats() { curl -fs "http://127.0.0.1:$receiver_port/stats"; }
field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }

read -r off1 off1_p50 off1_p99 off1_server off1_pg off1_receiver < <(bench_measure_small_uploads)
restart true
curl -fs -X POST "http://127.0.0.1:$receiver_port/reset"
read -r on1 on1_p50 on1_p99 on1_server on1_pg on1_receiver < <(bench_measure_small_uploads)
exported=$(stats)
restart false
read -r off2 off2_p50 off2_p99 off2_server off2_pg off2_receiver < <(bench_measure_small_uploads)
restart true
read -r on2 on2_p50 on2_p99 on2_server on2_pg on2_receiver < <(bench_measure_small_uploads)
errors=$(grep -ci "export.*fail\|error" "$WORK/server.log" || true)

off=$(( (off1 + off2) / 2 )) on=$(( (on1 + on2) / 2 ))
cat <<TABLE
| 4 KiB uploads under RLS, $clients clients, ${seconds} s each ($(date -u +%Y-%m-%d), $(nproc) cores) | uploads/s (runs 1, 2) | p50 ms | p99 ms | ratio |
|---|---|---|---|---|
| TRACING_ENABLED=false | $off ($off1, $off2) | $off1_p50, $off2_p50 | $off1_p99, $off2_p99 | 1.00 |
| traced, spans exported over OTLP/HTTP meanwhile | $on ($on1, $on2) | $on1_p50, $on2_p50 | $on1_p99, $on2_p99 | $(ratio "$on" "$off") |

| CPU ms per upload, runs 1, 2 (from /proc, the second after each run included) | server | Postgres | OTLP endpoint |
|---|---|---|---|
| TRACING_ENABLED=false | $off1_server, $off2_server | $off1_pg, $off2_pg | – |
| traced | $on1_server, $on2_server | $on1_pg, $on2_pg | $on1_receiver, $on2_receiver |

Traced run 1 exported $(field "$exported" exports) batches, $(( $(field "$exported" export_bytes) / 1024 )) KiB of spans; the server logged $errors export errors over both traced runs.
TABLE
