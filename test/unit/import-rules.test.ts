/**
 * The floor rule of docs/architecture.md, checked on every import of src/**.ts: a folder under src/
 * imports only itself and the folders of its row in MAY_IMPORT; a folder other than cli reaches
 * the restore engine only through its front door, src/restore/index.ts. Type-only imports count
 * too (they tie folders together just the same). An arrow that breaks the rule and is accepted for
 * now is listed, edge by edge, in KNOWN_EXCEPTIONS: a new violation fails, and so does an exception
 * that no longer occurs (delete its line). No two files may import each other through imports that
 * load them (a module would run before what it imports is initialised).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

// Floors of docs/architecture.md, lowest first.
const FLOOR_0 = ['util'];
const FLOOR_1 = [...FLOOR_0, 'kafka', 'storage'];
const FLOOR_2 = [...FLOOR_1, 'format', 'config', 'metrics'];
const FLOOR_4 = [...FLOOR_2, 'backup', 'restore', 'offsets'];

/**
 * Folder -> the folders it may import. Each floor stands on the floors below it. Within a floor:
 * kafka and storage are independent; format (the backup's objects and codecs) stands on kafka's
 * codecs and the store, config knows the types of what it configures (format's codec), metrics
 * reads its config section; backup and restore never import each other; offsets uses restore (the
 * one arrow between engines); recovery, validation, lifecycle and report compose the engines below;
 * cli is the top.
 */
const MAY_IMPORT: Readonly<Record<string, readonly string[]>> = {
  util: [],
  kafka: FLOOR_0,
  storage: FLOOR_0,
  format: [...FLOOR_1],
  config: [...FLOOR_1, 'format'],
  metrics: [...FLOOR_1, 'format', 'config'],
  backup: FLOOR_2,
  restore: FLOOR_2,
  offsets: [...FLOOR_2, 'restore'],
  recovery: FLOOR_4,
  validation: FLOOR_4,
  lifecycle: FLOOR_4,
  report: FLOOR_4,
  cli: [...FLOOR_4, 'recovery', 'validation', 'lifecycle', 'report'],
};

/** The only file of restore/ that other folders (but cli) may import. */
const RESTORE_FRONT_DOOR = 'restore/index.ts';

/**
 * Imports that break the rule today (importer -> imported, paths below src/). None is left since
 * issue 17's restructuring; do not add lines here: put a shared piece on a floor both sides may
 * import instead.
 */
const KNOWN_EXCEPTIONS: readonly string[] = [];

/** Relative module specifiers of one file: static imports and re-exports (also multi-line and type-only), side-effect and dynamic imports. */
function relativeImports(text: string): string[] {
  const re = /^\s*(?:import|export)\b[^;]*?\bfrom\s*['"]([^'"]+)['"]|^\s*import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gm;
  return [...text.matchAll(re)].map((m) => m[1] ?? m[2] ?? m[3] ?? '').filter((s) => s.startsWith('.'));
}

/** `importer -> imported` for every import from one top folder of src/ into another. */
function crossFolderImports(files: ReadonlyMap<string, string>): string[] {
  const out: string[] = [];
  for (const [file, text] of files) {
    for (const spec of relativeImports(text)) {
      const target = posix.normalize(posix.join(posix.dirname(file), spec)).replace(/\.js$/, '.ts');
      if (target.split('/')[0] !== file.split('/')[0]) out.push(`${file} -> ${target}`);
    }
  }
  return out;
}

/**
 * Relative imports that load the module when this one runs: static imports and re-exports that are
 * not type-only (`import type`, or every name marked `type`, is erased) and side-effect imports.
 * Dynamic imports run later, so they cannot form a loading cycle.
 */
function loadingImports(text: string): string[] {
  const re = /^\s*(?:import|export)\s+(type\s+)?([^;]*?)\bfrom\s*['"](\.[^'"]+)['"]|^\s*import\s*['"](\.[^'"]+)['"]/gm;
  const out: string[] = [];
  for (const m of text.matchAll(re)) {
    if (m[1] !== undefined) continue;
    const clause = (m[2] ?? '').trim();
    const named = /^\{([^}]*)\}$/s.exec(clause);
    if (named && named[1]!.split(',').every((n) => n.trim() === '' || n.trim().startsWith('type '))) continue;
    out.push(m[3] ?? m[4] ?? '');
  }
  return out;
}

/**
 * Files that import each other, directly or around a longer loop, through loading imports: in such
 * a loop one module runs before what it imports is initialised (a `const` read at load time throws
 * "Cannot access ... before initialization"; format/restore-state.ts and restore-report.ts did).
 */
function importCycles(files: ReadonlyMap<string, string>): string[][] {
  const graph = new Map<string, string[]>();
  for (const [file, text] of files) {
    graph.set(
      file,
      loadingImports(text).map((spec) => posix.normalize(posix.join(posix.dirname(file), spec)).replace(/\.js$/, '.ts')),
    );
  }
  // Tarjan's strongly connected components: every component of more than one file is a cycle.
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (stack.includes(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || graph.get(v)!.includes(v)) cycles.push(component.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return cycles;
}

function breaksRule(edge: string): boolean {
  const [importer = '', imported = ''] = edge.split(' -> ');
  const from = importer.split('/')[0] ?? '';
  const to = imported.split('/')[0] ?? '';
  if (!(MAY_IMPORT[from] ?? []).includes(to)) return true;
  return to === 'restore' && from !== 'cli' && imported !== RESTORE_FRONT_DOOR;
}

function sourceFiles(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile() || !e.name.endsWith('.ts')) continue;
    const path = join(e.parentPath, e.name);
    files.set(relative(SRC, path).split(sep).join('/'), readFileSync(path, 'utf8'));
  }
  return files;
}

describe('import rules (the floors of docs/architecture.md)', () => {
  const files = sourceFiles(SRC);
  const edges = crossFolderImports(files);

  test('every folder of src/ has a row in the table, and nothing lies directly in src/', () => {
    const folders = new Set([...files.keys()].map((f) => (f.includes('/') ? f.split('/')[0]! : `(src/${f})`)));
    assert.deepEqual(
      [...folders].filter((f) => !(f in MAY_IMPORT)),
      [],
    );
  });

  test('no import breaks the rule, except the known ones', () => {
    const broken = [...new Set(edges.filter(breaksRule))].sort();
    const unexpected = broken.filter((e) => !KNOWN_EXCEPTIONS.includes(e));
    assert.deepEqual(unexpected, [], `imports against the floor rule (see MAY_IMPORT): ${unexpected.join('; ')}`);
  });

  test('every known exception still occurs and still breaks the rule (remove the lines that do not)', () => {
    const gone = KNOWN_EXCEPTIONS.filter((e) => !edges.includes(e) || !breaksRule(e));
    assert.deepEqual(gone, []);
  });

  test('no two files import each other (directly or around a loop) through imports that load them', () => {
    assert.deepEqual(importCycles(files), []);
  });

  test('the cycle check sees a loop through value imports, and not one through type-only imports', () => {
    const loop = new Map([
      ['format/restore-state.ts', "import { z } from 'zod';\nimport { readRestoreReport, type RestoreReport } from './restore-report.js';"],
      ['format/restore-report.ts', "import { offsetRunSchema } from './restore-state.js';"],
      ['format/other.ts', "import { type RestoreReport } from './restore-report.js';\nexport type { X } from './restore-state.js';"],
    ]);
    assert.deepEqual(importCycles(loop), [['format/restore-report.ts', 'format/restore-state.ts']]);
    loop.set('format/restore-report.ts', "import type { OffsetRun } from './restore-state.js';");
    assert.deepEqual(importCycles(loop), []);
    const longer = new Map([
      ['a/x.ts', "import { y } from '../b/y.js';"],
      ['b/y.ts', "export { z } from './z.js';"],
      ['b/z.ts', "import '../a/x.js';"],
    ]);
    assert.deepEqual(importCycles(longer), [['a/x.ts', 'b/y.ts', 'b/z.ts']]);
  });

  test('the scan sees imports of every form, and a wrong arrow is reported', () => {
    const text = [
      "import {\n  a,\n  b,\n} from '../format/segment.js';",
      "import type { X } from './local.js';",
      "export { y } from '../../util/errors.js';",
      "import '../storage/side-effect.js';",
      "const m = await import('../restore/plan.js');",
      "import { z } from 'zod';",
    ].join('\n');
    assert.deepEqual(relativeImports(text), ['../format/segment.js', './local.js', '../../util/errors.js', '../storage/side-effect.js', '../restore/plan.js']);
    const found = crossFolderImports(new Map([['kafka/protocol/x.ts', "import { ByteReader } from '../../format/varint.js';"]]));
    assert.deepEqual(found, ['kafka/protocol/x.ts -> format/varint.ts']);
    assert.equal(breaksRule(found[0]!), true);
    assert.equal(breaksRule('format/segment.ts -> kafka/protocol/record-batch.ts'), false);
    assert.equal(breaksRule('restore/plan.ts -> backup/engine.ts'), true, 'backup and restore never import each other');
    assert.equal(breaksRule('format/manifest.ts -> config/types.ts'), true, 'format stands below config');
    assert.equal(breaksRule('offsets/plan.ts -> restore/index.ts'), false);
    assert.equal(breaksRule('offsets/plan.ts -> restore/plan.ts'), true, 'restore is entered through its front door');
    assert.equal(breaksRule('cli/config-mapping.ts -> restore/options.ts'), false);
    // The real tree: the scan finds the codec imports format/ is known to make.
    assert.ok(edges.includes('format/segment.ts -> kafka/protocol/record-batch.ts'));
  });
});
