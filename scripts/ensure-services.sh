#!/usr/bin/env bash
# Makes sure local PostgreSQL and Redis answer on 127.0.0.1, starting them
# when they are stopped and installing them from Debian's packages when they
# are missing. Safe to run any number of times.
set -euo pipefail

log() { printf 'ensure-services: %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
    log "installing $* from the OS packages"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >/dev/null \
        || { as_root apt-get update >/dev/null && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >/dev/null; }
}

wait_for() {
    local what=$1; shift
    for _ in $(seq 1 60); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.5
    done
    log "$what did not come up"; return 1
}

postgres_answers() { pg_isready -q -h 127.0.0.1 -p 5432; }
redis_answers() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ]; }

# PostgreSQL
if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! command -v pg_isready >/dev/null 2>&1; then
    apt_install postgresql postgresql-client
fi
if ! postgres_answers; then
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    if [ -z "$version" ]; then log "no PostgreSQL cluster is configured under /etc/postgresql"; exit 1; fi
    log "starting PostgreSQL $version"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
    wait_for PostgreSQL postgres_answers
fi
# The project connects as postgres over TCP without a password (trust auth on
# a development machine). Say so clearly when that is not the case.
if ! psql -h 127.0.0.1 -U postgres -d postgres -Atc 'SELECT 1' >/dev/null 2>&1; then
    log "PostgreSQL answers, but 'psql -h 127.0.0.1 -U postgres' fails: allow local trust auth in pg_hba.conf, or set LMS_DATABASE__URL and LMS_LEGACY__URL with credentials"
    exit 1
fi

# Redis
if ! command -v redis-server >/dev/null 2>&1; then
    apt_install redis-server
fi
if ! redis_answers; then
    log "starting Redis"
    as_root mkdir -p /var/lib/redis /var/log/redis
    as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/ci.log
    wait_for Redis redis_answers
fi
log "PostgreSQL and Redis are up"
