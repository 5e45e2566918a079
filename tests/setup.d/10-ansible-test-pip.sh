#!/usr/bin/env bash
# ansible-test sanity bootstraps pip in its virtual environments from a script
# it downloads from a host this machine cannot reach. Put a stand-in in its
# cache: it installs pip with ensurepip and then the packages asked for.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
version=$("$root/.venv/bin/python" - <<'PY'
import re, pathlib, ansible_test
src = pathlib.Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py"
print(re.search(r"pip='([0-9.]+)'", src.read_text()).group(1))
PY
)
cache="$HOME/.ansible/test/cache"
target="$cache/get_pip_${version//./_}.py"
[ -f "$target" ] && exit 0
mkdir -p "$cache"
cat > "$target.tmp" <<'PY'
"""Offline stand-in for get-pip.py (written by netsafe.hypervisor's test setup)."""
import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"])
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "pip", "install"] + args)
PY
mv "$target.tmp" "$target"
