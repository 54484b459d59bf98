/** `copy --from URL --to URL [--backup-id ID]`: a verified, incremental, resumable copy of backups (src/lifecycle/copy.ts). */
import { Option, type Command } from 'commander';
import { runCopy, type CopyResult } from '../../lifecycle/copy.js';
import { openStore, parseStorageUrl, type StorageSpec } from '../../storage/index.js';
import type { ObjectStore } from '../../storage/store.js';
import { UserError } from '../../util/errors.js';
import { logger } from '../../util/logger.js';
import { bytes, num, parseFormat, render } from '../output.js';

interface CopyFlags {
  from: string;
  to: string;
  backupId?: string;
  toEncryptionKeyFile?: string;
  toEncryptionKeyEnv?: string;
  toEncryptionKeyId?: string;
  format: string;
}

/** The destination: the source's key (the global --encryption-key-* options) unless --to-encryption-key-* name another. */
function destinationSpec(o: CopyFlags): StorageSpec {
  const spec = parseStorageUrl(o.to);
  if (o.toEncryptionKeyFile !== undefined && o.toEncryptionKeyEnv !== undefined) {
    throw new UserError('USAGE', 'copy: give one of --to-encryption-key-file and --to-encryption-key-env, not both');
  }
  if (o.toEncryptionKeyId !== undefined && o.toEncryptionKeyFile === undefined && o.toEncryptionKeyEnv === undefined) {
    throw new UserError('USAGE', 'copy: --to-encryption-key-id needs --to-encryption-key-file or --to-encryption-key-env');
  }
  if (o.toEncryptionKeyFile !== undefined || o.toEncryptionKeyEnv !== undefined) {
    spec.encryption = { keyFile: o.toEncryptionKeyFile, keyEnv: o.toEncryptionKeyEnv, keyId: o.toEncryptionKeyId };
  }
  return spec;
}

export function copyJson(r: CopyResult): unknown {
  return {
    from: r.from,
    to: r.to,
    backups: r.backups.map((b) => ({
      backup_id: b.backupId,
      complete: b.complete,
      segments_copied: b.segmentsCopied,
      segments_unchanged: b.segmentsUnchanged,
      segments_verified_in_place: b.segmentsVerified,
      bytes_copied: b.bytesCopied,
      metadata_objects: b.metadataObjects,
      removed: b.removed,
    })),
  };
}

export function copyText(r: CopyResult): string {
  const lines = [`Copy ${r.from} → ${r.to}`];
  for (const b of r.backups) {
    lines.push(
      `  ${b.backupId}: ${b.complete ? 'complete' : 'INTERRUPTED (run the same copy again to resume)'}`,
      `    Segments copied: ${num(b.segmentsCopied)} (${bytes(b.bytesCopied)}, digest verified on the destination)   unchanged: ${num(b.segmentsUnchanged)}   already there, verified: ${num(b.segmentsVerified)}`,
      `    Metadata objects written: ${num(b.metadataObjects)}   Removed from the copy (gone at the source): ${num(b.removed.length)}`,
    );
  }
  return lines.join('\n');
}

export function registerCopyCommand(program: Command): void {
  program
    .command('copy')
    .description('Copy backups between two stores (verified, incremental, resumable); keep, change or add encryption')
    .requiredOption('--from <url>', 'source storage location: a directory, file://, s3://bucket/prefix, az://, gs://')
    .requiredOption('--to <url>', 'destination storage location')
    .option('-b, --backup-id <id>', 'copy this backup only (default: every backup at --from)')
    .addOption(
      new Option('--to-encryption-key-file <path>', "encrypt the copy with the key in this file (default: the source's key, --encryption-key-file/-env)").env(
        'KAFKA_BACKUP_TO_ENCRYPTION_KEY_FILE',
      ),
    )
    .addOption(
      new Option('--to-encryption-key-env <name>', 'encrypt the copy with the key in this environment variable (hex or base64)').env(
        'KAFKA_BACKUP_TO_ENCRYPTION_KEY_ENV',
      ),
    )
    .addOption(new Option('--to-encryption-key-id <id>', "key id recorded in the copy's objects (default: derived from the key)"))
    .option('-f, --format <format>', 'text, json or yaml', 'text')
    .action(async (o: CopyFlags) => {
      const format = parseFormat(o.format);
      const toSpec = destinationSpec(o);
      const from = await openStore(parseStorageUrl(o.from));
      let to: ObjectStore | undefined;
      const ac = new AbortController();
      const stop = (sig: NodeJS.Signals): void => {
        logger().warn(`${sig} received: stopping after the current object (run the same copy again to resume)`);
        ac.abort();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        to = await openStore(toSpec);
        const r = await runCopy({ from, to, backupId: o.backupId, signal: ac.signal, onProgress: (p) => logger().debug(p, 'copy') });
        process.stdout.write(render(format, copyJson(r), () => copyText(r)) + '\n');
        if (r.backups.some((b) => !b.complete)) process.exitCode = 130;
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        await from.close();
        await to?.close();
      }
    });
}
