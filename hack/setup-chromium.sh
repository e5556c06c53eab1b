#!/usr/bin/env bash
# Makes sure a Chromium is available for the dashboard's browser test
# (test/e2e TestDashboardInTheBrowser, driven with chromedp). Uses Debian's
# package when missing. Idempotent; prints the browser's path on the last line
# of stdout when there is one.
# Never fails: when Chromium cannot be installed the browser test says why and
# skips (or fails under CI=true).
set -uo pipefail
log() { printf '[setup-chromium] %s\n' "$*" >&2; }

find_chromium() {
  if [ -n "${CXOPS_CHROMIUM:-}" ] && [ -x "$CXOPS_CHROMIUM" ]; then
    echo "$CXOPS_CHROMIUM"
    return 0
  fi
  local name
  for name in chromium chromium-browser google-chrome google-chrome-stable chrome; do
    if command -v "$name" >/dev/null 2>&1; then
      command -v "$name"
      return 0
    fi
  done
  return 1
}

if path="$(find_chromium)"; then
  log "using $path ($("$path" --version 2>/dev/null | head -n 1))"
  echo "$path"
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  log "chromium not found and cannot be installed here (needs root and apt-get); the browser test will skip"
  exit 0
fi
log "installing Debian's chromium package"
export DEBIAN_FRONTEND=noninteractive
{ apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium; } >&2 \
  || log "apt-get install chromium failed; the browser test will skip (or fail under CI=true)"
if path="$(find_chromium)"; then
  log "installed $path ($("$path" --version 2>/dev/null | head -n 1))"
  echo "$path"
fi
exit 0
