#!/usr/bin/env bash
# The migration benchmark: a full EDU -> LMS migration with worker processes,
# timed beside a floor measured in the same run (a plain COPY of the same
# legacy tables into empty copies in another database, through a pipe).
#
#   make bench-migrate                 # seed scale, 2 workers
#   make bench-migrate SCALE=10        # ten times the production volumes
#   make bench-migrate WORKERS=4
set -euo pipefail
cd "$(dirname "$0")/.."

SCALE=${SCALE:-seed}
WORKERS=${WORKERS:-2}
SERVER=${BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}
LEGACY_DB=lms_bench_edu
LMS_DB=lms_bench_lms
FLOOR_DB=lms_bench_floor
TABLES="organizations persons users groups students teachers subjects journal exams exam_results"

export LMS_LEGACY__URL="$SERVER/$LEGACY_DB"
export LMS_DATABASE__URL="$SERVER/$LMS_DB"
export LMS_REDIS__NAMESPACE="lms_bench"
export LMS_LOG__FILTER="${LMS_LOG__FILTER:-warn}"
unset LMS_CONFIG

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
psql_admin() { psql "$SERVER/postgres" -qAtX -v ON_ERROR_STOP=1 "$@"; }

cargo build --release --locked --bins >&2
BIN=target/release

echo "== seeding the legacy database at scale $SCALE" >&2
"$BIN/lmsctl" legacy seed --scale "$SCALE" --force >&2

echo "== floor: COPY of every legacy table into an empty copy, through a pipe" >&2
psql_admin -c "DROP DATABASE IF EXISTS $FLOOR_DB WITH (FORCE)" -c "CREATE DATABASE $FLOOR_DB"
psql "$SERVER/$FLOOR_DB" -qX -v ON_ERROR_STOP=1 -f docs/edu-legacy/schema.sql
floor_start=$(now)
for table in $TABLES; do
    psql "$SERVER/$LEGACY_DB" -qAtX -c "COPY $table TO STDOUT" | psql "$SERVER/$FLOOR_DB" -qAtX -c "COPY $table FROM STDIN"
done
floor_end=$(now)
psql_admin -c "DROP DATABASE IF EXISTS $FLOOR_DB WITH (FORCE)"
rows=$(psql "$SERVER/$LEGACY_DB" -qAtX -c "SELECT sum(n) FROM (SELECT count(*) n FROM journal UNION ALL SELECT count(*) FROM exam_results UNION ALL SELECT count(*) FROM users UNION ALL SELECT count(*) FROM persons UNION ALL SELECT count(*) FROM students UNION ALL SELECT count(*) FROM teachers UNION ALL SELECT count(*) FROM organizations UNION ALL SELECT count(*) FROM groups UNION ALL SELECT count(*) FROM subjects UNION ALL SELECT count(*) FROM exams) c")

echo "== migration with $WORKERS worker processes" >&2
psql_admin -c "DROP DATABASE IF EXISTS $LMS_DB WITH (FORCE)"
"$BIN/lmsctl" db up >/dev/null
pids=()
for i in $(seq 1 "$WORKERS"); do
    LMS_METRICS__LISTEN="127.0.0.1:$((9470 + i))" "$BIN/lms-worker" 2>>/tmp/lms-bench-workers.log &
    pids+=($!)
done
cleanup() { kill "${pids[@]}" 2>/dev/null || true; }
trap cleanup EXIT
sleep 1
migration_start=$(now)
status=0
"$BIN/lmsctl" migrate run --wait > /tmp/lms-bench-run.txt || status=$?
migration_end=$(now)
peak_kb=0
for pid in "${pids[@]}"; do
    kb=$(awk '/VmHWM/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
    if [ "${kb:-0}" -gt "$peak_kb" ]; then peak_kb=$kb; fi
done
cleanup
trap - EXIT

floor=$(elapsed "$floor_start" "$floor_end")
migration=$(elapsed "$migration_start" "$migration_end")
ratio=$(awk -v m="$migration" -v f="$floor" 'BEGIN { printf "%.1f", m / f }')
echo
echo "scale $SCALE: $rows legacy rows, $WORKERS workers"
printf '%-44s %8s s\n' "floor (COPY through a pipe)" "$floor"
printf '%-44s %8s s   (%sx the floor)\n' "full migration (lmsctl migrate run --wait)" "$migration" "$ratio"
printf '%-44s %8s MB\n' "worker peak RSS (largest VmHWM)" "$((peak_kb / 1024))"
if [ "$status" -ne 0 ]; then
    echo "the run did not succeed (exit $status); see /tmp/lms-bench-run.txt" >&2
    exit "$status"
fi
