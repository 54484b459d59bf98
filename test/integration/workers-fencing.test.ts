/**
 * The zombie's late writes are refused by the store itself (filesystem and MinIO): a worker that
 * lost a partition while paused still holds the index version it last wrote, and every write it
 * attempts after waking names a version the new owner replaced. Not a timing argument: the
 * compare-and-swap refuses it, whatever the moment it wakes up.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PartitionLostError, OwnedPartitionStore, takeOver } from '../../src/backup/workers/ownership.js';
import { updateManifest } from '../../src/backup/workers/shared-manifest.js';
import { readJsonObject, writeJsonObject } from '../../src/format/json-object.js';
import { keys } from '../../src/format/layout.js';
import { manifestSchema, type Manifest } from '../../src/format/manifest.js';
import { partitionIndexSchema, type PartitionIndex } from '../../src/format/partition-index.js';
import { FsStore } from '../../src/storage/fs.js';
import { openStore } from '../../src/storage/index.js';
import type { ObjectStore } from '../../src/storage/store.js';
import { PreconditionFailedError } from '../../src/util/errors.js';
import { getTestS3, stopTestS3, s3Spec } from '../helpers/minio.js';

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kb-fence-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
  await stopTestS3();
});

const B = 'fenced';
const T = 'orders';

function entry(first: number, last: number, key: string): PartitionIndex['segments'][number] {
  return {
    key,
    first_offset: first,
    last_offset: last,
    record_count: last - first + 1,
    batch_count: 1,
    min_timestamp: 0,
    max_timestamp: 0,
    raw_bytes: 1,
    stored_bytes: 1,
    codec: 'none',
    sha256: '0'.repeat(64),
    aborted_transactions: [],
    created_at: 0,
  };
}

async function* slowBody(parts: Buffer[], gate: Promise<void>): AsyncGenerator<Buffer> {
  yield parts[0]!;
  await gate; // the zombie is paused here, mid-upload
  for (const p of parts.slice(1)) yield p;
}

function fencingSuite(name: string, makeStore: () => Promise<ObjectStore>): void {
  describe(`fencing of a zombie worker: ${name}`, () => {
    it('the zombie wakes mid-upload: its segment lands under its own epoch key, its index write is refused by the store, the new owner is untouched', async () => {
      const store = await makeStore();
      try {
        const indexKey = keys.partitionIndex(B, T, 0);
        // Worker A owns the partition and has committed one segment.
        const a = await takeOver(store, B, T, 0, 0, { memberId: 'A', groupGeneration: 1 }, 0);
        const lostA: PartitionLostError[] = [];
        const ownedA = new OwnedPartitionStore(store, indexKey, T, 0, a.version, (e) => lostA.push(e));
        const seg1 = keys.streamedSegment(B, T, 0, 0, a.epoch);
        await ownedA.put(seg1, Buffer.from('segment 0-9'));
        await writeJsonObject(ownedA, indexKey, { ...a.index, segments: [entry(0, 9, seg1)], next_offset: 10, generation: (a.index.generation ?? 0) + 1 });
        // A starts streaming its next segment and freezes (SIGSTOP, a VM pause) before finishing.
        let wake!: () => void;
        const gate = new Promise<void>((r) => (wake = r));
        const zombieSeg = keys.streamedSegment(B, T, 0, 10, a.epoch);
        const upload = store.putStream(zombieSeg, slowBody([Buffer.from('zombie '), Buffer.from('data')], gate));
        // Meanwhile the group gave the partition to B, which takes it over and commits its own segment from offset 10.
        const b = await takeOver(store, B, T, 0, 0, { memberId: 'B', groupGeneration: 2 }, 0);
        assert.equal(b.epoch, a.epoch + 1);
        assert.equal(b.index.next_offset, 10, 'B resumes exactly where A committed');
        const ownedB = new OwnedPartitionStore(store, indexKey, T, 0, b.version, () => assert.fail('B must not lose the partition'));
        const bSeg = keys.streamedSegment(B, T, 0, 10, b.epoch);
        assert.notEqual(bSeg, zombieSeg, 'the owners never share a segment key');
        await ownedB.put(bSeg, Buffer.from('segment 10-19 by B'));
        const bIndex: PartitionIndex = {
          ...b.index,
          segments: [...b.index.segments, entry(10, 19, bSeg)],
          next_offset: 20,
          generation: (b.index.generation ?? 0) + 1,
        };
        await writeJsonObject(ownedB, indexKey, bIndex);
        // The zombie wakes: its upload completes (a key nobody names), then its index write is refused.
        wake();
        await upload;
        await assert.rejects(
          writeJsonObject(ownedA, indexKey, { ...a.index, segments: [entry(0, 9, seg1), entry(10, 14, zombieSeg)], next_offset: 15 }),
          (e: unknown) => e instanceof PartitionLostError && e.cause instanceof PreconditionFailedError,
        );
        assert.equal(lostA.length, 1, 'A learns it lost the partition');
        // Even straight at the store, bypassing A's wrapper: the version A holds is refused.
        await assert.rejects(store.putIfMatch(indexKey, Buffer.from('{}'), a.version), PreconditionFailedError);
        // Once lost, A writes nothing more through its store.
        await assert.rejects(ownedA.put(keys.streamedSegment(B, T, 0, 15, a.epoch), Buffer.from('x')), PartitionLostError);
        const stored = await readJsonObject(store, indexKey, partitionIndexSchema);
        assert.deepEqual(
          stored?.segments.map((s) => s.key),
          [seg1, bSeg],
          'the index is B’s: A’s late segment is not named',
        );
        assert.equal(stored?.owner?.member_id, 'B');
        assert.equal((await store.get(bSeg)).toString(), 'segment 10-19 by B', 'B’s segment is untouched');
        // The next takeover removes the zombie's unreferenced segment, and never a named one.
        await takeOver(store, B, T, 0, 0, { memberId: 'C', groupGeneration: 3 }, 0);
        assert.equal(await store.exists(zombieSeg), false, 'the orphan of an earlier epoch is removed');
        assert.equal(await store.exists(bSeg), true);
        assert.equal(await store.exists(seg1), true);
      } finally {
        await store.close();
      }
    });

    it('a takeover by a member of an older group generation than the owner is refused', async () => {
      const store = await makeStore();
      try {
        await takeOver(store, B, T, 1, 0, { memberId: 'new', groupGeneration: 7 }, 0);
        await assert.rejects(takeOver(store, B, T, 1, 0, { memberId: 'old', groupGeneration: 5 }, 0), PartitionLostError);
      } finally {
        await store.close();
      }
    });

    it('concurrent manifest updates merge: no worker’s write is lost (never last-writer-wins)', async () => {
      const store = await makeStore();
      try {
        const base: Manifest = {
          format_version: 1,
          generation: 0,
          tool_version: 't',
          backup_id: B,
          status: 'running',
          mode: 'continuous',
          source_cluster_id: null,
          source_bootstrap_servers: [],
          compression: 'none',
          include_offset_headers: false,
          created_at: 0,
          updated_at: 0,
          completed_at: null,
          topics: [],
        };
        await updateManifest(store, B, () => structuredClone(base));
        const names = Array.from({ length: 6 }, (_, i) => `topic-${i}`);
        await Promise.all(
          names.map((name) =>
            updateManifest(store, B, (m) => {
              const cur = m ?? structuredClone(base);
              cur.topics.push({ name, partition_count: 1, configs: {}, partitions: [{ partition: 0, log_start_offset: 0, end_offset: 0 }] });
              return cur;
            }),
          ),
        );
        const m = await readJsonObject(store, keys.manifest(B), manifestSchema);
        assert.deepEqual(m?.topics.map((t) => t.name).sort(), names);
        assert.equal(m?.generation, 7);
      } finally {
        await store.close();
      }
    });
  });
}

fencingSuite('filesystem', async () => new FsStore(join(dir, 'fs')));
let bucket: string | undefined;
fencingSuite('s3 (MinIO)', async () => {
  const s3 = await getTestS3();
  bucket ??= await s3.freshBucket('kb-fence');
  return openStore(s3Spec(s3, bucket, `run-${Date.now()}-${Math.random().toString(36).slice(2)}`));
});
