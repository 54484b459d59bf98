/**
 * A hostile or damaged backup (issue 13, item 5): caps on what a reader allocates for forged
 * bytes, the manifest's partition counts checked against the indexes, and the topic-config
 * allowlist. The same allowlist against a real broker: test/integration/restore-options.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_JSON_OBJECT_BYTES, readJsonObject, writeJsonObject } from '../../src/format/json-object.js';
import { keys } from '../../src/format/layout.js';
import { manifestSchema, type Manifest } from '../../src/format/manifest.js';
import { emptyIndex, partitionIndexSchema } from '../../src/format/partition-index.js';
import {
  decodeBlock,
  MAX_BLOCK_RAW_LENGTH,
  parseSegmentFooter,
  parseSegmentTrailer,
  readSegment,
  SegmentWriter,
  SEGMENT_TRAILER_SIZE,
  FOOTER_HEADER_SIZE,
  type SegmentCodec,
} from '../../src/format/segment.js';
import { compress, decompress, lz4FramesBound } from '../../src/kafka/protocol/compression.js';
import { crc32c } from '../../src/kafka/protocol/crc32c.js';
import { computeBatchCrc, CRC_OFFSET, encodeBatch } from '../../src/kafka/protocol/record-batch.js';
import { planRestore } from '../../src/restore/plan.js';
import { chooseTopicConfigs, DEFAULT_TOPIC_CONFIGS_FROM_BACKUP, holdBackDestructiveRetention } from '../../src/restore/topic-configs.js';
import { MemoryStore } from '../../src/storage/memory.js';
import { CorruptDataError, KafkaBackupError } from '../../src/util/errors.js';
import { testRestoreOptions } from '../helpers/options.js';

function segmentOf(codec: SegmentCodec): Buffer {
  const w = new SegmentWriter({ codec, blockSize: 4096 });
  const chunks: Buffer[] = [];
  let offset = 0n;
  for (let i = 0; i < 20; i++) {
    const records = Array.from({ length: 10 }, (_, j) => ({
      key: Buffer.from(`k${j}`),
      value: Buffer.from(`v${i}-${j}-`.repeat(20)),
      timestamp: 1_700_000_000_000n + BigInt(i),
      headers: [],
    }));
    chunks.push(...w.add(encodeBatch(records, { baseOffset: offset, compression: 'none' })));
    offset += 10n;
  }
  chunks.push(...w.finish().chunks);
  return Buffer.concat(chunks);
}

/** `bytes` with its footer's first block entry changed by `edit`, footer and trailer CRCs recomputed. */
function reSigned(bytes: Buffer, edit: (entry: Buffer, footer: Buffer) => void): Buffer {
  const trailer = parseSegmentTrailer(bytes, bytes.length);
  const f = Buffer.from(bytes.subarray(trailer.footerOffset, trailer.footerOffset + trailer.footerLength));
  edit(f.subarray(FOOTER_HEADER_SIZE, FOOTER_HEADER_SIZE + 72), f);
  const t = Buffer.from(bytes.subarray(bytes.length - SEGMENT_TRAILER_SIZE));
  t.writeUInt32BE(crc32c(f), 12);
  t.writeUInt32BE(crc32c(t.subarray(0, 20)), 20);
  return Buffer.concat([bytes.subarray(0, trailer.footerOffset), f, t]);
}

describe('forged segment blocks', () => {
  it('a footer stating a raw length over the format limit is refused before anything is inflated', () => {
    const bytes = segmentOf('zstd');
    // The footer's rawBytes total is forged to match, so only the block limit can catch it.
    const forged = reSigned(bytes, (e, f) => {
      f.writeBigInt64BE(f.readBigInt64BE(56) + BigInt(0xfffffff0 - e.readUInt32BE(12)), 56);
      e.writeUInt32BE(0xfffffff0, 12);
    });
    const trailer = parseSegmentTrailer(forged, forged.length);
    assert.throws(
      () => parseSegmentFooter(forged.subarray(trailer.footerOffset, trailer.footerOffset + trailer.footerLength), trailer),
      (e: unknown) => e instanceof CorruptDataError && /block 0: raw length 4294967280 is over the format's limit of 134217728 bytes per block/.test(e.message),
    );
    assert.throws(() => readSegment(forged), CorruptDataError);
  });

  it('decodeBlock refuses a block entry over the limit without inflating (a zstd bomb)', () => {
    // 160 MiB of zeros in a few KiB: the old limit (the stated raw length, up to 4 GiB) let it inflate whole.
    const bomb = compress('zstd', Buffer.alloc(MAX_BLOCK_RAW_LENGTH + 32 * 1024 * 1024), 3);
    const meta = {
      index: 0,
      storedOffset: 0,
      storedLength: bomb.length,
      rawLength: 0xffffffff,
      firstOffset: 0n,
      lastOffset: 0n,
      minTimestamp: 0n,
      maxTimestamp: 0n,
      recordCount: 1,
      batchCount: 1,
      controlBatchCount: 0,
      transactionalBatchCount: 0,
      crc: crc32c(bomb),
      codec: 'zstd' as const,
    };
    const before = process.memoryUsage().arrayBuffers;
    assert.throws(
      () => decodeBlock(bomb, meta),
      (e: unknown) => e instanceof CorruptDataError && /over the format's limit/.test(e.message),
    );
    assert.ok(process.memoryUsage().arrayBuffers - before < 64 * 1024 * 1024, 'nothing near the bomb size was allocated');
  });

  it('an lz4 frame that could inflate past the stated raw length is refused before inflating', () => {
    const bomb = compress('lz4', Buffer.alloc(64 * 1024 * 1024));
    assert.ok(bomb.length < 1024 * 1024);
    assert.ok(lz4FramesBound(bomb) >= 64 * 1024 * 1024);
    const meta = {
      index: 3,
      storedOffset: 0,
      storedLength: bomb.length,
      rawLength: 1024 * 1024,
      firstOffset: 0n,
      lastOffset: 0n,
      minTimestamp: 0n,
      maxTimestamp: 0n,
      recordCount: 1,
      batchCount: 1,
      controlBatchCount: 0,
      transactionalBatchCount: 0,
      crc: crc32c(bomb),
      codec: 'lz4' as const,
    };
    assert.throws(
      () => decodeBlock(bomb, meta),
      (e: unknown) => e instanceof CorruptDataError && /block 3: .*lz4 frame could inflate to \d+ bytes, over the limit of 1048576/.test(e.message),
    );
    // A frame within its limit still inflates, and garbage is not an lz4 frame.
    const small = Buffer.from('abc'.repeat(100_000));
    assert.deepEqual(decompress('lz4', compress('lz4', small), small.length), small);
    assert.throws(() => decompress('lz4', Buffer.from('not lz4 at all'), 100), /not an LZ4 frame/);
  });

  it('a stored length over the raw length is refused (the writer stores such blocks uncompressed)', () => {
    const bytes = segmentOf('none');
    const forged = reSigned(bytes, (e) => {
      e.writeUInt32BE(e.readUInt32BE(12) - 1, 12);
      e.writeUInt8(1, 68); // zstd, so the none-codec equality check does not fire first
    });
    assert.throws(
      () => readSegment(forged),
      (e: unknown) => e instanceof CorruptDataError && /stored length \d+ is over its raw length/.test(e.message),
    );
  });

  it('the writer refuses a batch larger than a block may be, so what it writes stays readable', () => {
    const batch = Buffer.alloc(MAX_BLOCK_RAW_LENGTH + 1024);
    batch.writeBigInt64BE(5n, 0);
    batch.writeInt32BE(batch.length - 12, 8);
    batch.writeInt8(2, 16);
    batch.writeInt32BE(0, 57);
    batch.writeUInt32BE(computeBatchCrc(batch), CRC_OFFSET);
    const w = new SegmentWriter({ codec: 'none', verifyCrc: false });
    assert.throws(
      () => w.add(batch, { min: 0n, max: 0n }),
      (e: unknown) =>
        e instanceof KafkaBackupError && e.code === 'BATCH_TOO_LARGE' && /offset 5 is \d+ bytes; a segment block holds at most 134217728 bytes/.test(e.message),
    );
  });
});

describe('manifest and index size caps', () => {
  it('a JSON object over the limit is refused with its key, without being read whole', async () => {
    const store = new MemoryStore();
    const key = keys.manifest('b1');
    await store.put(key, Buffer.alloc(MAX_JSON_OBJECT_BYTES + 1, 0x20));
    await assert.rejects(
      readJsonObject(store, key, manifestSchema),
      (e: unknown) =>
        e instanceof CorruptDataError &&
        e.message ===
          `b1/manifest.json: more than ${MAX_JSON_OBJECT_BYTES} bytes, over the ${MAX_JSON_OBJECT_BYTES}-byte limit for a manifest, index or state object (damaged, or not written by kafka-backup)`,
    );
    const idxKey = keys.partitionIndex('b1', 't', 0);
    await store.put(idxKey, Buffer.alloc(MAX_JSON_OBJECT_BYTES + 10, 0x20));
    await assert.rejects(readJsonObject(store, idxKey, partitionIndexSchema), /b1\/topics\/t\/0\/index\.json: more than/);
    // At the limit it is read (and then judged by its content).
    await store.put(idxKey, Buffer.concat([Buffer.from(JSON.stringify(emptyIndex('t', 0))), Buffer.alloc(MAX_JSON_OBJECT_BYTES - 200, 0x20)]));
    assert.equal((await readJsonObject(store, idxKey, partitionIndexSchema))?.topic, 't');
  });

  it('the writer refuses an object it could not read back', async () => {
    const store = new MemoryStore();
    await assert.rejects(writeJsonObject(store, 'b1/manifest.json', { pad: 'x'.repeat(MAX_JSON_OBJECT_BYTES) }), /b1\/manifest\.json: \d+ bytes, over the/);
    assert.equal(await store.exists('b1/manifest.json'), false);
  });
});

function manifestWith(topic: Manifest['topics'][number], status: Manifest['status'] = 'complete'): Manifest {
  return {
    format_version: 1,
    tool_version: 'test',
    backup_id: 'b1',
    status,
    mode: 'snapshot',
    source_cluster_id: null,
    source_bootstrap_servers: ['k:9092'],
    compression: 'zstd',
    include_offset_headers: false,
    created_at: 1,
    updated_at: 1,
    completed_at: 1,
    topics: [topic],
  };
}

async function storeWith(m: Manifest, indexed: number[]): Promise<MemoryStore> {
  const store = new MemoryStore();
  await writeJsonObject(store, keys.manifest('b1'), m);
  for (const p of indexed) await writeJsonObject(store, keys.partitionIndex('b1', 'orders', p), { ...emptyIndex('orders', p), next_offset: 0 });
  return store;
}

const parts = (n: number) => Array.from({ length: n }, (_, p) => ({ partition: p, log_start_offset: 0, end_offset: 0 }));

describe('manifest partition counts against the indexes', () => {
  it('a consistent backup plans with its partition count', async () => {
    const store = await storeWith(manifestWith({ name: 'orders', partition_count: 3, configs: {}, partitions: parts(3) }), [0, 1, 2]);
    const plan = await planRestore(testRestoreOptions('k:9092', store, 'b1'));
    assert.deepEqual(plan.errors, []);
    assert.equal(plan.topics[0]?.requiredTargetPartitions, 3);
  });

  it('a partition_count above the listed partitions is refused', async () => {
    const store = await storeWith(manifestWith({ name: 'orders', partition_count: 5000, configs: {}, partitions: parts(3) }), [0, 1, 2]);
    const plan = await planRestore(testRestoreOptions('k:9092', store, 'b1'));
    assert.ok(
      plan.errors.includes('b1/manifest.json: topic orders has partition_count 5000 but lists 3 partitions (damaged or edited manifest)'),
      plan.errors.join('\n'),
    );
  });

  it('a partition_count not confirmed by an index of its last partition is refused, even when only other partitions are restored', async () => {
    const store = await storeWith(manifestWith({ name: 'orders', partition_count: 4, configs: {}, partitions: parts(4) }), [0, 1, 2]);
    const plan = await planRestore(testRestoreOptions('k:9092', store, 'b1', { sourcePartitions: [0] }));
    assert.deepEqual(plan.errors, [
      'b1/manifest.json: topic orders has partition_count 4 but partition 3 has no index (b1/topics/orders/3/index.json), so the count is not confirmed',
    ]);
    const running = await storeWith(manifestWith({ name: 'orders', partition_count: 100_000, configs: {}, partitions: parts(100_000) }, 'running'), [0]);
    const p2 = await planRestore(testRestoreOptions('k:9092', running, 'b1', { sourcePartitions: [0] }));
    assert.match(
      p2.errors.join('\n'),
      /partition_count 100000 but partition 99999 has no index .*the backup \(status running\) has not reached that partition: run it to completion, or set restore\.allow_incomplete_backup: true/,
    );
    // An unfinished backup may not have started its last partitions yet: the user may accept the count.
    const p3 = await planRestore(testRestoreOptions('k:9092', running, 'b1', { sourcePartitions: [0], allowIncompleteBackup: true }));
    assert.deepEqual(p3.errors, []);
    assert.match(p3.warnings.join('\n'), /partition 99999 has no index .*a created topic gets 100000 partitions as the manifest says/);
  });
});

describe('topic configs from the backup', () => {
  const forged = {
    'retention.ms': '1',
    'unclean.leader.election.enable': 'true',
    'compression.type': 'zstd',
    'max.message.bytes': '2000000',
    'cleanup.policy': 'compact',
  };

  it('only the allowlist is copied by default; the rest is reported', () => {
    assert.deepEqual([...DEFAULT_TOPIC_CONFIGS_FROM_BACKUP], ['cleanup.policy', 'compression.type', 'max.message.bytes', 'retention.bytes', 'retention.ms']);
    assert.deepEqual(chooseTopicConfigs(forged), {
      applied: { 'cleanup.policy': 'compact', 'compression.type': 'zstd', 'max.message.bytes': '2000000', 'retention.ms': '1' },
      skipped: { 'unclean.leader.election.enable': 'true' },
    });
  });

  it('the user narrows the list, copies all with *, and sets values that win', () => {
    assert.deepEqual(chooseTopicConfigs(forged, ['cleanup.policy']).applied, { 'cleanup.policy': 'compact' });
    assert.deepEqual(chooseTopicConfigs(forged, ['*']).skipped, {});
    assert.deepEqual(chooseTopicConfigs(forged, ['compression.type'], { 'retention.ms': '-1', 'min.insync.replicas': '2' }), {
      applied: { 'compression.type': 'zstd', 'min.insync.replicas': '2', 'retention.ms': '-1' },
      skipped: { 'cleanup.policy': 'compact', 'max.message.bytes': '2000000', 'unclean.leader.election.enable': 'true' },
    });
  });

  it("a retention from the backup that would delete restored records at once is held back, a safe one applied, the user's kept", () => {
    const now = Date.UTC(2026, 0, 31);
    const extent = { oldestTimestamp: Date.UTC(2026, 0, 1), largestPartitionBytes: 5_000, now };
    const forgedChoice = {
      configs: { 'retention.ms': '1', 'retention.bytes': '100', 'compression.type': 'zstd' },
      configsSkipped: {} as Record<string, string>,
    };
    const why = holdBackDestructiveRetention(forgedChoice, {}, extent, 't');
    assert.deepEqual(forgedChoice, { configs: { 'compression.type': 'zstd' }, configsSkipped: { 'retention.ms': '1', 'retention.bytes': '100' } });
    assert.match(
      why.join('\n'),
      /t: the backup's retention\.ms=1 is not applied: the broker would delete restored records at once \(the oldest is 30 days old\)/,
    );
    const safe = { configs: { 'retention.ms': String(60 * 86_400_000), 'retention.bytes': '-1' }, configsSkipped: {} as Record<string, string> };
    assert.deepEqual(holdBackDestructiveRetention(safe, {}, extent, 't'), []);
    assert.deepEqual(safe.configs, { 'retention.ms': String(60 * 86_400_000), 'retention.bytes': '-1' });
    const own = { configs: { 'retention.ms': '1' }, configsSkipped: {} as Record<string, string> };
    assert.deepEqual(holdBackDestructiveRetention(own, { 'retention.ms': '1' }, extent, 't'), [], "the user's own value is theirs to choose");
  });

  it('the plan carries them per topic', async () => {
    const store = await storeWith(manifestWith({ name: 'orders', partition_count: 1, configs: forged, partitions: parts(1) }), [0]);
    const plan = await planRestore(testRestoreOptions('k:9092', store, 'b1', { topicConfigs: { 'retention.ms': '604800000' } }));
    assert.deepEqual(plan.topics[0]?.configs, {
      'cleanup.policy': 'compact',
      'compression.type': 'zstd',
      'max.message.bytes': '2000000',
      'retention.ms': '604800000',
    });
    assert.deepEqual(plan.topics[0]?.configsSkipped, { 'unclean.leader.election.enable': 'true' });
  });
});
