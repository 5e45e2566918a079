#!/usr/bin/env bash
# Builds the collection's docs site with antsibull-docs and Sphinx, offline:
#   - module and role pages from the modules' DOCUMENTATION/EXAMPLES/RETURN and
#     the roles' meta/argument_specs.yml (`antsibull-docs collection --use-current`,
#     the collection found through a collections path made here, as bootstrap makes it);
#   - the guides: docs/*.md as they are (Markdown, read by myst-parser), in the
#     order docs/site/index.rst gives.
# Output: .tmp/docs_site/html/index.html (git-ignored, not in the galaxy build).
# Needs the project's .venv (tests/setup/bootstrap.sh makes it). Warnings are errors.
# Usage: docs/site/build.sh [extra sphinx-build arguments]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
site="$root/docs/site"
out="$root/.tmp/docs_site"
venv="$root/.venv"
log() { echo "docs/site/build.sh: $*"; }

for tool in antsibull-docs sphinx-build ansible-doc; do
    [ -x "$venv/bin/$tool" ] || { log "$venv/bin/$tool is missing: run tests/setup/bootstrap.sh first" >&2; exit 1; }
done
export PATH="$venv/bin:$PATH"
"$venv/bin/python" -c 'import myst_parser, sphinx_ansible_theme, sphinx_antsibull_ext' 2>/dev/null \
    || { log "$venv lacks myst-parser, sphinx-ansible-theme or antsibull-docs (tests/requirements.txt pins them): run tests/setup/bootstrap.sh" >&2; exit 1; }

# The collection as Ansible finds it, and only this checkout's copy of it
# (no other netsafe.hypervisor on a user's collections path gets documented).
colls="$root/.tmp/collections"
mkdir -p "$colls/ansible_collections/netsafe"
ln -sfn "$root" "$colls/ansible_collections/netsafe/hypervisor"
export ANSIBLE_COLLECTIONS_PATH="$colls" ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false
export ANSIBLE_LOCAL_TEMP="$out/ansible-tmp" ANSIBLE_NOCOLOR=1

# Every guide must have its place in the site's table of contents.
missing=()
for md in "$root"/docs/*.md; do
    name=$(basename "$md" .md)
    grep -Eq "^ +guides/$name\$" "$site/index.rst" || missing+=("docs/$name.md")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "not in a toctree of docs/site/index.rst: ${missing[*]}" >&2
    exit 1
fi

rm -rf "$out/src" "$out/html" "$out/doctrees"
mkdir -p "$out/src/guides" "$out/src/collection" "$out/ansible-tmp"
chmod og-w "$out/src/collection"  # antsibull-docs wants its output directory writable by its owner only

log "module and role pages (antsibull-docs $(antsibull-docs --version 2>/dev/null | awk '{print $NF}'))"
antsibull-docs --config-file "$site/antsibull-docs.cfg" collection \
    --use-current --squash-hierarchy --fail-on-error --no-add-antsibull-docs-version \
    --dest-dir "$out/src/collection" netsafe.hypervisor >"$out/antsibull-docs.log" 2>&1 \
    || { cat "$out/antsibull-docs.log" >&2; log "antsibull-docs failed" >&2; exit 1; }
# The index of collection environment variables: none are declared, and the page
# only links to ansible-core's docs (a reference this offline site cannot resolve).
rm -f "$out/src/collection/environment_variables.rst"

cp "$site/index.rst" "$out/src/index.rst"
cp "$root"/docs/*.md "$out/src/guides/"

log "Sphinx"
sphinx-build -q -b html -c "$site" -d "$out/doctrees" -W --keep-going -n \
    "$out/src" "$out/html" "$@"
log "built: $out/html/index.html"
