/**
 * npm run bench:profile -- FILE.cpuprofile [--top N] [--callers REGEX] [--timeline MS]
 *
 * Reads a V8 CPU profile (`npm run bench -- --profile` writes them to .run/bench/profiles/) and prints
 * the self time per function (name, script, line), largest first, as a share of the sampled time;
 * with `--callers`, the call chains (six frames up) that lead to the functions matching REGEX, so a
 * native frame such as `writeBuffer` or `(garbage collector)` can be traced to the code that caused it;
 * with `--timeline MS`, what ran in each MS-millisecond slice of the run (the innermost frame of our code or a
 * library's, not node's internals), to see the phases of a short command such as a small restore.
 * It checks nothing: a reading aid for docs/performance.md.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

interface Args {
  file: string;
  top: number;
  callers?: RegExp;
  timelineMs?: number;
}

function parseArgs(argv: string[]): Args {
  let file: string | undefined;
  let top = 30;
  let callers: RegExp | undefined;
  let timelineMs: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i]!;
    if (v === '--top') top = Number(argv[++i]);
    else if (v === '--callers') callers = new RegExp(argv[++i] ?? '');
    else if (v === '--timeline') timelineMs = Number(argv[++i]);
    else if (!v.startsWith('--') && file === undefined) file = v;
    else throw new Error(`unknown argument ${v}`);
  }
  if (!file) throw new Error('usage: npm run bench:profile -- FILE.cpuprofile [--top N] [--callers REGEX] [--timeline MS]');
  if (!(top >= 0)) throw new Error('--top must be a number >= 0');
  if (timelineMs !== undefined && !(timelineMs > 0)) throw new Error('--timeline must be a number of milliseconds > 0');
  return { file, top, ...(callers ? { callers } : {}), ...(timelineMs ? { timelineMs } : {}) };
}

/** "name script:line", with node_modules and the compiled tree's prefixes shortened. */
function frameName(n: ProfileNode): string {
  const url = n.callFrame.url.replace(/.*node_modules\//, 'nm/').replace(/.*\/(src|dist)\//, '$1/');
  return `${n.callFrame.functionName || '(anonymous)'} ${url}:${n.callFrame.lineNumber}`;
}

const pct = (part: number, total: number): string => `${((100 * part) / total).toFixed(1).padStart(5)}%`;

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  const profile = JSON.parse(readFileSync(args.file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // timeDeltas[i] is the time before sample i; the time of sample i is the gap to the next one.
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i + 1] ?? 0));
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const byName = new Map<string, number>();
  for (const [id, us] of self) {
    const k = frameName(byId.get(id)!);
    byName.set(k, (byName.get(k) ?? 0) + us);
  }
  console.log(`sampled ${(total / 1000).toFixed(0)} ms`);
  for (const [k, us] of [...byName].sort((a, b) => b[1] - a[1]).slice(0, args.top)) {
    console.log(`${pct(us, total)} ${(us / 1000).toFixed(0).padStart(6)} ms  ${k}`);
  }
  if (args.timelineMs) timeline(profile, byId, parent, args.timelineMs);
  if (!args.callers) return;
  const chains = new Map<string, number>();
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    const name = frameName(n);
    if (!args.callers.test(name)) continue;
    const chain = [name];
    for (let p = parent.get(id); p !== undefined && chain.length < 7; p = parent.get(p)) chain.push(frameName(byId.get(p)!));
    const k = chain.join(' <- ');
    chains.set(k, (chains.get(k) ?? 0) + us);
  }
  console.log(`\ncall chains of ${args.callers}:`);
  for (const [k, us] of [...chains].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`${pct(us, total)}  ${k}`);
}

/** Per slice of `sliceMs`: sampled ms and the four labels that took most of it. */
function timeline(profile: CpuProfile, byId: Map<number, ProfileNode>, parent: Map<number, number>, sliceMs: number): void {
  // The innermost frame that is not node's own (node:, native, idle, GC): where in our code or a library the time went.
  const label = (id: number): string => {
    for (let p: number | undefined = id; p !== undefined; p = parent.get(p)) {
      const url = byId.get(p)!.callFrame.url;
      if (url && !url.startsWith('node:')) return frameName(byId.get(p)!);
    }
    return frameName(byId.get(id)!);
  };
  const slices = new Map<number, Map<string, number>>();
  let at = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0;
    const us = profile.timeDeltas[i + 1] ?? 0;
    const slice = Math.floor(at / 1000 / sliceMs);
    const m = slices.get(slice) ?? new Map<string, number>();
    const k = label(profile.samples[i]!);
    m.set(k, (m.get(k) ?? 0) + us);
    slices.set(slice, m);
  }
  console.log(`\ntimeline (${sliceMs} ms slices, from the profile's start):`);
  for (const [slice, m] of [...slices].sort((a, b) => a[0] - b[0])) {
    const top = [...m].sort((a, b) => b[1] - a[1]).slice(0, 4);
    console.log(`${String(slice * sliceMs).padStart(7)} ms  ${top.map(([k, us]) => `${k} ${(us / 1000).toFixed(0)}`).join('; ')}`);
  }
}

main();
