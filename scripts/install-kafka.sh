#!/usr/bin/env bash
# Fetch a runnable Apache Kafka (jars only) from Maven Central into .cache/kafka-jars.
# Idempotent: a marker file records the pom.xml hash it was built from; when it
# matches, nothing is done. Needs java (17+) and mvn on PATH.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/.cache/kafka-jars"
MARKER="$DEST/.installed"

command -v java >/dev/null || { echo "install-kafka: java not found on PATH" >&2; exit 1; }
command -v mvn >/dev/null || { echo "install-kafka: mvn not found on PATH" >&2; exit 1; }

want="$(sha256sum "$ROOT/pom.xml" | cut -d' ' -f1)"
if [[ -f "$MARKER" && "$(cat "$MARKER")" == "$want" ]] && compgen -G "$DEST/kafka_2.13-*.jar" >/dev/null; then
  echo "install-kafka: jars present in ${DEST#$ROOT/} (skipping)"
  exit 0
fi

echo "install-kafka: downloading Kafka jars with maven into ${DEST#$ROOT/} ..."
start=$(date +%s)
rm -rf "$DEST"
mkdir -p "$DEST"
# -B: batch mode (no colours / progress, works without a TTY in CI)
mvn -q -B -Dstyle.color=never -f "$ROOT/pom.xml" dependency:copy-dependencies -DoutputDirectory="$DEST"
echo "$want" > "$MARKER"
echo "install-kafka: $(ls "$DEST"/*.jar | wc -l) jars in $(( $(date +%s) - start ))s"
