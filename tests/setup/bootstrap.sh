#!/usr/bin/env bash
# Prepare a fresh Debian 12 machine (as root) for the tests and the demo:
# Debian packages, a virtual environment from pinned requirements, the
# collection path layout Ansible needs, then every hook in tests/setup.d/.
# Safe to run again: each step is skipped when its result is already there.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

if [ "$(id -u)" != 0 ]; then
    echo "bootstrap: run as root (network namespaces need it)" >&2
    exit 1
fi

need_apt=()
command -v ip >/dev/null || need_apt+=(iproute2)
command -v git >/dev/null || need_apt+=(git)
command -v ping >/dev/null || need_apt+=(iputils-ping)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi

venv="$root/.venv"
stamp="$venv/.requirements.sha256"
want=$(cat requirements.txt tests/requirements.txt | sha256sum | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" -m pip install -q -r tests/requirements.txt
    echo "$want" > "$stamp"
fi

# Ansible finds the collection as ansible_collections/netsafe/hypervisor.
colls="$root/.tmp/collections/ansible_collections/netsafe"
mkdir -p "$colls"
ln -sfn "$root" "$colls/hypervisor"

for hook in tests/setup.d/*.sh; do
    [ -e "$hook" ] || continue
    echo "bootstrap: $hook"
    bash "$hook"
done
