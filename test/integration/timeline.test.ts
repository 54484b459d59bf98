/**
 * `kafka-backup timeline`: the page made from a real backup of the test broker, opened in a real
 * Chromium (Debian's `chromium`, driven by puppeteer-core), checked against the backup by reading
 * the DOM, hovered and clicked; a screenshot goes to .run/test-output/timeline/.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import puppeteer, { type Browser } from 'puppeteer-core';
import { runBackup } from '../../src/backup/engine.js';
import { keys } from '../../src/format/layout.js';
import { KafkaAdmin } from '../../src/kafka/admin.js';
import type { RecordInput } from '../../src/kafka/protocol/record-batch.js';
import { loadIndex } from '../../src/restore/plan.js';
import { FsStore } from '../../src/storage/fs.js';
import { runCli } from '../helpers/cli.js';
import { createTopic, getTestKafka, stopTestKafka, uniqueTopic } from '../helpers/kafka.js';
import { testBackupOptions } from '../helpers/options.js';
import { produce } from '../helpers/records.js';

/** The little of the DOM the page checks use (the project's tsconfig has no DOM lib). */
interface DomEl {
  getAttribute(name: string): string | null;
  hasAttribute(name: string): boolean;
  querySelector(sel: string): DomEl | null;
  querySelectorAll(sel: string): ArrayLike<DomEl> & Iterable<DomEl>;
  textContent: string | null;
}
declare const document: Pick<DomEl, 'querySelector' | 'querySelectorAll'>;

const ROOT = join(import.meta.dirname, '..', '..');
const OUT = join(ROOT, '.run', 'test-output', 'timeline');
const CHROMIUM = process.env.KB_CHROMIUM ?? '/usr/bin/chromium';
const IN_CI = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false';
// Skip only on a developer machine without Chromium; in CI a missing browser fails the test.
const skip = !existsSync(CHROMIUM) && !IN_CI ? `Chromium not found at ${CHROMIUM} (apt-get install -y chromium, or set KB_CHROMIUM); CI runs this test` : false;

const topic = uniqueTopic('timeline');
const backupId = 'timeline-it';
const group = `timeline-group-${Math.random().toString(36).slice(2, 8)}`;
let bootstrap: string;
let dir: string;
let store: FsStore;
let browser: Browser | undefined;
// Whole seconds, so the records' times are round; the records run from 30 min ago to 20 min ahead,
// so the consumer-group snapshot the backup takes (now) falls inside their range.
const T0 = Math.floor((Date.now() - 30 * 60_000) / 1000) * 1000;
const P0 = 3000; // p0: one record a second
const P1_ON_TIME = 900; // p1: one record every 2 s ...
const P1_LATE = 100; // ... then 100 records stamped back at T0 + 60 s (late)
const WINDOW = { start: T0 + 600_000, end: T0 + 1_200_500 };

const rec = (i: number, ts: number): RecordInput => ({ key: Buffer.from(`k${i}`), value: Buffer.alloc(200, i % 251), headers: [], timestamp: BigInt(ts) });

before(async () => {
  bootstrap = (await getTestKafka()).bootstrap;
  dir = await mkdtemp(join(tmpdir(), 'kb-timeline-'));
  store = new FsStore(dir);
  await createTopic(bootstrap, topic, 2);
  await produce(
    bootstrap,
    topic,
    0,
    Array.from({ length: P0 }, (_, i) => rec(i, T0 + i * 1000)),
    'none',
    100,
  );
  await produce(
    bootstrap,
    topic,
    1,
    Array.from({ length: P1_ON_TIME }, (_, i) => rec(i, T0 + i * 2000)),
    'none',
    100,
  );
  await produce(
    bootstrap,
    topic,
    1,
    Array.from({ length: P1_LATE }, (_, j) => rec(j, T0 + 60_000 + j * 1000)),
    'none',
    50,
  );
  const admin = new KafkaAdmin({ bootstrapServers: [bootstrap] });
  try {
    await admin.commitGroupOffsets(
      group,
      new Map([
        [
          topic,
          new Map([
            [0, 1500n],
            [1, 400n],
          ]),
        ],
      ]),
    );
  } finally {
    await admin.close();
  }
  await runBackup(testBackupOptions(bootstrap, store, backupId, [topic], { compression: 'zstd', segmentMaxBytes: 32 * 1024 }));
  await mkdir(OUT, { recursive: true });
});

after(async () => {
  await browser?.close();
  await rm(dir, { recursive: true, force: true });
  await stopTestKafka();
});

async function openPage(file: string) {
  const profile = await mkdtemp(join(tmpdir(), 'kb-chromium-'));
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    userDataDir: profile,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
  const page = await browser.newPage();
  await page.setViewport({ width: 1400, height: 900 });
  const requests: string[] = [];
  page.on('request', (r) => {
    if (!r.url().startsWith('file:')) requests.push(r.url());
  });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  // tsx (esbuild keepNames) wraps the functions handed to page.evaluate in __name(...): give the page that helper.
  await page.evaluateOnNewDocument('globalThis.__name = (f) => f;');
  await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
  return { page, requests, errors, profile };
}

test('timeline --config draws the backup and the restore window with its exact count, in a real browser', { skip, timeout: 240_000 }, async () => {
  const cfg = join(dir, 'pitr-restore.yaml');
  await writeFile(
    cfg,
    `mode: restore\nbackup_id: ${backupId}\ntarget:\n  bootstrap_servers: [${bootstrap}]\nstorage:\n  backend: filesystem\n  path: ${dir}\nrestore:\n  time_window_start: ${new Date(WINDOW.start).toISOString()}\n  time_window_end: ${WINDOW.end}\n`,
  );
  const file = join(OUT, 'timeline.html');
  const r = runCli(['timeline', '--config', cfg, '--output', file]);
  assert.equal(r.code, 0, r.stderr);
  // Records in the window, from how they were produced: p0 i in [600, 1200], p1 i*2000 in [600000, 1200500]; no late record.
  const want = { p0: 601, p1: 301 };
  assert.match(r.stdout, new RegExp(`Wrote .*timeline\\.html: 4,000 records of backup ${backupId}; window .* 902 records`));

  const idx = await Promise.all([0, 1].map((p) => loadIndex({ store, backupId }, topic, p)));
  const snaps: number[] = [];
  for await (const o of store.list(keys.groupsPrefix(backupId))) snaps.push(Number(/(\d{15})\.json$/.exec(o.key)![1]));
  snaps.sort((a, b) => a - b);
  assert.ok(snaps.length >= 1, 'the backup took consumer-group snapshots');

  const { page, requests, errors, profile } = await openPage(file);
  try {
    const dom = await page.evaluate(() => {
      const n = (el: DomEl | null, a: string) => Number(el?.getAttribute(a));
      const summary = document.querySelector('#summary');
      const win = document.querySelector('#window');
      return {
        records: n(summary, 'data-records'),
        start: n(summary, 'data-start'),
        end: n(summary, 'data-end'),
        window: { start: n(win, 'data-start'), end: n(win, 'data-end'), records: n(win, 'data-records') },
        snapshotText: document.querySelector('#snapshots')?.textContent ?? '',
        partitions: [...document.querySelectorAll('.partition')].map((p) => ({
          topic: p.getAttribute('data-topic'),
          partition: n(p, 'data-partition'),
          records: n(p, 'data-records'),
          windowRecords: n(p, 'data-window-records'),
          binSum: [...p.querySelectorAll('rect.bin')].reduce((s, b) => s + Number(b.getAttribute('data-records')), 0),
          bins: p.querySelectorAll('rect.bin').length,
          segments: [...p.querySelectorAll('line.segment-boundary')].map((l) => n(l, 'data-ts')),
          late: [...p.querySelectorAll('rect.late')].map((l) => ({ from: n(l, 'data-from'), to: n(l, 'data-to') })),
          snapshots: [...p.querySelectorAll('line.snapshot')].map((l) => n(l, 'data-ts')),
          band: (() => {
            const b = p.querySelector('rect.window-band');
            return b ? { x: n(b, 'x'), width: n(b, 'width') } : null;
          })(),
        })),
      };
    });
    // What the backup holds: counts and time range.
    assert.equal(dom.records, P0 + P1_ON_TIME + P1_LATE);
    assert.equal(dom.start, T0);
    assert.equal(dom.end, T0 + (P0 - 1) * 1000);
    assert.deepEqual(
      dom.partitions.map((p) => [p.topic, p.partition, p.records]),
      [
        [topic, 0, P0],
        [topic, 1, P1_ON_TIME + P1_LATE],
      ],
    );
    for (const p of dom.partitions) {
      // The density strip holds every record of the partition (spread within blocks, never lost or invented).
      assert.ok(Math.abs(p.binSum - p.records) < 1, `${p.partition}: bins sum to ${p.binSum}, partition has ${p.records}`);
      assert.ok(p.bins > 50, `${p.partition}: ${p.bins} non-empty bins`);
      assert.deepEqual(
        p.segments,
        idx[p.partition]!.segments.map((s) => s.min_timestamp),
        'one boundary per segment, at its first timestamp',
      );
      assert.ok(p.segments.length >= 3, `several segments (${p.segments.length})`);
      assert.deepEqual(p.snapshots, snaps, 'every group snapshot is drawn at its time');
    }
    assert.match(dom.snapshotText, new RegExp(group));
    // Late records: only p1, starting at the late records' first timestamp, reaching back from the latest earlier one.
    assert.deepEqual(dom.partitions[0]!.late, []);
    assert.equal(dom.partitions[1]!.late.length, 1);
    assert.equal(dom.partitions[1]!.late[0]!.from, T0 + 60_000);
    // Its end is the latest timestamp of the blocks before the late one's: the last on-time records may share its block.
    const lateTo = dom.partitions[1]!.late[0]!.to;
    assert.ok(lateTo > T0 + 60_000 + P1_LATE * 1000 && lateTo <= T0 + (P1_ON_TIME - 1) * 2000, `late span ends at ${lateTo - T0} ms after T0`);
    // The window and its exact count, in total and per partition, drawn where it lies on the axis.
    assert.deepEqual(dom.window, { start: WINDOW.start, end: WINDOW.end, records: want.p0 + want.p1 });
    assert.deepEqual(
      dom.partitions.map((p) => p.windowRecords),
      [want.p0, want.p1],
    );
    const axisMs = dom.end + 1 - dom.start;
    for (const p of dom.partitions) {
      assert.ok(p.band, 'window band drawn');
      assert.ok(Math.abs(p.band.x - ((WINDOW.start - T0) / axisMs) * 1000) < 0.01, `band x ${p.band.x}`);
      assert.ok(Math.abs(p.band.width - ((WINDOW.end + 1 - WINDOW.start) / axisMs) * 1000) < 0.02, `band width ${p.band.width}`);
    }

    // Hover: UTC and ms of the point under the pointer; click and "use as time_window_start" put it in the snippet.
    const strip = (await page.$$('.partition svg.strip'))[0]!;
    const box = (await strip.boundingBox())!;
    const at = (f: number) => T0 + f * axisMs;
    await page.mouse.move(box.x + box.width * 0.25, box.y + box.height / 2);
    const tip = await page.$eval('#tip', (el: DomEl) => ({
      hidden: el.hasAttribute('hidden'),
      text: el.textContent ?? '',
      ms: Number(el.getAttribute('data-ms')),
    }));
    assert.equal(tip.hidden, false);
    const pxMs = axisMs / box.width;
    assert.ok(Math.abs(tip.ms - at(0.25)) <= 2 * pxMs, `hover at 25% shows ${tip.ms}, expected about ${at(0.25)}`);
    assert.ok(tip.text.includes(new Date(tip.ms).toISOString()) && tip.text.includes(`${tip.ms} ms`), tip.text);
    await page.screenshot({ path: join(OUT, 'timeline-hover.png') }); // the viewport: a full-page shot re-lays the page out and drops the hover
    await page.mouse.click(box.x + box.width * 0.75, box.y + box.height / 2);
    const picked = Number(await page.$eval('#picked', (el: DomEl) => el.getAttribute('data-ms')));
    assert.ok(Math.abs(picked - at(0.75)) <= 2 * pxMs, `click at 75% picks ${picked}, expected about ${at(0.75)}`);
    await page.click('#set-end');
    const snippet = await page.$eval('#snippet', (el: DomEl) => el.textContent ?? '');
    assert.ok(snippet.includes(`time_window_start: ${WINDOW.start}   # ${new Date(WINDOW.start).toISOString()}`), snippet);
    assert.ok(snippet.includes(`time_window_end: ${picked}   # ${new Date(picked).toISOString()}`), snippet);
    await page.mouse.move(0, 0);
    await page.screenshot({ path: join(OUT, 'timeline.png'), fullPage: true });
    assert.deepEqual(requests, [], 'the page loads nothing from the network');
    assert.deepEqual(errors, [], 'no script errors');
  } finally {
    await browser?.close();
    browser = undefined;
    await rm(profile, { recursive: true, force: true });
  }
});

test('timeline --path/--backup-id writes the page to stdout; a bad flag, a config that does not plan and a missing backup are one-line errors', {
  timeout: 120_000,
}, async () => {
  const r = runCli(['timeline', '--path', dir, '--backup-id', backupId, '--bins', '50']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^<!doctype html>/);
  assert.doesNotMatch(r.stdout, /<script[^>]+src=|<link[^>]+href=|https?:\/\//, 'self-contained: no external scripts, styles or URLs');
  assert.match(r.stdout, /id="summary" data-records="4000"/);
  assert.ok(!r.stdout.includes('id="window"'), 'no window without a restore config');

  const bad = runCli(['timeline', '--path', dir, '--backup-id', backupId, '--bins', 'many']);
  assert.equal(bad.code, 1);
  assert.equal(bad.stderr.trim(), 'error: --bins: expected an integer from 10 to 5000, got "many"');
  const both = runCli(['timeline', '--path', dir, '--backup-id', backupId, '--config', join(dir, 'pitr-restore.yaml')]);
  assert.equal(both.code, 1);
  assert.match(both.stderr, /^error: timeline: give either --config .* or --path with --backup-id, not both\n$/);
  // A restore config that does not plan is refused with the plan's error, on one line, naming the file.
  const typo = join(dir, 'typo-restore.yaml');
  await writeFile(
    typo,
    `mode: restore\nbackup_id: ${backupId}\ntarget:\n  bootstrap_servers: [${bootstrap}]\nstorage:\n  backend: filesystem\n  path: ${dir}\nrestore:\n  topics: [no-such-topic]\n`,
  );
  const noPlan = runCli(['timeline', '--config', typo]);
  assert.equal(noPlan.code, 1);
  assert.equal(noPlan.stdout, '');
  assert.match(
    noPlan.stderr,
    new RegExp(
      `^error: ${typo.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: the restore config does not plan: topic "no-such-topic" is not in backup ${backupId} \\(it holds: ${topic}\\)\n$`,
    ),
  );
  const noDir = runCli(['timeline', '--path', dir, '--backup-id', backupId, '--output', join(dir, 'no-such-dir', 'x.html')]);
  assert.equal(noDir.code, 1);
  assert.match(noDir.stderr, /^error: --output .*no-such-dir\/x\.html: cannot write the page: ENOENT[^\n]*\n$/);
  const missing = runCli(['timeline', '--path', dir, '--backup-id', 'no-such-backup']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^error: backup "no-such-backup" not found in /);
});
