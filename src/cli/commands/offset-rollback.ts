/**
 * `kafka-backup offset-rollback snapshot|list|show|rollback|verify|delete`: save consumer groups'
 * committed offsets in the store (`offset-snapshots/{snapshot_id}/`) and put them back
 * (src/offsets/rollback.ts). `--path` takes a directory or a storage URL.
 */
import type { Command } from 'commander';
import {
  deleteSnapshot,
  listSnapshots,
  loadSnapshot,
  rollbackSnapshot,
  snapshotMetadata,
  takeSnapshot,
  verifySnapshot,
  type OffsetSnapshot,
  type VerifyResult,
} from '../../offsets/rollback.js';
import { openStore, parseStorageUrl } from '../../storage/index.js';
import type { ObjectStore } from '../../storage/store.js';
import { columns, parseFormat, render } from '../output.js';
import { addSecurityFlags, commaList, kafkaSettings, type SecurityFlags } from './offset-reset-flags.js';

const out = (s: string): void => void process.stdout.write(s.endsWith('\n') ? s : s + '\n');

async function withStore<T>(path: string, fn: (store: ObjectStore) => Promise<T>): Promise<T> {
  const store = await openStore(parseStorageUrl(path));
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

interface Common extends SecurityFlags {
  path: string;
  format: string;
  snapshotId: string;
  bootstrapServers?: string[];
}

function snapshotText(s: OffsetSnapshot): string {
  const lines = [
    `Snapshot ${s.snapshot_id}  created ${s.created_at}${s.description ? `  "${s.description}"` : ''}`,
    `  Cluster ${s.cluster_id ?? '-'} (${s.bootstrap_servers.join(',')})${s.restore_id ? `; restore ${s.restore_id}` : ''}`,
  ];
  const rows = [['  group', 'topic/partition', 'offset']];
  for (const [g, go] of Object.entries(s.group_offsets).sort(([a], [b]) => a.localeCompare(b))) {
    if (go.partition_count === 0) rows.push([`  ${g}`, '(no committed offsets)', '']);
    for (const [t, parts] of Object.entries(go.offsets)) for (const [p, v] of Object.entries(parts)) rows.push([`  ${g}`, `${t}/${p}`, String(v.offset)]);
  }
  lines.push(...columns(rows, 3));
  return lines.join('\n');
}

function verifyText(v: VerifyResult): string {
  if (v.verified) return `Verified: the live offsets of ${v.groups_verified} group(s) match snapshot ${v.snapshot_id}`;
  const rows = [['  group', 'topic/partition', 'expected', 'actual']];
  for (const m of v.mismatches)
    rows.push([
      `  ${m.group_id}`,
      `${m.topic}/${m.partition}`,
      m.expected_offset === null ? 'none' : String(m.expected_offset),
      m.actual_offset === null ? 'none' : String(m.actual_offset),
    ]);
  return [`MISMATCH: ${v.groups_mismatched} group(s) differ from snapshot ${v.snapshot_id} (${v.groups_verified} match)`, ...columns(rows, 3)].join('\n');
}

export function registerOffsetRollbackCommands(program: Command): void {
  const rb = program.command('offset-rollback').description("Save consumer groups' committed offsets, and put them back if a reset was wrong");

  addSecurityFlags(rb.command('snapshot').description("Save the groups' committed offsets on the cluster"))
    .requiredOption('-p, --path <path>', 'store for the snapshots: a directory or a storage URL')
    .option('-g, --groups <groups>', 'consumer groups, comma-separated or repeated (default: every group of the cluster)', commaList)
    .option('--bootstrap-servers <servers>', 'cluster, comma-separated or repeated', commaList)
    .option('-d, --description <text>', 'a note stored with the snapshot')
    .option('-f, --format <format>', 'text or json', 'text')
    .action(async (o: Common & { groups?: string[]; description?: string }) => {
      const format = parseFormat(o.format, ['text', 'json']);
      const settings = kafkaSettings(o.bootstrapServers, o, process.env, 'offset-rollback snapshot');
      await withStore(o.path, async (store) => {
        const s = await takeSnapshot({ store, settings, groups: o.groups ?? [], description: o.description });
        const m = snapshotMetadata(s);
        out(render(format, m, () => `Snapshot ${m.snapshot_id} saved: ${m.group_count} group(s), ${m.offset_count} offset(s)`));
      });
    });

  rb.command('list')
    .description('List the saved snapshots, newest first')
    .requiredOption('-p, --path <path>', 'store of the snapshots')
    .option('-f, --format <format>', 'text or json', 'text')
    .action(async (o: Common) => {
      const format = parseFormat(o.format, ['text', 'json']);
      await withStore(o.path, async (store) => {
        const l = await listSnapshots(store);
        out(
          render(format, l, () =>
            l.length === 0
              ? `No offset snapshots in ${store.url}`
              : columns(
                  [
                    ['snapshot', 'created', 'groups', 'offsets', 'restore', 'description'],
                    ...l.map((m) => [m.snapshot_id, m.created_at, String(m.group_count), String(m.offset_count), m.restore_id ?? '-', m.description ?? '']),
                  ],
                  3,
                ).join('\n'),
          ),
        );
      });
    });

  rb.command('show')
    .description('Show one snapshot')
    .requiredOption('-p, --path <path>', 'store of the snapshots')
    .requiredOption('-s, --snapshot-id <id>', 'snapshot id (snap-…)')
    .option('-f, --format <format>', 'text or json', 'text')
    .action(async (o: Common) => {
      const format = parseFormat(o.format, ['text', 'json']);
      await withStore(o.path, async (store) => {
        const s = await loadSnapshot(store, o.snapshotId);
        out(render(format, s, () => snapshotText(s)));
      });
    });

  addSecurityFlags(rb.command('rollback').description("Re-commit the snapshot's offsets (refuses groups with active members), then verify"))
    .requiredOption('-p, --path <path>', 'store of the snapshots')
    .requiredOption('-s, --snapshot-id <id>', 'snapshot id')
    .option('--bootstrap-servers <servers>', "cluster (default: the snapshot's)", commaList)
    .option('--verify', 'always on: the offsets are verified after the rollback')
    .option('-f, --format <format>', 'text or json', 'text')
    .action(async (o: Common) => {
      const format = parseFormat(o.format, ['text', 'json']);
      await withStore(o.path, async (store) => {
        const s = await loadSnapshot(store, o.snapshotId);
        const settings = kafkaSettings(o.bootstrapServers?.length ? o.bootstrapServers : s.bootstrap_servers, o, process.env, 'offset-rollback rollback');
        const r = await rollbackSnapshot(s, settings);
        out(
          render(format, r, () =>
            [
              `Rollback to ${s.snapshot_id}: ${r.result.status}: ${r.result.groups_rolled_back} group(s) rolled back, ${r.result.groups_failed} failed; ${r.result.offsets_restored} offset(s) re-committed, ${r.result.offsets_deleted} committed since deleted (${r.result.duration_ms} ms)`,
              ...r.result.errors.map((e) => `  error: ${e}`),
              verifyText(r.verification),
            ].join('\n'),
          ),
        );
        if (r.result.status !== 'success') process.exitCode = 1;
      });
    });

  addSecurityFlags(rb.command('verify').description('Compare the live offsets with a snapshot; exit 1 if they differ'))
    .requiredOption('-p, --path <path>', 'store of the snapshots')
    .requiredOption('-s, --snapshot-id <id>', 'snapshot id')
    .option('--bootstrap-servers <servers>', "cluster (default: the snapshot's)", commaList)
    .option('-f, --format <format>', 'text or json', 'text')
    .action(async (o: Common) => {
      const format = parseFormat(o.format, ['text', 'json']);
      await withStore(o.path, async (store) => {
        const s = await loadSnapshot(store, o.snapshotId);
        const settings = kafkaSettings(o.bootstrapServers?.length ? o.bootstrapServers : s.bootstrap_servers, o, process.env, 'offset-rollback verify');
        const v = await verifySnapshot(s, settings);
        out(render(format, v, () => verifyText(v)));
        if (!v.verified) process.exitCode = 1;
      });
    });

  rb.command('delete')
    .description('Delete a snapshot')
    .requiredOption('-p, --path <path>', 'store of the snapshots')
    .requiredOption('-s, --snapshot-id <id>', 'snapshot id')
    .action(async (o: Common) => {
      await withStore(o.path, async (store) => {
        await deleteSnapshot(store, o.snapshotId);
        out(`Snapshot ${o.snapshotId} deleted`);
      });
    });
}
