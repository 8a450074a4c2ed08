#!/usr/bin/env bash
# The verification benchmark. Seeds the legacy database, migrates it once
# (in-process, no workers), then times, on the same data:
#   - the floor: a plain COPY of every legacy table into empty copies in
#     another database, through a pipe (as bench-migrate.sh measures it);
#   - `lmsctl migrate verify` over the migrated LMS (release build), which
#     reads every legacy table and every migrated LMS row;
# and prints both, with their ratio. RUNS=3 repeats both and prints medians.
#
#   make bench-verify               # seed scale
#   make bench-verify RUNS=3
#   make bench-verify SCALE=small
set -euo pipefail
cd "$(dirname "$0")/.."

SCALE=${SCALE:-seed}
RUNS=${RUNS:-1}
SERVER=${BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}
LEGACY_DB=lms_benchverify_edu
LMS_DB=lms_benchverify_lms
FLOOR_DB=lms_benchverify_floor
TABLES="organizations persons users groups students teachers subjects journal exams exam_results"
BIN=${CARGO_TARGET_DIR:-target}/release

export LMS_LEGACY__URL="$SERVER/$LEGACY_DB"
export LMS_DATABASE__URL="$SERVER/$LMS_DB"
export LMS_REDIS__NAMESPACE="lms_benchverify"
export LMS_LOG__FILTER="${LMS_LOG__FILTER:-warn}"
unset LMS_CONFIG

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
ratio() { awk -v m="$1" -v f="$2" 'BEGIN { printf "%.2f", m / f }'; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
psql_admin() { psql "$SERVER/postgres" -qAtX -v ON_ERROR_STOP=1 "$@"; }

cargo build --release --locked -p lmsctl >&2

echo "== seeding the legacy database at scale $SCALE" >&2
psql_admin -c "DROP DATABASE IF EXISTS $LEGACY_DB WITH (FORCE)" -c "CREATE DATABASE $LEGACY_DB"
"$BIN/lmsctl" legacy seed --scale "$SCALE" --force >&2
rows=$(psql "$SERVER/$LEGACY_DB" -qAtX -c "SELECT $(for t in $TABLES; do printf '(SELECT count(*) FROM %s) + ' "$t"; done) 0")

echo "== migrating it (inline)" >&2
psql_admin -c "DROP DATABASE IF EXISTS $LMS_DB WITH (FORCE)"
"$BIN/lmsctl" db up >/dev/null
"$BIN/lmsctl" migrate run --inline >/tmp/lms-benchverify-run.txt

floor_run() {
    psql_admin -c "DROP DATABASE IF EXISTS $FLOOR_DB WITH (FORCE)" -c "CREATE DATABASE $FLOOR_DB"
    psql "$SERVER/$FLOOR_DB" -qX -v ON_ERROR_STOP=1 -f docs/edu-legacy/schema.sql
    local start end
    start=$(now)
    for table in $TABLES; do
        psql "$SERVER/$LEGACY_DB" -qAtX -c "COPY $table TO STDOUT" | psql "$SERVER/$FLOOR_DB" -qAtX -c "COPY $table FROM STDIN"
    done
    end=$(now)
    psql_admin -c "DROP DATABASE IF EXISTS $FLOOR_DB WITH (FORCE)"
    elapsed "$start" "$end"
}

verify_run() {
    local start end status=0
    start=$(now)
    "$BIN/lmsctl" migrate verify --format json >/tmp/lms-benchverify-verify.json || status=$?
    end=$(now)
    if [ "$status" -ne 0 ]; then
        echo "verify found unexplained differences or failed (exit $status); see /tmp/lms-benchverify-verify.json" >&2
        exit "$status"
    fi
    elapsed "$start" "$end"
}

declare -a floors verifies
for run in $(seq 1 "$RUNS"); do
    echo "== round $run of $RUNS: floor" >&2
    floors+=("$(floor_run)")
    echo "== round $run: verify" >&2
    verifies+=("$(verify_run)")
done

floor=$(echo "${floors[*]}" | median)
verified=$(echo "${verifies[*]}" | median)
echo
echo "scale $SCALE: $rows legacy rows, median of $RUNS round(s)"
printf '%-52s %8s s\n' "floor (COPY of the legacy tables through a pipe)" "$floor"
printf '%-52s %8s s   (%sx the floor)\n' "lmsctl migrate verify (legacy and LMS read whole)" "$verified" "$(ratio "$verified" "$floor")"
echo
echo "rounds: floor ${floors[*]}; verify ${verifies[*]}"
psql_admin -c "DROP DATABASE IF EXISTS $LMS_DB WITH (FORCE)" -c "DROP DATABASE IF EXISTS $LEGACY_DB WITH (FORCE)"
