#!/usr/bin/env bash
# galaxy-importer, the checker Galaxy runs on every uploaded collection, for
# tests/sanity/test_galaxy_importer.py: a virtual environment of its own,
# .tmp/galaxy-importer-venv, from the pinned tests/galaxy-importer/requirements.txt
# (it brings its own ansible-core and ansible-lint, which need not match .venv's).
# Idempotent like bootstrap's .venv: the venv is stamped with the requirements'
# hash and made anew only when that file changes (or the venv is broken).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
req="$root/tests/galaxy-importer/requirements.txt"
venv="$root/.tmp/galaxy-importer-venv"
stamp="$venv/.requirements.sha256"
log() { echo "45-galaxy-importer.sh: $*"; }

want=$(sha256sum "$req" | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] \
   && "$venv/bin/python" -c 'import galaxy_importer' 2>/dev/null; then
    exit 0
fi

log "creating $venv"
mkdir -p "$root/.tmp"
# --clear: a changed requirements file leaves nothing of the old set behind.
python3 -m venv --clear "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q -r "$req"
"$venv/bin/python" -m pip check >/dev/null || { "$venv/bin/python" -m pip check >&2; exit 1; }
echo "$want" > "$stamp"
log "ready: galaxy-importer $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("galaxy-importer"))')"
