#!/usr/bin/env bash
# Install Debian's `chromium` package for the timeline page's browser test (test/integration/timeline.test.ts,
# driven by puppeteer-core, which downloads no browser). Idempotent: skips when the browser is there
# (KB_CHROMIUM, else /usr/bin/chromium). Installs with apt-get as root, or through `sudo -n` (never prompts).
# KB_SKIP_CHROMIUM_INSTALL=1 skips the install; the test then fails in CI if the browser is missing.
set -euo pipefail

BROWSER="${KB_CHROMIUM:-/usr/bin/chromium}"
if [[ -x "$BROWSER" ]]; then
  echo "install-chromium: $BROWSER present (skipping): $("$BROWSER" --version 2>/dev/null | head -1)"
  exit 0
fi
if [[ "${KB_SKIP_CHROMIUM_INSTALL:-}" == "1" ]]; then
  echo "install-chromium: $BROWSER missing, install skipped (KB_SKIP_CHROMIUM_INSTALL=1)"
  exit 0
fi
command -v apt-get >/dev/null || { echo "install-chromium: $BROWSER missing and no apt-get: install Chromium and set KB_CHROMIUM to its path" >&2; exit 1; }
if [[ "$(id -u)" == "0" ]]; then
  as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "install-chromium: $BROWSER missing; run as root (or with passwordless sudo): apt-get install -y chromium" >&2
  exit 1
fi
echo "install-chromium: apt-get install -y chromium ..."
start=$(date +%s)
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends chromium >/dev/null
[[ -x "$BROWSER" ]] || { echo "install-chromium: installed chromium, but $BROWSER is not there (set KB_CHROMIUM)" >&2; exit 1; }
echo "install-chromium: $("$BROWSER" --version 2>/dev/null | head -1) in $(( $(date +%s) - start ))s"
