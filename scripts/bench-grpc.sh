#!/usr/bin/env bash
# The gRPC benchmark: lms-server over a seed-scale migrated database, driven
# by lms-loadgen at concurrency 32 (client and server on this machine).
# Each scenario is printed beside the health-check baseline of the same run,
# and GetStudent beside PostgreSQL's own limit, measured in the same run:
# pgbench, prepared point selects of students rows by primary key, with as
# many clients as the benchmark has requests in flight. The server's pool
# has that many connections too.
#
#   make bench-grpc                      # seed scale, concurrency 32
#   make bench-grpc CONCURRENCY=64 DURATION=20s
set -euo pipefail
cd "$(dirname "$0")/.."

SERVER=${BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}
LEGACY_DB=lms_benchgrpc_edu
LMS_DB=lms_benchgrpc_lms
PORT=${PORT:-50151}
CONCURRENCY=${CONCURRENCY:-32}
CONNECTIONS=${CONNECTIONS:-1}
DURATION=${DURATION:-10s}

export LMS_LEGACY__URL="$SERVER/$LEGACY_DB"
export LMS_DATABASE__URL="$SERVER/$LMS_DB"
export LMS_REDIS__NAMESPACE="lms_benchgrpc"
export LMS_LOG__FILTER="${LMS_LOG__FILTER:-warn}"
unset LMS_CONFIG

psql_admin() { psql "$SERVER/postgres" -qAtX -v ON_ERROR_STOP=1 "$@"; }

cargo build --release --locked --bins >&2
BIN=target/release

# The migrated database is kept between runs; it is rebuilt when absent or
# when its last run did not succeed (and brought to the current schema).
"$BIN/lmsctl" db up >/dev/null 2>&1 || true
ready=$(psql "$SERVER/$LMS_DB" -qAtX -c "SELECT count(*) FROM migration.runs WHERE status = 'succeeded' AND NOT dry_run" 2>/dev/null || echo 0)
if [ "${ready:-0}" -eq 0 ]; then
    echo "== seeding and migrating a seed-scale database (once)" >&2
    "$BIN/lmsctl" legacy seed --scale seed --force >&2
    psql_admin -c "DROP DATABASE IF EXISTS $LMS_DB WITH (FORCE)"
    "$BIN/lmsctl" db up >/dev/null
    "$BIN/lmsctl" migrate run --inline >/dev/null
fi

token="bench-$(date +%s%N)"
config=$(mktemp --suffix=.toml)
cat >"$config" <<TOML
[grpc]
listen = "127.0.0.1:$PORT"

# Sized for the benchmark: one connection per request in flight.
[database]
min_connections = $CONCURRENCY
max_connections = $CONCURRENCY

[[auth.tokens]]
name = "bench"
sha256 = "$(printf '%s' "$token" | sha256sum | cut -d' ' -f1)"
scopes = ["lms.read"]
TOML

"$BIN/lms-server" --config "$config" 2>>/tmp/lms-bench-server.log &
server=$!
cleanup() { kill "$server" 2>/dev/null || true; rm -f "$config"; }
trap cleanup EXIT
for _ in $(seq 1 50); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then break; fi
    sleep 0.1
done

echo "== PostgreSQL's limit: pgbench -M prepared -c $CONCURRENCY, students by primary key" >&2
bounds=$(psql "$SERVER/$LMS_DB" -qAtX -F ' ' -c "SELECT min(id), max(id) FROM students")
script=$(mktemp --suffix=.pgbench)
cat >"$script" <<'SQL'
\set id random(:lo, :hi)
SELECT id, legacy_id, person_id, user_id, organization_id, group_id, admission_year, status, record_book_no, source_deleted_at FROM students WHERE id = :id;
SQL
seconds=${DURATION%s}
limit=$(pgbench -n -M prepared -c "$CONCURRENCY" -j "$(nproc)" -T "$seconds" \
    -D lo="${bounds%% *}" -D hi="${bounds##* }" -f "$script" "$SERVER/$LMS_DB" 2>/dev/null \
    | awk '/^tps/ { printf "%.0f", $3 }')
rm -f "$script"

echo "== lms-loadgen against lms-server (both on this machine, $(nproc) cores)" >&2
output=$(LOADGEN_TOKEN="$token" "$BIN/lms-loadgen" --endpoint "http://127.0.0.1:$PORT" \
    --concurrency "$CONCURRENCY" --connections "$CONNECTIONS" --threads "${THREADS:-1}" --duration "$DURATION")
echo "$output"
get_student=$(echo "$output" | awk '$1 == "GetStudent" && $2 ~ /^[0-9]+$/ { print $3 }')
echo
printf 'PostgreSQL limit (pgbench -M prepared -c %s, point selects of students): %s tps\n' "$CONCURRENCY" "$limit"
awk -v rps="$get_student" -v limit="$limit" 'BEGIN {
    if (limit > 0) printf "GetStudent: %s rps, %.2f of the limit (the target is at least 0.33)\n", rps, rps / limit
}'
