#!/usr/bin/env bash
# Debian's chromium for tests/docs_site: the docs site's pages are opened in
# headless Chromium (file:// URLs, no server) and their rendered DOM checked.
# Idempotent: skipped when /usr/bin/chromium is there.
set -euo pipefail
log() { echo "40-chromium.sh: $*"; }

[ -x /usr/bin/chromium ] && exit 0

log "installing chromium"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o DPkg::Lock::Timeout=300 chromium >/dev/null
/usr/bin/chromium --version >/dev/null 2>&1 || { log "chromium does not run" >&2; exit 1; }
log "ready: $(/usr/bin/chromium --version 2>/dev/null)"
