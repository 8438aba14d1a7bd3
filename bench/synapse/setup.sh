#!/usr/bin/env bash
# Install a pinned Synapse (Matrix homeserver) into a virtualenv for side-by-side benchmarks.
#   SYNAPSE_HOME  base dir (default: $HOME/.cache/hilo-synapse); the venv lives in $SYNAPSE_HOME/venv
#   PYTHON        interpreter used to create the venv (default: python3; Synapse needs >= 3.10)
# Idempotent: does nothing if the pinned versions are already installed.
set -euo pipefail

SYNAPSE_VERSION="1.163.2"
PSYCOPG2_VERSION="2.9.13"

SYNAPSE_HOME="${SYNAPSE_HOME:-$HOME/.cache/hilo-synapse}"
VENV="$SYNAPSE_HOME/venv"
PYTHON="${PYTHON:-python3}"

installed_ok() {
    [ -x "$VENV/bin/python" ] || return 1
    "$VENV/bin/python" - "$SYNAPSE_VERSION" <<'PY' 2>/dev/null
import sys, importlib.metadata as m
ok = m.version("matrix-synapse") == sys.argv[1]
import psycopg2  # noqa: F401  (postgres backend)
sys.exit(0 if ok else 1)
PY
}

if installed_ok; then
    echo "synapse $SYNAPSE_VERSION already installed in $VENV"
    exit 0
fi

"$PYTHON" - <<'PY'
import sys
if sys.version_info < (3, 10):
    sys.exit(f"Synapse needs Python >= 3.10, {sys.executable} is {sys.version.split()[0]} (set PYTHON=...)")
PY

mkdir -p "$SYNAPSE_HOME"
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
# Every transitive dependency is pinned too (constraints.txt, from `pip freeze`), so a
# rerun measures the same Synapse.
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    -c "$(dirname "$0")/constraints.txt" \
    "matrix-synapse==$SYNAPSE_VERSION" "psycopg2-binary==$PSYCOPG2_VERSION"

installed_ok || { echo "synapse install check failed" >&2; exit 1; }
echo "synapse $SYNAPSE_VERSION installed in $VENV"
