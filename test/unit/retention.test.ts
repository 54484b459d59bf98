/**
 * Retention policy (src/backup/retention/retention-policy.ts), the pruned-ranges record
 * (src/format/pruned.ts) and the backup.retention config keys: pure logic, no servers. The
 * prune itself against real storage and a real broker: test/integration/prune.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { backupOptions } from '../../src/cli/config-mapping.js';
import { ConfigFileError, parseConfigText } from '../../src/config/index.js';
import type { SegmentEntry } from '../../src/format/partition-index.js';
import { emptyPrunedLog, prunedBelow, prunedLogSchema, recordRemoval } from '../../src/format/pruned.js';
import { dropOldest } from '../../src/backup/retention/prune-apply.js';
import { checkPolicy, decideRetention, parseByteSize, parseDuration } from '../../src/backup/retention/retention-policy.js';
import { prunedWindowWarnings } from '../../src/restore/pruned-window.js';
import type { ObjectStore } from '../../src/storage/store.js';
import { UserError } from '../../src/util/errors.js';

const DAY = 86_400_000;
const NOW = 1_800_000_000_000;

/** A segment of `topic/partition` at offsets first..first+9 whose newest record is `ageDays` old. */
function seg(first: number, ageDays: number, bytes = 100): SegmentEntry {
  const t = NOW - ageDays * DAY;
  return {
    key: `b/topics/t/0/${String(first).padStart(20, '0')}.kbseg`,
    first_offset: first,
    last_offset: first + 9,
    record_count: 10,
    batch_count: 1,
    min_timestamp: t - 1000,
    max_timestamp: t,
    raw_bytes: bytes,
    stored_bytes: bytes,
    codec: 'zstd',
    sha256: '0'.repeat(64),
    aborted_transactions: [],
    created_at: t,
  };
}

const removedFirsts = (d: ReturnType<typeof decideRetention>, partition = 0): number[] =>
  d.partitions.find((p) => p.partition === partition)?.remove.map((r) => r.entry.first_offset) ?? [];

describe('retention policy', () => {
  test('removes only a contiguous run of the oldest segments: an old segment after a newer one stays', () => {
    // Ages 40, 35, 5 (new), 50 (old again, e.g. a late producer's timestamps), 1.
    const d = decideRetention(
      [{ topic: 't', partition: 0, segments: [seg(0, 40), seg(10, 35), seg(20, 5), seg(30, 50), seg(40, 1)] }],
      { maxAgeMs: 30 * DAY },
      NOW,
    );
    assert.deepEqual(removedFirsts(d), [0, 10]);
    assert.deepEqual(
      d.partitions[0]!.remove.map((r) => r.reason),
      ['max_age', 'max_age'],
    );
  });

  test('never removes the newest keep_segments, and always keeps the segment at the resume point', () => {
    const old = [seg(0, 90), seg(10, 80), seg(20, 70), seg(30, 60)];
    assert.deepEqual(removedFirsts(decideRetention([{ topic: 't', partition: 0, segments: old }], { maxAgeMs: DAY, keepSegments: 3 }, NOW)), [0]);
    assert.deepEqual(removedFirsts(decideRetention([{ topic: 't', partition: 0, segments: old }], { maxAgeMs: DAY }, NOW)), [0, 10, 20]);
    assert.deepEqual(decideRetention([{ topic: 't', partition: 0, segments: [seg(0, 90)] }], { maxAgeMs: DAY }, NOW).partitions, []);
  });

  test('--before removes what is older than the time', () => {
    const d = decideRetention([{ topic: 't', partition: 0, segments: [seg(0, 10), seg(10, 8), seg(20, 1)] }], { before: NOW - 9 * DAY }, NOW);
    assert.deepEqual(removedFirsts(d), [0]);
    assert.equal(d.partitions[0]!.remove[0]!.reason, 'before');
  });

  test('max_total_bytes removes the oldest segment of any partition next, until the backup fits', () => {
    const parts = [
      { topic: 't', partition: 0, segments: [seg(0, 10), seg(10, 4), seg(20, 1)] },
      { topic: 't', partition: 1, segments: [seg(0, 8), seg(10, 6), seg(20, 1)] },
    ];
    const d = decideRetention(parts, { maxTotalBytes: 300 }, NOW);
    // 600 bytes down to 300: the three oldest by newest record go (10 days old in p0, then 8 and 6 in p1).
    assert.deepEqual(removedFirsts(d, 0), [0]);
    assert.deepEqual(removedFirsts(d, 1), [0, 10]);
    assert.equal(d.bytesAfter, 300);
    assert.equal(d.overBudget, undefined);
  });

  test('max_total_bytes that the kept segments exceed is reported, not met by removing them', () => {
    const d = decideRetention([{ topic: 't', partition: 0, segments: [seg(0, 10), seg(10, 1)] }], { maxTotalBytes: 50 }, NOW);
    assert.deepEqual(removedFirsts(d), [0]);
    assert.match(d.overBudget ?? '', /over max_total_bytes 50: only the newest 1 segment/);
  });

  test('a policy without a limit, or keep_segments 0, is a one-line usage error naming the setting', () => {
    assert.throws(
      () => checkPolicy({ keepSegments: 2 }, 'prune'),
      (e: unknown) => e instanceof UserError && /prune: no limit given: set max_age \(--older-than\)/.test(e.message),
    );
    assert.throws(
      () => checkPolicy({ maxAgeMs: DAY, keepSegments: 0 }, 'prune'),
      (e: unknown) => e instanceof UserError && /keep_segments must be an integer >= 1/.test(e.message),
    );
  });

  test('durations and sizes', () => {
    assert.equal(parseDuration('30d', 'x'), 30 * DAY);
    assert.equal(parseDuration('90m', 'x'), 90 * 60_000);
    assert.equal(parseByteSize('10GiB', 'x'), 10 * 1024 ** 3);
    assert.equal(parseByteSize('1500', 'x'), 1500);
    assert.throws(() => parseDuration('30 days', '--older-than'), /--older-than: "30 days" is not a duration; write a whole number and a unit/);
    assert.throws(() => parseByteSize('-5', '--max-total-bytes'), /--max-total-bytes: "-5" is not a size/);
  });

  test('dropOldest removes only the oldest segments, and never the last one', () => {
    const idx = {
      format_version: 1 as const,
      topic: 't',
      partition: 0,
      next_offset: 30,
      segments: [seg(0, 3), seg(10, 2), seg(20, 1)],
      gaps: [],
      updated_at: 0,
    };
    assert.equal(dropOldest(idx, [seg(10, 2)]), false, 'not the oldest');
    assert.equal(dropOldest(idx, idx.segments.slice()), false, 'all of them');
    assert.equal(idx.segments.length, 3);
    assert.equal(dropOldest(idx, [seg(0, 3)]), true);
    assert.deepEqual(
      idx.segments.map((s) => s.first_offset),
      [10, 20],
    );
  });
});

describe('pruned-ranges record', () => {
  const removal = (from: number, to: number, reason: 'max_age' | 'max_total_bytes' = 'max_age') => ({
    topic: 't',
    partition: 0,
    from_offset: from,
    to_offset: to,
    min_timestamp: from,
    max_timestamp: to,
    segments: 1,
    records: to - from,
    stored_bytes: 10,
    reason,
    by: 'prune' as const,
  });

  test('consecutive removals of one partition and reason merge into one range; another reason starts a new one', () => {
    const log = emptyPrunedLog('b');
    recordRemoval(log, removal(0, 10), 1);
    recordRemoval(log, removal(10, 20), 2);
    recordRemoval(log, removal(20, 30, 'max_total_bytes'), 3);
    assert.equal(log.ranges.length, 2);
    assert.deepEqual(
      { ...log.ranges[0], topic: undefined },
      {
        ...removal(0, 20),
        topic: undefined,
        segments: 2,
        records: 20,
        stored_bytes: 20,
        min_timestamp: 0,
        max_timestamp: 20,
        first_pruned_at: 1,
        last_pruned_at: 2,
        removals: 2,
      },
    );
    assert.equal(prunedBelow(log, 't', 0), 30);
    assert.equal(prunedBelow(log, 't', 1), 0);
    assert.ok(prunedLogSchema.safeParse(log).success);
    assert.equal(prunedLogSchema.safeParse({ ...log, ranges: [{ ...log.ranges[0], to_offset: 0 }] }).success, false, 'an empty range is refused');
  });

  test('a restore reaching into pruned time says so and what remains; a window after it does not', () => {
    const log = emptyPrunedLog('b');
    recordRemoval(log, removal(0, 100), 5);
    const facts = [{ topic: 't', partition: 0, keptFromOffset: 100, keptFromTime: 150 }];
    const full = prunedWindowWarnings(log, facts, undefined, undefined);
    assert.equal(full.ranges.length, 1);
    assert.match(
      full.warnings[0] ?? '',
      /^t\/0: offsets 0\.\.99 .* were pruned by retention \(max_age.*the restore starts after them; what remains starts at offset 100/,
    );
    assert.match(prunedWindowWarnings(log, facts, 50, 80).warnings[0] ?? '', /the window starting .* reaches into pruned time \(its end too\)/);
    assert.deepEqual(prunedWindowWarnings(log, facts, 101, undefined).warnings, []);
  });
});

describe('backup.retention config', () => {
  const BASE = 'mode: backup\nbackup_id: b1\nsource:\n  bootstrap_servers: [localhost:9092]\nstorage:\n  backend: memory\n';
  const parse = (text: string) => parseConfigText(text, 'test.yaml', { env: {}, onWarning: () => {} });
  const failure = (text: string): string => {
    try {
      parse(text);
    } catch (err) {
      assert.ok(err instanceof ConfigFileError);
      return err.message;
    }
    return assert.fail('expected the config to be refused');
  };

  test('maps to the engine policy of a continuous backup', () => {
    const cfg = parse(`${BASE}backup:\n  continuous: true\n  retention:\n    max_age: 30d\n    max_total_bytes: 10GiB\n    keep_segments: 3\n`);
    assert.deepEqual(backupOptions(cfg, {} as ObjectStore).retention, { maxAgeMs: 30 * DAY, maxTotalBytes: 10 * 1024 ** 3, keepSegments: 3 });
    assert.equal(backupOptions(parse(`${BASE}backup:\n  continuous: true\n`), {} as ObjectStore).retention, undefined);
  });

  test('refused on a snapshot backup, without a limit, or with a bad duration, naming the key', () => {
    assert.match(
      failure(`${BASE}backup:\n  retention:\n    max_age: 30d\n`),
      /backup\.retention: applies to a continuous backup \(backup\.continuous: true\) only/,
    );
    assert.match(failure(`${BASE}backup:\n  continuous: true\n  retention:\n    keep_segments: 2\n`), /backup\.retention: sets no limit/);
    assert.match(
      failure(`${BASE}backup:\n  continuous: true\n  retention:\n    max_age: 30\n`),
      /backup\.retention\.max_age: expected a duration with a unit such as 30d/,
    );
    assert.match(
      failure(`${BASE}backup:\n  continuous: true\n  retention:\n    max_age: 30 days\n`),
      /backup\.retention\.max_age: "30 days" is not a duration/,
    );
    assert.match(failure(`${BASE}backup:\n  continuous: true\n  retention:\n    maxage: 30d\n`), /maxage/);
  });
});
