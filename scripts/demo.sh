#!/usr/bin/env bash
# The main job end to end: the LMS schema, the legacy EDU stand-in at
# production scale, a migration by two worker processes, and the report.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/release
unset LMS_CONFIG

"$BIN/lmsctl" db up
"$BIN/lmsctl" legacy seed --scale seed --force

pids=()
# Each worker serves its metrics on its own port: 9471, 9472.
for i in 1 2; do
    LMS_METRICS__LISTEN="127.0.0.1:$((9470 + i))" LMS_LOG__FILTER="${LMS_LOG__FILTER:-warn}" "$BIN/lms-worker" &
    pids+=($!)
done
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT

status=0
"$BIN/lmsctl" migrate run --wait || status=$?
echo
"$BIN/lmsctl" migrate report --format markdown
exit "$status"
