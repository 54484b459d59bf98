/**
 * The build's bundle of @platformatic/kafka (scripts/bundle-kafka.ts): src/ reaches the library only through
 * src/kafka/lib.ts (a second import would load the whole library again in the installed command), and the
 * bundle of that module exports the same symbols, with option validators that compile on first use and
 * reject what the library rejects, with the same messages. The installed command's backup and restore run
 * on it in test/integration/packed-install.test.ts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as library from '@platformatic/kafka';
import { bundleKafka } from '../../scripts/bundle-kafka.js';
import * as lib from '../../src/kafka/lib.js';

const ROOT = join(import.meta.dirname, '..', '..');
const LIB = join(ROOT, 'src', 'kafka', 'lib.ts');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

type AdminCtor = new (
  options: Record<string, unknown>,
) => {
  createTopics(options: unknown): Promise<unknown>;
  close(): Promise<void>;
};

/** The error a client of `mod` raises for bad constructor options and for bad createTopics options (validated with `strict`). */
async function validationErrors(mod: { Admin: unknown }): Promise<string[]> {
  const Admin = mod.Admin as AdminCtor;
  const base = { strict: true, clientId: 'bundle-test', bootstrapBrokers: ['localhost:1'] };
  const out: string[] = [];
  try {
    new Admin({ ...base, retries: -5 });
    out.push('constructor accepted retries -5');
  } catch (e) {
    out.push(`${(e as Error).constructor.name}: ${(e as Error).message}`);
  }
  const admin = new Admin(base);
  try {
    await admin.createTopics({ topics: 5 });
    out.push('createTopics accepted topics 5');
  } catch (e) {
    out.push(`${(e as Error).constructor.name}: ${(e as Error).message}`);
  } finally {
    await admin.close();
  }
  return out;
}

describe('the Kafka library bundle', () => {
  // Inside the checkout, so that the bundle's external packages resolve from node_modules.
  const dir = join(ROOT, '.run', `kafka-bundle-test-${process.pid}`);
  const outfile = join(dir, 'lib.js');
  before(async () => {
    mkdirSync(dir, { recursive: true });
    await bundleKafka(LIB, outfile);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('src/ imports @platformatic/kafka only in src/kafka/lib.ts', () => {
    const importers = sources(join(ROOT, 'src'))
      .filter((f) => /\bfrom\s+['"]@platformatic\/kafka['"]/.test(readFileSync(f, 'utf8')))
      .map((f) => relative(ROOT, f));
    assert.deepEqual(importers, ['src/kafka/lib.ts']);
  });

  it('exports what src/kafka/lib.ts exports, and compiles no validator at import', async () => {
    const bundle = (await import(pathToFileURL(outfile).href)) as Record<string, unknown>;
    assert.deepEqual(Object.keys(bundle).sort(), Object.keys(lib).sort());
    const text = readFileSync(outfile, 'utf8');
    assert.ok(text.includes('__lazyCompile(ajv, '), 'validators made lazy');
    assert.doesNotMatch(text, /=\s*ajv\.compile\(/, 'no validator compiled when the module loads');
  });

  it('its validators reject bad options as the library does', async () => {
    const bundle = (await import(pathToFileURL(outfile).href)) as { Admin: unknown };
    const expected = await validationErrors(library);
    assert.match(expected[0]!, /^UserError: \/options\/retries must be >= 0/);
    assert.match(expected[1]!, /^UserError: \/options\/topics must be array/);
    assert.deepEqual(await validationErrors(bundle), expected);
  });
});
