#!/usr/bin/env bash
# The project's test command: sets up a fresh Debian 12 machine (as root) and
# runs every test: unit, kernel (throwaway network namespaces), Ansible
# playbooks, the systemd host and ansible-test sanity. Extra arguments go to pytest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash tests/setup/bootstrap.sh
export PATH="$root/.venv/bin:$PATH"
python="$root/.venv/bin/python"
# With arguments, pytest gets just those (a subset: ./tests/run-all.sh tests/unit);
# without, the whole suite.
if [ $# -gt 0 ]; then
    exec "$python" -m pytest "$@"
fi
# The whole suite is two lanes run side by side: the systemd host's tests (tests/realhost and every test on
# the systemd_host fixture: mostly waiting on boots, deadlines and NetworkManager, little CPU; niced) in the
# background, everything else in the foreground, which skips them. Its output is printed at the end.
lane_log="$root/.tmp/realhost-lane.log"
mkdir -p "$root/.tmp"
nice -n 10 "$python" -m pytest -p no:cacheprovider -m realhost tests >"$lane_log" 2>&1 &
lane=$!
trap 'kill "$lane" 2>/dev/null || true' INT TERM
set +e
NETSAFE_REALHOST_ELSEWHERE=1 "$python" -m pytest tests
main_rc=$?
wait "$lane"
lane_rc=$?
set -e
echo
echo "== the systemd host lane (pytest -m realhost tests, alongside the run above; full output: $lane_log)"
grep -E '^(FAILED|ERROR|XPASS)|^=+ .*(passed|failed|error).* =+$|^[0-9]+ (passed|failed)' "$lane_log" || tail -n 30 "$lane_log"
echo "main run: rc $main_rc; systemd host lane: rc $lane_rc"
[ "$main_rc" -eq 0 ] && [ "$lane_rc" -eq 0 ]
