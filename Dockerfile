# kafka-backup container image: the packed CLI (compiled JavaScript, production dependencies only) on Node 22.
#   docker build -t kafka-backup .
#   docker run --rm -v $PWD/backup.yaml:/etc/kafka-backup/backup.yaml:ro kafka-backup          # one worker
# The default command runs `kafka-backup backup --config /etc/kafka-backup/backup.yaml`; every worker of a
# distributed backup (backup.workers.group_id) runs exactly this. See docs/operations.md, "Running several workers".

FROM node:22-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# No install scripts are needed to build (docs/security.md); the `node` dev dependency is not used here.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json README.md ./
COPY bin ./bin
COPY src ./src
COPY docs ./docs
COPY scripts/bundle-kafka.ts ./scripts/
# The image's node runs the build (tsc, then the Kafka library bundle: what `npm run build` runs): with
# --ignore-scripts the `node` dev dependency has no binary, and npm scripts would put its shim first on PATH.
RUN node node_modules/typescript/bin/tsc -p tsconfig.build.json && node --import tsx scripts/bundle-kafka.ts \
 && npm pack --ignore-scripts && mv kafka-backup-*.tgz /kafka-backup.tgz

FROM node:22-bookworm-slim
COPY --from=build /kafka-backup.tgz /tmp/kafka-backup.tgz
RUN npm install --global --ignore-scripts --omit=optional --no-audit --no-fund /tmp/kafka-backup.tgz \
 && rm /tmp/kafka-backup.tgz && npm cache clean --force
# Logs go to stderr as JSON lines; the metrics server (health /health, readiness /ready, /metrics) listens on 8080.
EXPOSE 8080
USER node
ENTRYPOINT ["kafka-backup"]
CMD ["backup", "--config", "/etc/kafka-backup/backup.yaml"]
