#!/usr/bin/env bash
# A cutover-night rehearsal on a database pair of its own: the first load,
# a day's delta, a mass change that the hold stops, its approval, verify,
# undo of the bad run, and the re-run once legacy is fixed. Every command
# is printed before its output, as the README's "Cutover night" shows.
#
#   make cutover-rehearsal              # seed scale, release binaries
#   SCALE=small make cutover-rehearsal
#
# Runs inline (chunks in lmsctl's process), so it needs no workers and no
# Redis. It drops and recreates lms_rehearsal_edu and lms_rehearsal_lms.
set -euo pipefail
cd "$(dirname "$0")/.."

SCALE=${SCALE:-seed}
SERVER=${REHEARSAL_POSTGRES:-postgres://postgres@127.0.0.1:5432}
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release}
LEGACY="$SERVER/lms_rehearsal_edu"
LMS="$SERVER/lms_rehearsal_lms"
export LMS_LEGACY__URL="$LEGACY"
export LMS_DATABASE__URL="$LMS"
export LMS_REDIS__NAMESPACE="lms_rehearsal"
unset LMS_CONFIG

psql_at() { psql "$1" -qAtX -v ON_ERROR_STOP=1 -c "$2"; }
# Prints a command, runs it, and prints its exit code when it is not 0.
step() {
    echo
    echo "\$ $*"
    local status=0
    "$@" || status=$?
    if [ "$status" -ne 0 ]; then echo "(exit $status)"; fi
    return 0
}
latest_run() { psql_at "$LMS" "SELECT id FROM migration.runs ORDER BY created_at DESC LIMIT 1"; }
lmsctl() { "$BIN/lmsctl" "$@"; }

psql_at "$SERVER/postgres" "DROP DATABASE IF EXISTS lms_rehearsal_edu WITH (FORCE)"
psql_at "$SERVER/postgres" "DROP DATABASE IF EXISTS lms_rehearsal_lms WITH (FORCE)"
psql_at "$SERVER/postgres" "CREATE DATABASE lms_rehearsal_edu"
lmsctl legacy seed --scale "$SCALE" --force >/dev/null
lmsctl db up >/dev/null

echo "== 1. The first load"
step lmsctl migrate run --inline

echo
echo "== 2. A day's changes in legacy: 30 students change status; the delta applies them"
psql_at "$LEGACY" "UPDATE students SET status = 'academic_leave'
                   WHERE id IN (SELECT id FROM students WHERE status = 'active' ORDER BY id LIMIT 30)"
step lmsctl migrate run --inline

echo
echo "== 3. A bad import in legacy: a fifth of the students graduate at once; the hold stops it"
psql_at "$LEGACY" "CREATE TABLE rehearsal_before AS SELECT id, status FROM students"
psql_at "$LEGACY" "UPDATE students SET status = 'graduated' WHERE id % 5 = 0"
step lmsctl migrate run --inline
held=$(latest_run)
step lmsctl migrate status

echo
echo "== 4. Approved (in the rehearsal, to show undo), then verified"
step lmsctl migrate approve "$held" --inline
step lmsctl migrate verify

echo
echo "== 5. The import was wrong after all: undo the run, fix legacy, re-run, verify"
step lmsctl migrate undo "$held"
psql_at "$LEGACY" "UPDATE students s SET status = b.status FROM rehearsal_before b WHERE b.id = s.id"
psql_at "$LEGACY" "DROP TABLE rehearsal_before"
step lmsctl migrate run --inline
step lmsctl migrate verify
