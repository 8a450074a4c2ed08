#!/usr/bin/env bash
# The migration benchmark. In one run, on the same seeded legacy database:
#   - the floor: a plain COPY of every legacy table into empty copies in
#     another database, through a pipe;
#   - pgloader copying the same tables untransformed (when installed);
#   - our full migration with worker processes, into an empty LMS;
#   - a re-run over unchanged legacy data;
#   - a re-run after 1% of the journal changed in legacy;
# each beside the floor, with a per-phase breakdown of the full migration and
# the workers' peak RSS. RUNS=3 repeats everything and prints medians.
#
#   make bench-migrate                 # seed scale, 2 workers
#   make bench-migrate SCALE=10        # ten times the production volumes
#   make bench-migrate WORKERS=4 RUNS=3
#   make bench-migrate CONCURRENCY=2   # chunks each worker runs at once
#
# Each worker runs one chunk at a time by default: two workers then keep as
# many chunks in flight as this machine has cores, which PostgreSQL shares
# with them. Two chunks each (the workers' own default) made the seed-scale
# first load about a tenth slower here (docs/benchmark-log.md, "Chunks in
# flight").
set -euo pipefail
cd "$(dirname "$0")/.."

SCALE=${SCALE:-seed}
WORKERS=${WORKERS:-2}
CONCURRENCY=${CONCURRENCY:-1}
if ! [[ $WORKERS =~ ^[1-9][0-9]*$ && $CONCURRENCY =~ ^[1-9][0-9]*$ ]]; then
    echo "WORKERS and CONCURRENCY must be positive whole numbers (got WORKERS=$WORKERS, CONCURRENCY=$CONCURRENCY)" >&2
    exit 2
fi
RUNS=${RUNS:-1}
SERVER=${BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}
LEGACY_DB=lms_bench_edu
LMS_DB=lms_bench_lms
FLOOR_DB=lms_bench_floor
PGLOADER_DB=lms_bench_pgloader
TABLES="organizations persons users groups students teachers subjects journal exams exam_results"

export LMS_LEGACY__URL="$SERVER/$LEGACY_DB"
export LMS_DATABASE__URL="$SERVER/$LMS_DB"
export LMS_REDIS__NAMESPACE="lms_bench"
export LMS_LOG__FILTER="${LMS_LOG__FILTER:-warn}"
unset LMS_CONFIG

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
ratio() { awk -v m="$1" -v f="$2" 'BEGIN { printf "%.2f", m / f }'; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
psql_admin() { psql "$SERVER/postgres" -qAtX -v ON_ERROR_STOP=1 "$@"; }
lms_sql() { psql "$SERVER/$LMS_DB" -qAtX -v ON_ERROR_STOP=1 "$@"; }

cargo build --release --locked --bins >&2
BIN=target/release

echo "== seeding the legacy database at scale $SCALE" >&2
"$BIN/lmsctl" legacy seed --scale "$SCALE" --force >&2
rows=$(psql "$SERVER/$LEGACY_DB" -qAtX -c "SELECT (SELECT count(*) FROM journal) + (SELECT count(*) FROM exam_results) + (SELECT count(*) FROM users) + (SELECT count(*) FROM persons) + (SELECT count(*) FROM students) + (SELECT count(*) FROM teachers) + (SELECT count(*) FROM organizations) + (SELECT count(*) FROM groups) + (SELECT count(*) FROM subjects) + (SELECT count(*) FROM exams)")

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

pgloader_run() {
    psql_admin -c "DROP DATABASE IF EXISTS $PGLOADER_DB WITH (FORCE)" -c "CREATE DATABASE $PGLOADER_DB"
    psql "$SERVER/$PGLOADER_DB" -qX -v ON_ERROR_STOP=1 -f docs/edu-legacy/schema.sql
    local load start end
    load=$(mktemp --suffix=.load)
    # Fewer rows prefetched than pgloader's default 100,000: with the default,
    # its runtime's heap is exhausted on the 10x journal and it dies.
    cat >"$load" <<LOAD
LOAD DATABASE
     FROM $SERVER/$LEGACY_DB
     INTO $SERVER/$PGLOADER_DB
 WITH data only, truncate, workers = 2, concurrency = 1, prefetch rows = 10000;
LOAD
    start=$(now)
    local status=0
    # pgloader can also hang for good (seen once on 2026-12-06: both source
    # COPYs waiting to write to it, no CPU, for 12 minutes): a run gets 30
    # times the floor, or at least 5 minutes, and is counted as failed.
    local limit
    limit=$(awk -v floor="${floors[-1]:-0}" 'BEGIN { l = floor * 30; print (l < 300 ? 300 : int(l)) }')
    timeout --kill-after=10 "$limit" pgloader --quiet "$load" >/tmp/lms-bench-pgloader.log 2>&1 </dev/null || status=$?
    end=$(now)
    rm -f "$load"
    # A run counts only if it copied every row (pgloader's runtime can die
    # of heap exhaustion on large tables and still leave a partial copy).
    local copied
    copied=$(psql "$SERVER/$PGLOADER_DB" -qAtX -c "SELECT $(for t in $TABLES; do printf '(SELECT count(*) FROM %s) + ' "$t"; done) 0" 2>/dev/null || echo 0)
    psql_admin -c "DROP DATABASE IF EXISTS $PGLOADER_DB WITH (FORCE)"
    if [ "$status" -ne 0 ] || [ "$copied" != "$rows" ]; then
        echo "pgloader failed (exit $status, $copied of $rows rows copied); see /tmp/lms-bench-pgloader.log" >&2
        echo failed
        return
    fi
    elapsed "$start" "$end"
}

# A migration run with the workers up; prints its seconds.
migrate() {
    local start end status=0
    start=$(now)
    "$BIN/lmsctl" migrate run --wait >/tmp/lms-bench-run.txt || status=$?
    end=$(now)
    if [ "$status" -ne 0 ]; then
        echo "the run did not succeed (exit $status); see /tmp/lms-bench-run.txt" >&2
        exit "$status"
    fi
    elapsed "$start" "$end"
}

# Per phase of the latest run: the wall time from its first chunk's start to
# its last chunk's end, and the chunks' busy time summed.
phases() {
    lms_sql -F ' ' -c "
        SELECT s.phase, round(extract(epoch FROM max(c.finished_at) - min(c.started_at))::numeric, 2),
               round(sum(extract(epoch FROM c.finished_at - c.started_at))::numeric, 2), count(*)
        FROM migration.chunks c JOIN migration.run_steps s ON s.id = c.step_id
        WHERE c.run_id = (SELECT id FROM migration.runs ORDER BY created_at DESC LIMIT 1)
        GROUP BY s.phase ORDER BY min(c.started_at)"
}

# The table phases that kept workers busiest in the latest run.
busiest() {
    lms_sql -F ' ' -c "
        SELECT s.entity, s.phase, round(sum(extract(epoch FROM c.finished_at - c.started_at))::numeric, 2)
        FROM migration.chunks c JOIN migration.run_steps s ON s.id = c.step_id
        WHERE c.run_id = (SELECT id FROM migration.runs ORDER BY created_at DESC LIMIT 1)
        GROUP BY s.entity, s.phase ORDER BY 3 DESC LIMIT 8"
}

declare -a floors pgloaders fulls reruns deltas
pgloader_present=$(command -v pgloader >/dev/null && echo yes || echo no)
peak_report=""
phase_report=""
busiest_report=""
for run in $(seq 1 "$RUNS"); do
    echo "== round $run of $RUNS: floor" >&2
    floors+=("$(floor_run)")
    if [ "$pgloader_present" = yes ]; then
        echo "== round $run: pgloader" >&2
        pgloaders+=("$(pgloader_run)")
    fi

    echo "== round $run: migration with $WORKERS worker processes, $CONCURRENCY chunk(s) each" >&2
    psql_admin -c "DROP DATABASE IF EXISTS $LMS_DB WITH (FORCE)"
    "$BIN/lmsctl" db up >/dev/null
    pids=()
    for i in $(seq 1 "$WORKERS"); do
        LMS_METRICS__LISTEN="127.0.0.1:$((9470 + i))" "$BIN/lms-worker" --concurrency "$CONCURRENCY" 2>>/tmp/lms-bench-workers.log &
        pids+=($!)
    done
    cleanup() { kill "${pids[@]}" 2>/dev/null || true; }
    trap cleanup EXIT
    sleep 1
    fulls+=("$(migrate)")
    phase_report=$(phases)
    busiest_report=$(busiest)

    echo "== round $run: re-run over unchanged legacy data" >&2
    reruns+=("$(migrate)")

    echo "== round $run: re-run after 1% of the journal changed" >&2
    psql "$SERVER/$LEGACY_DB" -qAtX -v ON_ERROR_STOP=1 -c "
        UPDATE journal SET mark_final = CASE WHEN mark_final = '5' THEN '4' ELSE '5' END,
                           updated_at = coalesce(updated_at, '2025-01-01') + interval '1 day'
        WHERE id IN (SELECT id FROM journal ORDER BY md5(id::text || '$run') LIMIT (SELECT count(*) / 100 FROM journal))"
    deltas+=("$(migrate)")

    peak_report=""
    for pid in "${pids[@]}"; do
        kb=$(awk '/VmHWM/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
        peak_report="$peak_report $((${kb:-0} / 1024))"
    done
    cleanup
    trap - EXIT
done

floor=$(echo "${floors[*]}" | median)
full=$(echo "${fulls[*]}" | median)
rerun=$(echo "${reruns[*]}" | median)
delta=$(echo "${deltas[*]}" | median)
echo
echo "scale $SCALE: $rows legacy rows, $WORKERS workers running $CONCURRENCY chunk(s) each, median of $RUNS round(s)"
printf '%-52s %8s s\n' "floor (COPY through a pipe)" "$floor"
if [ "$pgloader_present" = yes ]; then
    if [[ " ${pgloaders[*]} " == *" failed "* ]]; then
        printf '%-52s %8s\n' "pgloader, the same tables untransformed" "failed in a round (${pgloaders[*]}); see /tmp/lms-bench-pgloader.log"
    else
        pgl=$(echo "${pgloaders[*]}" | median)
        printf '%-52s %8s s   (%sx the floor)\n' "pgloader, the same tables untransformed" "$pgl" "$(ratio "$pgl" "$floor")"
    fi
else
    printf '%-52s %8s\n' "pgloader, the same tables untransformed" "absent (apt install pgloader)"
fi
printf '%-52s %8s s   (%sx the floor)\n' "full migration into an empty LMS" "$full" "$(ratio "$full" "$floor")"
printf '%-52s %8s s   (%sx the floor)\n' "re-run over unchanged legacy data" "$rerun" "$(ratio "$rerun" "$floor")"
printf '%-52s %8s s   (%sx the floor)\n' "re-run after a 1% journal delta" "$delta" "$(ratio "$delta" "$floor")"
printf '%-52s %8s MB\n' "worker peak RSS (VmHWM, each worker)" "$peak_report"
echo
echo "rounds: floor ${floors[*]}; full ${fulls[*]}; unchanged ${reruns[*]}; delta ${deltas[*]}"
echo
echo "full migration, last round, per phase (wall s from first chunk start to last chunk end, busy s summed, chunks):"
echo "$phase_report" | awk '{ printf "  %-10s %8s s wall %8s s busy %5s chunks\n", $1, $2, $3, $4 }'
echo "busiest table phases (busy s):"
echo "$busiest_report" | awk '{ printf "  %-26s %8s s\n", $1 " " $2, $3 }'

# Leave nothing behind on a shared server: the databases and the queue's keys.
psql_admin -c "DROP DATABASE IF EXISTS $LMS_DB WITH (FORCE)" -c "DROP DATABASE IF EXISTS $LEGACY_DB WITH (FORCE)"
if command -v redis-cli >/dev/null; then
    redis-cli -u "${LMS_REDIS__URL:-redis://127.0.0.1:6379}" --scan --pattern "$LMS_REDIS__NAMESPACE*" | xargs -r redis-cli -u "${LMS_REDIS__URL:-redis://127.0.0.1:6379}" del >/dev/null
    # apalis lists every queue's worker set in one shared sorted set.
    redis-cli -u "${LMS_REDIS__URL:-redis://127.0.0.1:6379}" zrem core:apalis:queues:list "$LMS_REDIS__NAMESPACE:migration-chunks:workers" >/dev/null
fi
