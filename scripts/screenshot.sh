#!/usr/bin/env bash
# Render a local HTML file to PNG with headless Debian chromium.
# Usage: scripts/screenshot.sh PAGE.html|URL OUT.png [WIDTH] [HEIGHT]
set -euo pipefail
page=$1; out=$2; width=${3:-1100}; height=${4:-3000}
case $page in http://*|https://*) url=$page ;; *) url="file://$(realpath "$page")" ;; esac
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
# No background networking: this machine has no internet, and chromium would
# otherwise keep trying to reach Google's hosts.
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --hide-scrollbars --window-size="$width,$height" \
  --screenshot="$out" "$url" >/dev/null 2>&1
test -s "$out"
echo "$out"
