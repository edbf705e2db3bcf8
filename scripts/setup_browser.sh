#!/usr/bin/env bash
# Installs Debian's Chromium for the browser test (Playwright cannot download its own browser here).
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "setup: installing Debian's chromium for the browser test"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
  echo "setup: /usr/bin/chromium is missing and cannot be installed here (needs root and apt-get);" \
       "the browser test will be skipped. Install Debian's 'chromium' package to run it." >&2
fi
