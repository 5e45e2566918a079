#!/usr/bin/env bash
# Debian's libfaketime for tests/checkpoint/test_watchdog_bad_days.py: the
# watchdog's own process is started under LD_PRELOAD with a wall clock the test
# steps (+1 h, -1 h) while a checkpoint is armed. Only that process sees the
# fake time; this machine's clock is never touched. A library, no service.
# Idempotent: skipped when the library is there.
set -euo pipefail
log() { echo "60-libfaketime.sh: $*"; }
lib=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1

[ -e "$lib" ] && exit 0

log "installing libfaketime"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o DPkg::Lock::Timeout=300 libfaketime >/dev/null \
  || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
         -o DPkg::Lock::Timeout=300 libfaketime >/dev/null; }
[ -e "$lib" ] || { log "$lib is missing after the install" >&2; exit 1; }
log "ready: $lib"
