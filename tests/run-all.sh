#!/usr/bin/env bash
# The project's test command: sets up a fresh Debian 12 machine (as root) and
# runs every test: unit, kernel (throwaway network namespaces), Ansible
# playbooks and ansible-test sanity. Extra arguments go to pytest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash tests/setup/bootstrap.sh
export PATH="$root/.venv/bin:$PATH"
# With arguments, pytest gets just those (a subset: ./tests/run-all.sh tests/unit);
# without, the whole suite.
if [ $# -gt 0 ]; then
    exec "$root/.venv/bin/python" -m pytest "$@"
fi
exec "$root/.venv/bin/python" -m pytest tests
