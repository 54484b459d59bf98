import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { axisFor, density, lateSpans, type TimedRun } from '../../src/report/timeline/density.js';
import { renderTimelineHtml } from '../../src/report/timeline/html.js';
import type { Timeline } from '../../src/report/timeline/model.js';

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

test('density: every run lands in the bins it covers, in proportion, and the bins sum to the records', () => {
  const axis = axisFor(0, 999, 10); // 10 bins of 100 ms
  assert.deepEqual(density(axis, [{ firstOffset: 0, lastOffset: 9, minTs: 0, maxTs: 199, records: 10 }]), [5, 5, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(density(axis, [{ firstOffset: 0, lastOffset: 0, minTs: 999, maxTs: 999, records: 3 }]), [0, 0, 0, 0, 0, 0, 0, 0, 0, 3]);
  assert.deepEqual(density(axis, [{ firstOffset: 0, lastOffset: 3, minTs: 150, maxTs: 349, records: 4 }]), [0, 1, 2, 1, 0, 0, 0, 0, 0, 0]);
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 1e12 }),
      fc.integer({ min: 0, max: 1e9 }),
      fc.integer({ min: 10, max: 500 }),
      fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 0, max: 1e6 })), {
        maxLength: 30,
      }),
      (start, span, count, raw) => {
        const axis = axisFor(start, start + span, count);
        const runs: TimedRun[] = raw.map(([a, b, n], i) => {
          const lo = start + Math.floor(Math.min(a, b) * span);
          return { firstOffset: i, lastOffset: i, minTs: lo, maxTs: Math.max(lo, start + Math.floor(Math.max(a, b) * span)), records: n };
        });
        const bins = density(axis, runs);
        assert.equal(bins.length, count);
        const want = sum(runs.map((r) => r.records));
        assert.ok(Math.abs(sum(bins) - want) <= 1e-6 * Math.max(1, want), `bins ${sum(bins)} vs records ${want}`);
        assert.ok(bins.every((b) => b >= 0));
      },
    ),
  );
});

test('late spans: a block stamped before what lower offsets already reached; in-order blocks and equal timestamps are not late', () => {
  const run = (first: number, minTs: number, maxTs: number, records = 10): TimedRun => ({
    firstOffset: first,
    lastOffset: first + records - 1,
    minTs,
    maxTs,
    records,
  });
  assert.deepEqual(lateSpans([run(0, 0, 100), run(10, 100, 200), run(20, 200, 300)]), []);
  assert.deepEqual(lateSpans([run(0, 0, 100), run(10, 150, 200), run(20, 50, 60), run(30, 210, 300)]), [
    { fromTs: 50, toTs: 200, firstOffset: 20, lastOffset: 29, records: 10 },
  ]);
  // Two late blocks in a row are one span; a later, separate disorder is another.
  assert.deepEqual(lateSpans([run(0, 0, 1000), run(10, 10, 20), run(20, 5, 30), run(30, 2000, 3000), run(40, 1500, 1600)]), [
    { fromTs: 5, toTs: 1000, firstOffset: 10, lastOffset: 29, records: 20 },
    { fromTs: 1500, toTs: 3000, firstOffset: 40, lastOffset: 49, records: 10 },
  ]);
  // Blocks of control batches only (no data records) neither are late nor set the high mark.
  assert.deepEqual(lateSpans([run(0, 0, 100), run(10, 5000, 5000, 0), run(11, 200, 300)]), []);
});

function timeline(over: Partial<Timeline> = {}): Timeline {
  return {
    backupId: 'b-1',
    status: 'complete',
    mode: 'snapshot',
    storeUrl: 'file:///tmp/x',
    generatedAt: 0,
    axis: axisFor(1_000_000, 1_999_999, 10),
    records: 100,
    segments: 2,
    resolution: 'blocks',
    snapshots: [
      { takenAt: 1_500_000, groups: ['</script><img src=x onerror=alert(1)>'] },
      { takenAt: 9_000_000, groups: [] },
    ],
    window: { start: 1_200_000, end: null, records: 42, source: 'pitr.yaml' },
    topics: [
      {
        name: 'orders',
        records: 100,
        partitions: [
          {
            topic: 'orders',
            partition: 0,
            records: 100,
            firstOffset: 0,
            lastOffset: 149,
            minTs: 1_000_000,
            maxTs: 1_999_999,
            logStartOffset: 0,
            endOffset: 150,
            segments: [
              { key: 'k0', firstOffset: 0, lastOffset: 49, records: 50, minTs: 1_000_000, maxTs: 1_400_000, blocks: 1 },
              { key: 'k1', firstOffset: 100, lastOffset: 149, records: 50, minTs: 1_600_000, maxTs: 1_999_999, blocks: 1 },
            ],
            gaps: [{ fromOffset: 50, toOffset: 100, reason: 'offset_out_of_range', fromTs: 1_400_000, toTs: 1_600_000 }],
            late: [],
            bins: [10, 10, 10, 10, 10, 0, 10, 10, 10, 20],
            window: { selected: true, records: 42, target: 'orders_restored/0' },
          },
        ],
      },
    ],
    ...over,
  };
}

test('html: self-contained, stored names escaped (also inside the embedded JSON), gaps and the open-ended window drawn where they lie', () => {
  const html = renderTimelineHtml(timeline());
  assert.doesNotMatch(html, /<script[^>]+src=|<link |https?:\/\/|@import|url\(/, 'nothing fetched');
  assert.ok(!html.includes('<img'), 'a group id is text, never markup');
  assert.equal(html.match(/<\/script>/g)?.length, 2, 'only the two script elements end; the JSON cannot close one');
  const json = JSON.parse(/<script type="application\/json" id="timeline-data">(.*?)<\/script>/s.exec(html)![1]!) as Timeline;
  assert.equal(json.snapshots[0]!.groups[0], '</script><img src=x onerror=alert(1)>');
  // Gap between the segments, at their times: 40%..60% of the axis.
  assert.match(html, /<rect class="gap" x="400" y="0" width="200" height="40" data-from-offset="50" data-to-offset="100"/);
  // Open end: the band runs to the axis's end.
  assert.match(html, /<rect class="window-band" x="200" y="0" width="800" height="40" data-start="1200000" /);
  assert.match(html, /id="window" data-start="1200000" data-records="42"/);
  assert.match(html, /# time_window_end: \(open\)/);
  // The snapshot inside the range is drawn; the one outside is listed as such.
  assert.equal(html.match(/<line class="snapshot"/g)?.length, 1);
  assert.match(html, /9000000\): no groups <span class="muted">\(outside the records' time range, not drawn\)/);
  // Nine bins with records drawn (the empty one is not), the tallest full height.
  assert.equal(html.match(/<rect class="bin"/g)?.length, 9);
  assert.match(html, /<rect class="bin" x="900.00" y="6.00" width="100.00" height="34.00" data-i="9" data-records="20.00"/);
});

test('html: an empty backup says so and draws no strip', () => {
  const html = renderTimelineHtml(
    timeline({ axis: null, records: 0, segments: 0, window: null, snapshots: [], topics: [{ name: 't', records: 0, partitions: [] }] }),
  );
  assert.match(html, /This backup holds no records: nothing to draw\./);
  assert.ok(!html.includes('<svg'));
});
