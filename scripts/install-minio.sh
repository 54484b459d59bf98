#!/usr/bin/env bash
# Build the MinIO server binary into .cache/bin/minio with `go install`.
# Idempotent: skips when the binary exists and runs. Needs go on PATH.
# If another build into the same GOBIN is already running (e.g. started by hand),
# waits for it instead of starting a second one.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_DIR="$ROOT/.cache/bin"
BIN="$BIN_DIR/minio"
# Pinned, so every machine tests against the same server. MinIO tags no semver releases, so the Go
# module proxy knows it by pseudo-version (`go list -m github.com/minio/minio@latest` shows the newest).
MINIO_VERSION="${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"

STAMP="$BIN_DIR/minio.version"
if [[ -x "$BIN" ]] && "$BIN" --version >/dev/null 2>&1 && [[ "$(cat "$STAMP" 2>/dev/null)" == "$MINIO_VERSION" ]]; then
  echo "install-minio: ${BIN#$ROOT/} $MINIO_VERSION present (skipping)"
  exit 0
fi

# Wait for a concurrent `go install ...minio...` (same machine) to finish.
waited=0
while pgrep -f "go install .*github.com/minio/minio" >/dev/null 2>&1; do
  if (( waited == 0 )); then echo "install-minio: another minio build is running; waiting for it ..."; fi
  sleep 5; waited=$((waited + 5))
  if (( waited > 900 )); then echo "install-minio: gave up waiting for the other build" >&2; break; fi
done
if [[ -x "$BIN" ]] && "$BIN" --version >/dev/null 2>&1 && [[ "$(cat "$STAMP" 2>/dev/null)" == "$MINIO_VERSION" ]]; then
  echo "install-minio: ${BIN#$ROOT/} built by the concurrent build"
  exit 0
fi

command -v go >/dev/null || { echo "install-minio: go not found on PATH" >&2; exit 1; }
echo "install-minio: building github.com/minio/minio@$MINIO_VERSION (takes a few minutes) ..."
start=$(date +%s)
mkdir -p "$BIN_DIR"
GOBIN="$BIN_DIR" go install "github.com/minio/minio@$MINIO_VERSION"
echo "$MINIO_VERSION" > "$STAMP"
"$BIN" --version | head -1
echo "install-minio: built in $(( $(date +%s) - start ))s"
