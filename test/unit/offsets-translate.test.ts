import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { OffsetMapBuilder, type OffsetRun } from '../../src/restore/offset-map.js';
import {
  chooseSnapshot,
  countDuplicates,
  MissingHeaderError,
  searchByHeader,
  timestampLookup,
  translateExact,
  translateOne,
  type ProbeResult,
} from '../../src/offsets/translate.js';

/** Runs of a restore that kept the given source offsets of orders/0 (in order), from target offset `base`. */
function runsOf(kept: number[], base = 0, topic = 'orders', partition = 0): OffsetRun[] {
  const b = new OffsetMapBuilder();
  kept.forEach((s, i) => {
    b.add(topic, partition, s, base + i);
  });
  return b.runs;
}

describe('exact translation', () => {
  const c = (offset: number) => ({ topic: 'orders', partition: 0, offset });

  test('full restore: the same offset, shifted by where the target started', () => {
    const runs = runsOf([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 100);
    assert.deepEqual(translateExact(runs, [c(0)], 110), { targetOffset: 100, duplicates: 0, atEnd: false });
    assert.deepEqual(translateExact(runs, [c(4)], 110), { targetOffset: 104, duplicates: 0, atEnd: false });
    assert.deepEqual(translateExact(runs, [c(10)], 110), { targetOffset: 110, duplicates: 0, atEnd: true });
  });

  test('a committed offset on a record the window left out moves to the next restored record', () => {
    const runs = runsOf([3, 4, 5, 8, 9, 12]); // 6, 7, 10, 11 filtered out, 0-2 before the window
    assert.equal(translateOne(runs, c(6), 6).targetOffset, 3); // record 8
    assert.equal(translateOne(runs, c(7), 6).targetOffset, 3);
    assert.equal(translateOne(runs, c(10), 6).targetOffset, 5); // record 12
    assert.equal(translateOne(runs, c(0), 6).targetOffset, 0); // before the window: first restored record
    assert.deepEqual(translateOne(runs, c(13), 6), { targetOffset: 6, atEnd: true }); // past the window: the end
    assert.deepEqual(translateOne(runs, c(1000), 6), { targetOffset: 6, atEnd: true });
  });

  test('runs of other sources are ignored', () => {
    const runs = [...runsOf([0, 1, 2], 0, 'other', 0), ...runsOf([0, 1, 2], 3, 'orders', 1)];
    assert.deepEqual(translateOne(runs, c(1), 6), { targetOffset: 6, atEnd: true });
    assert.equal(translateOne(runs, { topic: 'orders', partition: 1, offset: 1 }, 6).targetOffset, 4);
  });

  test('merged sources: the smallest position, and the records read twice', () => {
    // p1 offsets 0..9 -> target 0..9, p2 offsets 0..9 -> target 10..19
    const runs = [...runsOf([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 0, 'orders', 1), ...runsOf([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 10, 'orders', 2)];
    const p1 = (o: number) => ({ topic: 'orders', partition: 1, offset: o });
    const p2 = (o: number) => ({ topic: 'orders', partition: 2, offset: o });
    // p1 at 4, p2 at 7: resume at target 4; p2's records 0..6 (target 10..16) are read again.
    assert.deepEqual(translateExact(runs, [p1(4), p2(7)], 20), { targetOffset: 4, duplicates: 7, atEnd: false });
    // p1 fully consumed: p2's position decides, nothing twice.
    assert.deepEqual(translateExact(runs, [p1(10), p2(7)], 20), { targetOffset: 17, duplicates: 0, atEnd: false });
    // both consumed: the end.
    assert.deepEqual(translateExact(runs, [p1(10), p2(10)], 20), { targetOffset: 20, duplicates: 0, atEnd: true });
    // only p1 committed: p2 does not constrain and is not counted.
    assert.deepEqual(translateExact(runs, [p1(3)], 20), { targetOffset: 3, duplicates: 0, atEnd: false });
  });

  test('property: the translated position is the first restored record at or after C; nothing unconsumed is skipped', () => {
    fc.assert(
      fc.property(
        fc.array(fc.boolean(), { minLength: 0, maxLength: 60 }),
        fc.array(fc.boolean(), { minLength: 0, maxLength: 60 }),
        fc.nat(70),
        fc.nat(70),
        fc.nat(20),
        (keepA, keepB, ca, cb, base) => {
          const a = keepA.flatMap((k, i) => (k ? [i] : []));
          const b = keepB.flatMap((k, i) => (k ? [i] : []));
          const runs = [...runsOf(a, base, 't', 0), ...runsOf(b, base + a.length, 't', 1)];
          const end = base + a.length + b.length;
          // Brute force: the target records in order.
          const target = [...a.map((s) => ({ p: 0, s })), ...b.map((s) => ({ p: 1, s }))].map((r, i) => ({ ...r, t: base + i }));
          const single = translateOne(runs, { topic: 't', partition: 0, offset: ca }, end);
          const firstA = target.find((r) => r.p === 0 && r.s >= ca);
          assert.equal(single.targetOffset, firstA ? firstA.t : end);
          const commits = [
            { topic: 't', partition: 0, offset: ca },
            { topic: 't', partition: 1, offset: cb },
          ];
          const tr = translateExact(runs, commits, end);
          const unconsumed = target.filter((r) => r.s >= (r.p === 0 ? ca : cb));
          assert.equal(tr.targetOffset, unconsumed.length ? Math.min(...unconsumed.map((r) => r.t)) : end);
          assert.ok(
            unconsumed.every((r) => r.t >= tr.targetOffset),
            'never skips an unconsumed record',
          );
          assert.equal(tr.duplicates, target.filter((r) => r.t >= tr.targetOffset && r.s < (r.p === 0 ? ca : cb)).length);
          assert.equal(countDuplicates(runs, commits, tr.targetOffset), tr.duplicates);
        },
      ),
    );
  });
});

describe('header-based search', () => {
  /** A target partition [start, end) whose records carry these original offsets (undefined = no header). */
  function probeOf(originals: (number | undefined)[], start = 0, holes: Set<number> = new Set()) {
    let calls = 0;
    const probe = async (o: number): Promise<ProbeResult | undefined> => {
      calls++;
      for (let t = Math.max(o, start); t < start + originals.length; t++) if (!holes.has(t)) return { offset: t, original: originals[t - start] };
      return undefined;
    };
    return { probe, calls: () => calls };
  }

  test('finds the first record whose original offset is >= C, in O(log n) probes', async () => {
    const originals = Array.from({ length: 1000 }, (_, i) => i * 2 + 10); // every other source offset, from 10
    const { probe, calls } = probeOf(originals, 50);
    assert.deepEqual((await searchByHeader(probe, 0, 50, 1050)).targetOffset, 50);
    assert.deepEqual((await searchByHeader(probe, 11, 50, 1050)).targetOffset, 51); // 11 not restored -> 12
    assert.deepEqual((await searchByHeader(probe, 12, 50, 1050)).targetOffset, 51);
    assert.deepEqual(await searchByHeader(probe, 2009, 50, 1050).then((r) => [r.targetOffset, r.atEnd]), [1050, true]);
    assert.ok(calls() < 4 * 14, `probes: ${calls()}`);
  });

  test('holes in the target offsets (the probe answers with the next record)', async () => {
    const { probe } = probeOf([0, 1, 2, 3, 4, 5, 6, 7], 0, new Set([3, 4]));
    assert.equal((await searchByHeader(probe, 3, 0, 8)).targetOffset, 5);
    assert.equal((await searchByHeader(probe, 5, 0, 8)).targetOffset, 5);
    assert.equal((await searchByHeader(probe, 2, 0, 8)).targetOffset, 2);
  });

  test('a record without the header is an error naming its offset', async () => {
    const { probe } = probeOf([0, 1, undefined, 3]);
    await assert.rejects(searchByHeader(probe, 3, 0, 4), (e: unknown) => e instanceof MissingHeaderError && /offset 2 /.test(e.message));
  });

  test('property: agrees with a linear scan', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.nat(5), { maxLength: 80 }), fc.nat(300), fc.nat(10), async (steps, c, start) => {
        let o = 0;
        const originals = steps.map((s) => (o += s + 1));
        const { probe } = probeOf(originals, start);
        const got = await searchByHeader(probe, c, start, start + originals.length);
        const i = originals.findIndex((x) => x >= c);
        assert.equal(got.targetOffset, i < 0 ? start + originals.length : start + i);
      }),
    );
  });
});

describe('timestamp-based lookup', () => {
  test('timestamp of the first restored record at or after C, and the records that may be read twice', () => {
    const recs = [
      { offset: 0, timestamp: 100 },
      { offset: 1, timestamp: 200 },
      { offset: 2, timestamp: 350 }, // stamped later than record 3
      { offset: 3, timestamp: 300 },
      { offset: 5, timestamp: 500 },
    ];
    assert.deepEqual(timestampLookup(recs, 0), { timestamp: 100, duplicatesAtMost: 0 });
    assert.deepEqual(timestampLookup(recs, 3), { timestamp: 300, duplicatesAtMost: 1 }); // record 2 (350 >= 300)
    assert.deepEqual(timestampLookup(recs, 4), { timestamp: 500, duplicatesAtMost: 0 }); // 4 not restored
    assert.deepEqual(timestampLookup(recs, 6), { timestamp: undefined, duplicatesAtMost: 0 });
    // Landing on a record stamped later than C's: everything from there up to C is read again.
    const late = [
      { offset: 0, timestamp: 100 },
      { offset: 1, timestamp: 400 },
      { offset: 2, timestamp: 200 },
      { offset: 3, timestamp: 300 },
    ];
    assert.deepEqual(timestampLookup(late, 3), { timestamp: 300, duplicatesAtMost: 2 });
  });
});

describe('snapshot choice', () => {
  const snaps = [{ taken_at: 300 }, { taken_at: 100 }, { taken_at: 200 }];
  test('latest without a window end; latest at or before the end; earliest with a warning', () => {
    assert.equal(chooseSnapshot(snaps, undefined).snapshot?.taken_at, 300);
    assert.equal(chooseSnapshot(snaps, 250).snapshot?.taken_at, 200);
    assert.equal(chooseSnapshot(snaps, 200).snapshot?.taken_at, 200);
    const early = chooseSnapshot(snaps, 50);
    assert.equal(early.snapshot?.taken_at, 100);
    assert.match(early.warning ?? '', /after the window's end/);
    assert.equal(chooseSnapshot([], 50).snapshot, undefined);
  });
});
