#!/usr/bin/env bash
# The cost of events: 4 KiB uploads per second under RLS (16 clients, file mode, release) with
# EVENTS_ENABLED=false and with events on and delivered to a local receiver, alternating in one
# run; then the delivery latency from the change's transaction (`applyTime`) to the receiver,
# p50/p99, under that load and for uploads one at a time; the CPU each upload cost the server,
# Postgres and the receiver in each configuration (the cores are shared, so that is where a cost
# shows); then how fast a backlog drains once the receiver is back (BACKLOG events written to the
# outbox while nothing was sent), at its start and at its end, which are equal when a claim costs
# the same behind any backlog.
#
#   Benchmarks/events.sh [seconds=20] [clients=16] [backlog=100000]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
source Benchmarks/lib.sh

bench_prepare 0
seconds=${1:-20}
clients=${2:-16}
backlog=${3:-100000}
bench_start_receiver
export EVENTS_ENABLED=false
bench_small_uploads_setup events_bench
trap 'kill "$server" "$receiver" 2>/dev/null || true; stop_postgres "$WORK/postgres"' EXIT

restart() { export EVENTS_ENABLED=$1 WEBHOOK_URL=$2; bench_restart_server; }
stats() { curl -fs "http://127.0.0.1:$receiver_port/stats"; }

read -r off1 off1_p50 off1_p99 off1_server off1_pg off1_receiver < <(bench_measure_small_uploads)
restart true "http://127.0.0.1:$receiver_port/hook"
read -r on1 on1_p50 on1_p99 on1_server on1_pg on1_receiver < <(bench_measure_small_uploads)
sleep 3
loaded=$(stats)
restart false ""
read -r off2 off2_p50 off2_p99 off2_server off2_pg off2_receiver < <(bench_measure_small_uploads)
restart true "http://127.0.0.1:$receiver_port/hook"
curl -fs -X POST "http://127.0.0.1:$receiver_port/reset"
read -r on2 on2_p50 on2_p99 on2_server on2_pg on2_receiver < <(bench_measure_small_uploads)
sleep 3
loaded2=$(stats)
# One upload at a time, 200 of them, 20 ms apart: latency without a queue in front.
curl -fs -X POST "http://127.0.0.1:$receiver_port/reset"
for i in $(seq 200); do
  curl -fs -o /dev/null -X POST "$base/object/small/idle/$i.bin" -H "Authorization: Bearer $token" --data-binary "x"
  sleep 0.02
done
sleep 2
idle=$(stats)
pending=$(psql "$DATABASE_URL" -Atc "select count(*) from storage_api.events where status <> 'delivered'")
events=$(psql "$DATABASE_URL" -Atc "select count(*) from storage_api.events")

# The backlog: copies of one recorded event under distinct keys, written while the server is down,
# as a receiver that was unreachable for a while would leave them (their attempts are not counted).
kill "$server"; wait "$server" 2>/dev/null || true
psql "$DATABASE_URL" -qc "insert into storage_api.events (id, type, bucket_id, name, order_key, event)
  select gen_random_uuid(), type, bucket_id, name || '-' || g, order_key || '-' || g, event
    from (select * from storage_api.events where name is not null limit 1) as one, generate_series(1, $backlog) as g" \
  -c "vacuum analyze storage_api.events"
curl -fs -X POST "http://127.0.0.1:$receiver_port/reset"
start_bench_server "$binary" "$WORK/server.log"
drain_started=$(seconds)
# Progress is read from the receiver (distinct events arrived), not by counting rows in Postgres:
# a count every 0.2 s would take the same cores and tables as the drain it measures.
drain_first='' drain_last=''
received() { stats | python3 -c "import json,sys; s=json.load(sys.stdin); print(s['count'] - s['duplicates'])"; }
while :; do
  arrived=$(received)
  now=$(seconds)
  if [ -z "$drain_first" ] && [ "$arrived" -ge $((backlog / 10)) ]; then drain_first=$now; fi
  if [ -z "$drain_last" ] && [ "$arrived" -ge $((backlog * 9 / 10)) ]; then drain_last=$now; fi
  [ "$arrived" -ge "$backlog" ] && break
  sleep 0.2
done
drain_ended=$(seconds)
drained=$(stats)
# Every arrival is also recorded as delivered (the last batch settles a moment later).
for _ in $(seq 50); do
  left=$(psql "$DATABASE_URL" -Atc "select count(*) from storage_api.events where status <> 'delivered'")
  [ "$left" = 0 ] && break
  sleep 0.2
done
per_second() { python3 -c "print(f'{$1 / ($3 - $2):.0f}')"; }

field() { python3 -c "import json,sys; v=json.loads(sys.argv[1])[sys.argv[2]]; print(f'{v:.1f}' if isinstance(v, float) else v)" "$1" "$2"; }
off=$(( (off1 + off2) / 2 )) on=$(( (on1 + on2) / 2 ))
cat <<TABLE
| 4 KiB uploads under RLS, $clients clients, ${seconds} s each ($(date -u +%Y-%m-%d), $(nproc) cores) | uploads/s (runs 1, 2) | p50 ms | p99 ms | ratio |
|---|---|---|---|---|
| EVENTS_ENABLED=false | $off ($off1, $off2) | $off1_p50, $off2_p50 | $off1_p99, $off2_p99 | 1.00 |
| events on, delivered to a local receiver meanwhile | $on ($on1, $on2) | $on1_p50, $on2_p50 | $on1_p99, $on2_p99 | $(ratio "$on" "$off") |

| CPU ms per upload, runs 1, 2 (from /proc, the second after each run included) | server | Postgres | receiver |
|---|---|---|---|
| EVENTS_ENABLED=false | $off1_server, $off2_server | $off1_pg, $off2_pg | – |
| events on, delivered meanwhile | $on1_server, $on2_server | $on1_pg, $on2_pg | $on1_receiver, $on2_receiver |

| delivery latency, applyTime → receiver | events | p50 ms | p99 ms | duplicates |
|---|---|---|---|---|
| under the load above (run 1) | $(field "$loaded" count) | $(field "$loaded" p50_ms) | $(field "$loaded" p99_ms) | $(field "$loaded" duplicates) |
| under the load above (run 2) | $(field "$loaded2" count) | $(field "$loaded2" p50_ms) | $(field "$loaded2" p99_ms) | $(field "$loaded2" duplicates) |
| one upload at a time (200, 20 ms apart) | $(field "$idle" count) | $(field "$idle" p50_ms) | $(field "$idle" p99_ms) | $(field "$idle" duplicates) |

Events written: $events; not delivered at the end: $pending.

| a backlog of $backlog events drained (receiver back, one replica) | seconds | events/s | duplicates |
|---|---|---|---|
| all of it, from the server's start | $(python3 -c "print(f'{$drain_ended - $drain_started:.1f}')") | $(per_second "$backlog" "$drain_started" "$drain_ended") | $(field "$drained" duplicates) |
| its first 10 % (the whole backlog behind each claim) | – | $(per_second "$((backlog / 10))" "$drain_started" "$drain_first") | – |
| its last 10 % | – | $(per_second "$((backlog / 10))" "$drain_last" "$drain_ended") | – |

Backlog events not recorded as delivered at the end: $left.
TABLE
