#!/usr/bin/env bash
# Makes sure a Prometheus server binary is available for the end-to-end tests, which
# start their own instance on a loopback port, and promtool (same package) for the
# alert unit tests in test/packaging. Uses Debian's package when missing.
# Never fails: when Prometheus cannot be installed the e2e tests say why and skip
# (or fail under CI=true).
set -uo pipefail
log() { printf '[setup-prometheus] %s\n' "$*" >&2; }

if command -v prometheus >/dev/null 2>&1; then
  log "using $(command -v prometheus) ($(prometheus --version 2>&1 | head -n 1))"
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  log "prometheus not found and cannot be installed here (needs root and apt-get); e2e tests will skip"
  exit 0
fi
log "installing Debian's prometheus package"
export DEBIAN_FRONTEND=noninteractive
# The package's service must not start (there is no init system in CI containers).
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && created_policy=1
fi
{ apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus; } >&2 \
  || log "apt-get install prometheus failed; e2e tests will skip (or fail under CI=true)"
[ "$created_policy" = 1 ] && rm -f "$policy"
command -v prometheus >/dev/null 2>&1 && log "installed $(prometheus --version 2>&1 | head -n 1)"
exit 0
