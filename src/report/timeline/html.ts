/**
 * Renders a Timeline as one self-contained HTML page: inline CSS, inline SVG drawn here (so the
 * page shows without scripts), and an inline script for hover and click (UTC and ms to paste into
 * time_window_start / time_window_end). Nothing is loaded from the network. Every drawn element
 * carries its numbers in data-* attributes, and the whole model is embedded as JSON
 * (#timeline-data), for tools and for the browser test.
 */
import { humanDuration, isoMs } from '../../util/time.js';
import { binWidth, type TimeAxis } from './density.js';
import type { Timeline, TimelinePartition, TimelineWindow } from './model.js';
import { CLIENT_SCRIPT } from './client.js';
import { STYLE } from './style.js';

/** SVG user units across a strip (stretched to the page width). */
export const STRIP_WIDTH = 1000;
const STRIP_HEIGHT = 40;
const BAR_HEIGHT = 34;
/** Axis labels (date and time, about 19 characters each): few enough not to overlap at 1000 px. */
const TICKS = 4;

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** JSON safe inside a <script> element (no "</script>", no "<!--"). */
function scriptJson(v: unknown): string {
  return JSON.stringify(v)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

function num(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function xOf(axis: TimeAxis, ts: number): number {
  const x = ((ts - axis.start) / (axis.end - axis.start)) * STRIP_WIDTH;
  return Math.round(Math.min(STRIP_WIDTH, Math.max(0, x)) * 100) / 100;
}

function inAxis(axis: TimeAxis, ts: number): boolean {
  return ts >= axis.start && ts < axis.end;
}

function attrs(a: Record<string, string | number | null | undefined>): string {
  return Object.entries(a)
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => ` ${k}="${escapeHtml(String(v))}"`)
    .join('');
}

function when(ts: number | null): string {
  return ts === null ? 'open' : `${isoMs(ts)} (${ts} ms)`;
}

/** The model for the embedded JSON: bins to 1/1000 of a record (they are spread estimates; 200 floats per partition add up). */
function compact(t: Timeline): Timeline {
  return {
    ...t,
    topics: t.topics.map((x) => ({ ...x, partitions: x.partitions.map((p) => ({ ...p, bins: p.bins.map((b) => Math.round(b * 1000) / 1000) })) })),
  };
}

export function renderTimelineHtml(t: Timeline): string {
  const title = `Timeline of backup ${t.backupId}`;
  return [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(title)}</title>`,
    `<style>${STYLE}</style>`,
    '</head><body>',
    header(t),
    t.axis ? axisRow(t.axis) : '<p class="empty">This backup holds no records: nothing to draw.</p>',
    '<main>',
    ...t.topics.map((topic) =>
      [
        `<section class="topic"${attrs({ 'data-topic': topic.name, 'data-records': topic.records })}>`,
        `<h2>${escapeHtml(topic.name)} <span class="muted">${num(topic.records)} records, ${topic.partitions.length} partition(s)</span></h2>`,
        ...topic.partitions.map((p) => partitionRow(t, p)),
        '</section>',
      ].join('\n'),
    ),
    '</main>',
    snapshotList(t),
    notes(t),
    '<div id="tip" role="tooltip" hidden></div>',
    `<script type="application/json" id="timeline-data">${scriptJson(compact(t))}</script>`,
    `<script>${CLIENT_SCRIPT}</script>`,
    '</body></html>',
    '',
  ].join('\n');
}

function header(t: Timeline): string {
  const a = t.axis;
  const parts = t.topics.reduce((n, x) => n + x.partitions.length, 0);
  return [
    '<header>',
    `<h1>Backup <code>${escapeHtml(t.backupId)}</code></h1>`,
    `<p id="summary"${attrs({ 'data-records': t.records, 'data-segments': t.segments, 'data-start': a?.start, 'data-end': a ? a.end - 1 : undefined })}>`,
    `${escapeHtml(t.status)} ${escapeHtml(t.mode)} backup in <code>${escapeHtml(t.storeUrl)}</code>: <b>${num(t.records)}</b> records in ${num(t.segments)} segments, ${t.topics.length} topic(s), ${parts} partition(s).`,
    a ? `<br>Records from <b>${isoMs(a.start)}</b> (${a.start}) to <b>${isoMs(a.end - 1)}</b> (${a.end - 1}).` : '',
    '</p>',
    t.window ? windowLine(t.window) : '',
    '<div id="picker"><span id="picked">Hover a strip to read a time; click to pick it.</span>',
    '<button type="button" id="set-start" disabled>use as time_window_start</button>',
    '<button type="button" id="set-end" disabled>use as time_window_end</button>',
    `<pre id="snippet">${escapeHtml(snippet(t.window))}</pre></div>`,
    '<p class="legend"><span class="k bin"></span>records (per bin) <span class="k seg"></span>segment start <span class="k gap"></span>gap <span class="k late"></span>late / out-of-order <span class="k snap"></span>consumer-group snapshot <span class="k win"></span>restore window</p>',
    '</header>',
  ].join('\n');
}

function windowLine(w: TimelineWindow): string {
  return `<p id="window"${attrs({ 'data-start': w.start, 'data-end': w.end, 'data-records': w.records })}>Restore window of <code>${escapeHtml(w.source)}</code>: ${escapeHtml(when(w.start))} → ${escapeHtml(when(w.end))}: <b>${num(w.records)}</b> records restored (exact count).</p>`;
}

function snippet(w: TimelineWindow | null): string {
  const line = (k: string, v: number | null): string => (v === null ? `  # ${k}: (open)` : `  ${k}: ${v}   # ${isoMs(v)}`);
  return ['restore:', line('time_window_start', w?.start ?? null), line('time_window_end', w?.end ?? null)].join('\n');
}

function axisRow(axis: TimeAxis): string {
  const ticks: string[] = [];
  for (let i = 0; i <= TICKS; i++) {
    const ts = Math.round(axis.start + ((axis.end - 1 - axis.start) * i) / TICKS);
    const pct = (xOf(axis, ts) / STRIP_WIDTH) * 100;
    ticks.push(
      `<span class="tick"${attrs({ 'data-ts': ts, title: `${isoMs(ts)} = ${ts} ms`, style: `left:${pct.toFixed(3)}%` })}>${new Date(ts).toISOString().slice(0, 19).replace('T', ' ')} UTC</span>`,
    );
  }
  return `<div class="axis-row"><div class="label"></div><div id="axis" class="axis"${attrs({ 'data-start': axis.start, 'data-end': axis.end, 'data-bin-ms': binWidth(axis) })}>${ticks.join('')}</div></div>`;
}

function partitionRow(t: Timeline, p: TimelinePartition): string {
  const peak = Math.max(0, ...p.bins);
  const w = p.window;
  const label = [
    `<b>${p.partition}</b> ${num(p.records)} records`,
    p.firstOffset !== null ? `offsets ${p.firstOffset}–${p.lastOffset}` : 'no segments',
    `${p.segments.length} seg`,
    peak > 0 ? `peak ≈ ${num(peak)}/bin` : '',
    p.logStartOffset > 0 ? `source log start ${p.logStartOffset}` : '',
    p.late.length ? `<span class="warn">${p.late.length} late span(s)</span>` : '',
    p.gaps.length ? `<span class="warn">${p.gaps.length} gap(s)</span>` : '',
    w
      ? w.selected
        ? `<span class="win-count">window: ${num(w.records)} → ${escapeHtml(w.target ?? '')}</span>`
        : '<span class="muted">not restored</span>'
      : '',
  ]
    .filter(Boolean)
    .join(' · ');
  const a = {
    'data-topic': p.topic,
    'data-partition': p.partition,
    'data-records': p.records,
    'data-min-ts': p.minTs,
    'data-max-ts': p.maxTs,
    'data-window-records': w?.records,
    'data-selected': w ? String(w.selected) : undefined,
  };
  const svg = t.axis ? strip(t, t.axis, p, peak) : '';
  return `<div class="partition${w && !w.selected ? ' unselected' : ''}"${attrs(a)}><div class="label">${label}</div>${svg}</div>`;
}

function strip(t: Timeline, axis: TimeAxis, p: TimelinePartition, peak: number): string {
  const out: string[] = [];
  const bw = STRIP_WIDTH / axis.count;
  const binMs = binWidth(axis);
  p.bins.forEach((n, i) => {
    if (n <= 0) return;
    const h = Math.max(1, (n / peak) * BAR_HEIGHT);
    const from = Math.ceil(axis.start + i * binMs);
    const to = Math.ceil(axis.start + (i + 1) * binMs) - 1;
    out.push(
      `<rect class="bin"${attrs({ x: (i * bw).toFixed(2), y: (STRIP_HEIGHT - h).toFixed(2), width: bw.toFixed(2), height: h.toFixed(2), 'data-i': i, 'data-records': n.toFixed(2), 'data-from': from, 'data-to': to })}/>`,
    );
  });
  // Over the bins (translucent), so it shows however dense they are.
  const w = t.window;
  if (w && p.window?.selected) {
    const x0 = xOf(axis, w.start ?? axis.start);
    const x1 = xOf(axis, w.end === null ? axis.end : w.end + 1);
    out.push(
      `<rect class="window-band"${attrs({ x: x0, y: 0, width: Math.max(0.5, x1 - x0), height: STRIP_HEIGHT, 'data-start': w.start, 'data-end': w.end, 'data-tip': `restore window: ${p.window.records} records of this partition` })}/>`,
    );
  }
  for (const g of p.gaps) {
    const x0 = g.fromTs === null ? 0 : xOf(axis, g.fromTs);
    const x1 = g.toTs === null ? STRIP_WIDTH : xOf(axis, g.toTs);
    out.push(
      `<rect class="gap"${attrs({ x: Math.min(x0, x1), y: 0, width: Math.max(2, Math.abs(x1 - x0)), height: STRIP_HEIGHT, 'data-from-offset': g.fromOffset, 'data-to-offset': g.toOffset, 'data-tip': `gap: offsets ${g.fromOffset}–${g.toOffset - 1} not in the backup (${g.reason})` })}/>`,
    );
  }
  for (const l of p.late) {
    const x0 = xOf(axis, l.fromTs);
    const x1 = xOf(axis, l.toTs + 1);
    out.push(
      `<rect class="late"${attrs({ x: x0, y: 0, width: Math.max(2, x1 - x0), height: 5, 'data-from': l.fromTs, 'data-to': l.toTs, 'data-tip': `late: offsets ${l.firstOffset}–${l.lastOffset} (≤ ${l.records} records) are stamped back to ${isoMs(l.fromTs)}, after records up to ${isoMs(l.toTs)}` })}/>`,
    );
  }
  for (const s of p.segments) {
    if (s.minTs === null) continue;
    const x = xOf(axis, s.minTs);
    out.push(
      `<line class="segment-boundary"${attrs({ x1: x, x2: x, y1: 0, y2: STRIP_HEIGHT, 'data-ts': s.minTs, 'data-first-offset': s.firstOffset, 'data-tip': `segment ${s.firstOffset}–${s.lastOffset}: ${s.records} records, ${s.blocks} block(s), ${isoMs(s.minTs)} → ${isoMs(s.maxTs)}` })}/>`,
    );
  }
  for (const s of t.snapshots) {
    if (!inAxis(axis, s.takenAt)) continue;
    const x = xOf(axis, s.takenAt);
    out.push(
      `<line class="snapshot"${attrs({ x1: x, x2: x, y1: 0, y2: STRIP_HEIGHT, 'data-ts': s.takenAt, 'data-tip': `consumer-group snapshot ${isoMs(s.takenAt)}: ${s.groups.length} group(s)` })}/>`,
    );
  }
  return `<svg class="strip" viewBox="0 0 ${STRIP_WIDTH} ${STRIP_HEIGHT}" preserveAspectRatio="none" role="img" aria-label="${escapeHtml(`${p.topic}/${p.partition}`)}">${out.join('')}</svg>`;
}

function snapshotList(t: Timeline): string {
  if (t.snapshots.length === 0) return '<section id="snapshots"><h2>Consumer-group snapshots</h2><p class="muted">None in this backup.</p></section>';
  const rows = t.snapshots.map((s) => {
    const where = t.axis && inAxis(t.axis, s.takenAt) ? '' : ' <span class="muted">(outside the records\' time range, not drawn)</span>';
    return `<li class="snapshot-item"${attrs({ 'data-ts': s.takenAt })}>${isoMs(s.takenAt)} (${s.takenAt}): ${s.groups.length ? s.groups.map(escapeHtml).join(', ') : 'no groups'}${where}</li>`;
  });
  return `<section id="snapshots"><h2>Consumer-group snapshots</h2><ul>${rows.join('')}</ul></section>`;
}

function notes(t: Timeline): string {
  const bin = t.axis ? binWidth(t.axis) : 0;
  return [
    '<section id="notes"><h2>How to read this</h2><ul>',
    `<li>Records over time: ${t.axis?.count ?? 0} equal bins of ${bin >= 1000 ? humanDuration(bin) : `${bin.toFixed(1)} ms`} each, from the segment footers: each stored block's records are spread evenly over its first and last timestamp (no record data is read), so the shape is as fine as the blocks (about 1 MiB of batches each). Counts per partition and the window's count are exact.</li>`,
    '<li>Late / out-of-order: a block whose earliest timestamp is before a timestamp already seen at lower offsets; disorder inside one block is not visible without decoding it.</li>',
    '<li>Gaps: offset ranges the source no longer had when the backup reached them (retention).</li>',
    "<li>Hover shows the time under the pointer in UTC and in epoch ms; click picks it for the restore config's <code>time_window_start</code> / <code>time_window_end</code> (both accept either form).</li>",
    '</ul></section>',
  ].join('\n');
}
