/**
 * A backup run in its own process, so a test can SIGKILL it at any moment and start it again.
 *
 *   node --import tsx test/helpers/backup-child.ts '<json BackupChildConfig>'
 *
 * Runs runBackup with the options in the JSON argument (a filesystem store at `dir`). SIGTERM or
 * SIGINT stops it cleanly (the current segment is flushed, the manifest marked stopped), as the
 * CLI does; the summary is printed to stdout as one JSON line and the process exits 0.
 */
import { runBackup } from '../../src/backup/engine.js';
import type { BackupOptions } from '../../src/backup/options.js';
import { FsStore } from '../../src/storage/fs.js';

export interface BackupChildConfig {
  bootstrap: string;
  dir: string;
  backupId: string;
  topics: string[];
  /** Overrides of the defaults below (plain JSON values only). */
  options?: Partial<Omit<BackupOptions, 'store' | 'source' | 'signal' | 'onProgress' | 'backupId' | 'topics'>>;
}

export function childOptions(cfg: BackupChildConfig, signal?: AbortSignal): BackupOptions {
  return {
    backupId: cfg.backupId,
    source: { bootstrapServers: [cfg.bootstrap] },
    store: new FsStore(cfg.dir),
    topics: { include: cfg.topics, exclude: [] },
    includeInternalTopics: false,
    internalTopics: [],
    compression: 'zstd',
    compressionLevel: 3,
    startOffset: 'earliest',
    segmentMaxBytes: 4 * 1024,
    segmentMaxIntervalMs: 300,
    continuous: true,
    pollIntervalMs: 50,
    maxConcurrentPartitions: 8,
    fetchMaxBytes: 16 * 1024,
    syncIntervalSecs: 1,
    checkpointIntervalSecs: 1,
    includeOffsetHeaders: true,
    ...cfg.options,
    signal,
  };
}

async function main(): Promise<void> {
  const arg = process.argv[2];
  if (!arg) throw new Error('usage: backup-child.ts <json config>');
  const cfg = JSON.parse(arg) as BackupChildConfig;
  const ac = new AbortController();
  process.on('SIGTERM', () => ac.abort());
  process.on('SIGINT', () => ac.abort());
  const sum = await runBackup(childOptions(cfg, ac.signal));
  process.stdout.write(JSON.stringify(sum) + '\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`backup-child: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
