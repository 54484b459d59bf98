#!/usr/bin/env bash
# Build fake-gcs-server (a GCS emulator; github.com/fsouza/fake-gcs-server) into
# .cache/bin/fake-gcs-server with `go install`, for the GCS storage tests.
# Idempotent: skips when the binary of the pinned version exists. Needs go on PATH.
# If another build into the same GOBIN is already running, waits for it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_DIR="$ROOT/.cache/bin"
BIN="$BIN_DIR/fake-gcs-server"
# Pinned (newest when added: `go list -m -versions github.com/fsouza/fake-gcs-server`).
# The stamp file records which version the binary is, so a bump rebuilds it.
FAKE_GCS_VERSION="${FAKE_GCS_VERSION:-v1.56.1}"
STAMP="$BIN.version"

present() { [[ -x "$BIN" && -f "$STAMP" && "$(cat "$STAMP")" == "$FAKE_GCS_VERSION" ]]; }

if present; then
  echo "install-fake-gcs: ${BIN#$ROOT/} $FAKE_GCS_VERSION present (skipping)"
  exit 0
fi

waited=0
while pgrep -f "go install .*github.com/fsouza/fake-gcs-server" >/dev/null 2>&1; do
  if (( waited == 0 )); then echo "install-fake-gcs: another fake-gcs-server build is running; waiting for it ..."; fi
  sleep 5; waited=$((waited + 5))
  if (( waited > 900 )); then echo "install-fake-gcs: gave up waiting for the other build" >&2; break; fi
done
if present; then
  echo "install-fake-gcs: ${BIN#$ROOT/} built by the concurrent build"
  exit 0
fi

command -v go >/dev/null || { echo "install-fake-gcs: go not found on PATH" >&2; exit 1; }
echo "install-fake-gcs: building github.com/fsouza/fake-gcs-server@$FAKE_GCS_VERSION ..."
start=$(date +%s)
mkdir -p "$BIN_DIR"
GOBIN="$BIN_DIR" go install "github.com/fsouza/fake-gcs-server@$FAKE_GCS_VERSION"
echo "$FAKE_GCS_VERSION" > "$STAMP"
echo "install-fake-gcs: built in $(( $(date +%s) - start ))s"
