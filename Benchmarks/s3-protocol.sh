#!/usr/bin/env bash
# The S3 protocol endpoint: a 1 GiB `aws s3 cp` up and down through /s3 (release, STORAGE_MODE=
# self-hosted) against the same commands straight to the same SeaweedFS, in one run, with the
# server's peak RSS; then ListObjectsV2 pages of 1000 on a bucket of 1,000,000 rows against the
# same SQL through pgbench.
#
#   Benchmarks/s3-protocol.sh [size-in-MiB=1024] [rows=1000000] [pages=200]
#
# Needs the test environment's SeaweedFS and AWS CLI (scripts/test installs both into .build-test/venv).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
source Benchmarks/lib.sh

bench_prepare "${1:-1024}"
rows=${2:-1000000}
pages=${3:-200}
aws_cli=${AWS_CLI:-$PWD/.build-test/venv/bin/aws}
[ -x "$aws_cli" ] || die "the AWS CLI is missing: run scripts/test once (it installs it into .build-test/venv)"

export DATABASE_URL
DATABASE_URL=$(bench_database "$WORK" s3_protocol)
bench_seaweedfs
trap 'kill "$server" 2>/dev/null || true; stop_seaweedfs "$WORK/seaweedfs"; stop_postgres "$WORK/postgres"' EXIT

export AUTH_JWT_SECRET=benchmark-secret-with-at-least-thirty-two-bytes LOG_LEVEL=warning
export STORAGE_MODE=self-hosted S3_ENDPOINT=$endpoint S3_BUCKET=bench-api S3_ACCESS_KEY=$access S3_SECRET_KEY=$secret
export UPLOAD_FILE_SIZE_LIMIT=$((4 * 1024 * 1024 * 1024))
export S3_PROTOCOL_ACCESS_KEY_ID=bench-protocol S3_PROTOCOL_ACCESS_KEY_SECRET="bench-protocol-secret/$RANDOM"
start_bench_server "$binary" "$WORK/server.log"
eval "$("$binary" keys)"
s3_url="http://127.0.0.1:$PORT/s3"

# One AWS CLI configuration for both sides (path-style, its default 8 MiB parts and 10 threads).
printf '[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n' > "$WORK/aws-config"
export AWS_CONFIG_FILE=$WORK/aws-config AWS_SHARED_CREDENTIALS_FILE=$WORK/no-credentials
unset AWS_CA_BUNDLE
api_aws() { AWS_ACCESS_KEY_ID=$S3_PROTOCOL_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$S3_PROTOCOL_ACCESS_KEY_SECRET \
  "$aws_cli" --endpoint-url "$s3_url" "$@"; }
direct_aws() { AWS_ACCESS_KEY_ID=$access AWS_SECRET_ACCESS_KEY=$secret "$aws_cli" --endpoint-url "$endpoint" "$@"; }

source_file=$(bench_source "$WORK" "$size_mib")
source_md5=$(md5sum "$source_file" | cut -d' ' -f1)
api_aws s3 mb s3://bench >/dev/null
direct_aws s3 mb s3://bench-direct >/dev/null
# Warm-up: both paths once with a small file.
head -c 1048576 "$source_file" > "$WORK/warmup.bin"
api_aws s3 cp --quiet "$WORK/warmup.bin" s3://bench/warmup.bin
direct_aws s3 cp --quiet "$WORK/warmup.bin" s3://bench-direct/warmup.bin
api_aws s3 cp --quiet s3://bench/warmup.bin "$WORK/warmup.back"
idle=$(rss_kib VmRSS)

timed() { local start end; sync; start=$(seconds); "$@"; end=$(seconds); timed_rate=$(rate "$start" "$end"); }
rm -f "$WORK/down.bin"
timed direct_aws s3 cp --quiet "$source_file" s3://bench-direct/big.bin; direct_up=$timed_rate
measure api_aws s3 cp --quiet "$source_file" s3://bench/big.bin; api_up=$measured_rate api_up_peak=$measured_peak
timed direct_aws s3 cp --quiet s3://bench-direct/big.bin "$WORK/down.bin"; direct_down=$timed_rate
rm -f "$WORK/down.bin"
measure api_aws s3 cp --quiet s3://bench/big.bin "$WORK/down.bin"; api_down=$measured_rate api_down_peak=$measured_peak
[ "$(md5sum "$WORK/down.bin" | cut -d' ' -f1)" = "$source_md5" ] || die "the /s3 download differs"
rm -f "$WORK/down.bin"
# The same upload again, after the download: the first one's order must not favour either side.
measure api_aws s3 cp --quiet "$source_file" s3://bench/big2.bin; api_up2=$measured_rate
timed direct_aws s3 cp --quiet "$source_file" s3://bench-direct/big2.bin; direct_up2=$timed_rate

cat <<TABLE
| aws s3 cp ($size_mib MiB, $(date -u +%Y-%m-%d), $(nproc) cores, SeaweedFS 4.48, AWS CLI $("$aws_cli" --version 2>&1 | awk '{print $1}' | cut -d/ -f2)) | MiB/s | ratio to direct | server peak RSS MiB (idle $(mib "$idle")) |
|---|---|---|---|
| upload straight to SeaweedFS (first, then after the downloads) | $direct_up, $direct_up2 | 1.00 | – |
| upload through /s3 (8 MiB parts streamed to SeaweedFS's multipart) | $api_up, $api_up2 | $(ratio "$api_up" "$direct_up"), $(ratio "$api_up2" "$direct_up2") | $(mib "$api_up_peak") |
| download straight from SeaweedFS (ranged GETs, 10 threads) | $direct_down | 1.00 | – |
| download through /s3 | $api_down | $(ratio "$api_down" "$direct_down") | $(mib "$api_down_peak") |

TABLE
log "bytes verified: md5 $source_md5 through /s3 and back"

# ListObjectsV2 on $rows rows (rows only: listing never reads the bytes).
log "seeding $rows object rows"
psql "$DATABASE_URL" -q <<SQL
insert into storage.buckets (id, name) values ('big', 'big');
insert into storage.objects (bucket_id, name, version, metadata, user_metadata)
select 'big', format('dir-%s/sub-%s/file-%s.bin', lpad((i % 100)::text, 3, '0'), lpad(((i / 100) % 100)::text, 2, '0'),
                     lpad(i::text, 7, '0')),
       gen_random_uuid()::text,
       jsonb_build_object('size', 4096, 'mimetype', 'application/octet-stream', 'eTag', '"' || md5(i::text) || '"',
                          'lastModified', '2026-01-01T00:00:00.000Z'), '{}'
  from generate_series(0, $rows - 1) as i;
vacuum analyze storage.objects;
SQL
client=$(AWS_ACCESS_KEY_ID=$S3_PROTOCOL_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$S3_PROTOCOL_ACCESS_KEY_SECRET \
  "$(dirname "$aws_cli")/python" - "$s3_url" "$pages" <<'PY'
import random, sys, time
import boto3
from botocore.config import Config
# boto3 as users call it, timed from sending the request to the last byte of its XML (botocore's
# before-send and before-parse events): the server's page without the client's parsing, which for
# 1000 entries takes longer than the page itself.
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))
marks = {}
s3.meta.events.register("before-send.s3.ListObjectsV2", lambda **_: marks.__setitem__("sent", time.perf_counter()))
s3.meta.events.register("before-parse.s3.ListObjectsV2", lambda **_: marks.__setitem__("read", time.perf_counter()))
pages = int(sys.argv[2])
random.seed(7)
def run(shape):
    times = []
    for _ in range(pages):
        d, s = random.randrange(100), random.randrange(100)
        if shape == "flat":
            page = s3.list_objects_v2(Bucket="big", StartAfter=f"dir-{d:03d}/sub-{s:02d}", MaxKeys=1000)
            assert 0 < page["KeyCount"] <= 1000, page["KeyCount"]
        else:
            page = s3.list_objects_v2(Bucket="big", Prefix=f"dir-{d:03d}/", Delimiter="/", MaxKeys=1000)
            assert page.get("CommonPrefixes"), page
        times.append((marks["read"] - marks["sent"]) * 1000)
    times.sort()
    return f"{times[len(times) // 2]:.2f} {times[min(len(times) - 1, int(len(times) * 0.99))]:.2f}"
run("flat")  # warm-up
print(run("flat"), run("delimited"))
PY
)
read -r flat50 flat99 delim50 delim99 <<< "$client"
kill "$server"; wait "$server" 2>/dev/null || true; server=

# The server's statements for each page, as pgbench runs them (service role: bucket check, then the page).
become="SELECT set_config('role', 'service_role', true);"
bucket_check="SELECT id FROM storage.buckets WHERE id = 'big';"
flat_sql="SELECT NULL::text, name, id, updated_at, created_at, last_accessed_at, metadata FROM storage.objects WHERE bucket_id = 'big' AND name COLLATE \"C\" > :start ORDER BY name COLLATE \"C\" ASC LIMIT 1001;"
delim_sql="SELECT NULL::text, name, id, updated_at, created_at, last_accessed_at, metadata FROM storage.list_objects_with_delimiter('big', :prefix, '/', 1001, '', '', 'asc');"
baseline=()
for shape in flat delimited; do
  statement=$flat_sql; [ "$shape" = delimited ] && statement=$delim_sql
  printf '\\set d random(0, 99)\n\\set s random(0, 99)\nSELECT %s AS start, %s AS prefix \\gset\nBEGIN;\n%s\n%s\n%s\nCOMMIT;\n' \
    "'dir-' || lpad(:d::text, 3, '0') || '/sub-' || lpad(:s::text, 2, '0')" "'dir-' || lpad(:d::text, 3, '0') || '/'" \
    "$become" "$bucket_check" "$statement" > "$WORK/s3-list-$shape.sql"
  rm -f "$WORK"/s3_list_log.*
  "$(postgres_bin)/pgbench" -n -M extended -c 1 -t "$pages" -f "$WORK/s3-list-$shape.sql" -l --log-prefix="$WORK/s3_list_log" \
    "$DATABASE_URL" >/dev/null
  baseline+=("$(pgbench_percentiles "$WORK"/s3_list_log.*)")
done
read -r base_flat50 base_flat99 _ <<< "${baseline[0]}"
read -r base_delim50 base_delim99 _ <<< "${baseline[1]}"

cat <<TABLE
| ListObjectsV2 on $rows rows (boto3, service key pair, request sent to XML read, $pages pages per shape) | p50 ms | p99 ms | SQL alone (pgbench) p50 / p99 ms | p50 ratio |
|---|---|---|---|---|
| a page of 1000 keys after a random key | $flat50 | $flat99 | $base_flat50 / $base_flat99 | $(ratio "$flat50" "$base_flat50") |
| Delimiter=/ inside dir-NNN/ (100 common prefixes over 10,000 keys) | $delim50 | $delim99 | $base_delim50 / $base_delim99 | $(ratio "$delim50" "$base_delim50") |
TABLE
