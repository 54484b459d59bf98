import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { parse as parseYaml, stringify } from 'yaml';
import { ConfigError } from '../../src/util/errors.js';
import { parseConfigText } from '../../src/config/index.js';

const ENV = { KAFKA_PASSWORD: 'p', KEY_PASSWORD: 'k', AWS_SECRET: 's' };
const FULL = readFileSync(new URL('../fixtures/config/full-reference.yaml', import.meta.url), 'utf8');
const RUNS = Number(process.env.FUZZ_RUNS ?? 300);

/** Parses and returns normally or throws a ConfigError; anything else fails the property. */
function onlyConfigErrors(text: string): boolean {
  try {
    parseConfigText(text, 'fuzz.yaml', { env: ENV, onWarning: () => {}, readFile: () => 'file-content' });
    return true;
  } catch (err) {
    if (err instanceof ConfigError) return true;
    throw err;
  }
}

test('random YAML documents only ever raise ConfigError', () => {
  fc.assert(
    fc.property(
      fc.anything({
        withNullPrototype: false,
        withBigInt: false,
        withDate: false,
        withMap: false,
        withSet: false,
        withTypedArray: false,
        withSparseArray: false,
        withBoxedValues: false,
      }),
      (v) => onlyConfigErrors(String(stringify(v) ?? '')),
    ),
    { numRuns: RUNS },
  );
});

test('random text only ever raises ConfigError', () => {
  const chars = fc.constantFrom(...'ab:-_ \n\t#{}[]"\'$!&*|>?,0123456789'.split(''));
  fc.assert(
    fc.property(
      fc.array(chars, { maxLength: 200 }).map((a) => a.join('')),
      (t) => onlyConfigErrors(t),
    ),
    { numRuns: RUNS },
  );
  fc.assert(
    fc.property(fc.string({ maxLength: 300 }), (t) => onlyConfigErrors(t)),
    { numRuns: RUNS },
  );
});

const TOP = ['mode', 'backup_id', 'source', 'target', 'storage', 'backup', 'restore', 'offset_storage', 'metrics', 'logging'];
const scalar = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.string({ maxLength: 20 }),
  fc.constantFrom('backup', 'restore', 's3', 'azure', 'gcs', 'filesystem', 'memory', '2024-11-10T10:00:00Z', 'SCRAM-SHA256', 'a:9092', 'earliest'),
);
const value = fc.letrec((tie) => ({
  v: fc.oneof(
    { depthSize: 'small' },
    scalar,
    fc.array(tie('v'), { maxLength: 4 }),
    fc.dictionary(
      fc.oneof(
        fc.constantFrom('backend', 'bucket', 'bootstrap_servers', 'time_window_end', 'partition_mapping', 'security', '0', '__proto__'),
        fc.string({ maxLength: 8 }),
      ),
      tie('v'),
      { maxKeys: 4 },
    ),
  ),
})).v;

test('configs with the real section names and random values only ever raise ConfigError', () => {
  fc.assert(
    fc.property(fc.dictionary(fc.constantFrom(...TOP), value, { maxKeys: 10 }), (o) => onlyConfigErrors(stringify(o))),
    { numRuns: RUNS },
  );
});

/** Replaces the value at a random path of the full reference file with a random value. */
test('single-key mutations of the full reference file only ever raise ConfigError', () => {
  const base: unknown = parseYaml(FULL.replace(/start_offset: !specific/, 'start_offset:'));
  const paths: string[][] = [];
  const walk = (v: unknown, p: string[]) => {
    if (v && typeof v === 'object' && !Array.isArray(v))
      for (const [k, x] of Object.entries(v)) {
        paths.push([...p, k]);
        walk(x, [...p, k]);
      }
  };
  walk(base, []);
  assert.ok(paths.length > 100);
  fc.assert(
    fc.property(fc.constantFrom(...paths), value, (path, v) => {
      const copy = structuredClone(base) as Record<string, unknown>;
      let o: Record<string, unknown> = copy;
      for (const k of path.slice(0, -1)) o = o[k] as Record<string, unknown>;
      o[path[path.length - 1]!] = v;
      return onlyConfigErrors(stringify(copy));
    }),
    { numRuns: RUNS * 3 },
  );
});
