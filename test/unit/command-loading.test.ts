/**
 * The CLI loads only the command it runs (src/cli/command-name.ts, src/cli/commands/index.ts): the command
 * read from the line as commander will read it, every command still reachable, the full help unchanged, and
 * `--version` loading no command file, engine, Kafka client or zod.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { commandsToLoad } from '../../src/cli/command-name.js';
import { buildProgram } from '../../src/cli/main.js';

const ROOT = join(import.meta.dirname, '..', '..');
const argv = (...args: string[]): string[] => ['node', 'kafka-backup', ...args];

describe('loading only the command that runs', () => {
  it('reads the command past global options and their values', async () => {
    const program = await buildProgram(argv('--version'));
    const cases: [string[], string][] = [
      [['restore', '-c', 'x.yaml'], 'restore'],
      [['--log-format', 'json', 'restore'], 'restore'],
      [['--log-format=json', 'backup'], 'backup'],
      [['-vv', '-q', '--no-color', 'cat', '--path', 'p'], 'cat'],
      // A global option's value that is also a command's name is the value.
      [['--encryption-key-file', 'restore', 'describe'], 'describe'],
      [['--encryption-key-env', 'K', '--encryption-key-id', 'list', 'list'], 'list'],
      [['--version'], 'none'],
      [['-V'], 'none'],
      [['--version', '--help'], 'all'],
      [[], 'all'],
      [['--help'], 'all'],
      [['help', 'restore'], 'all'],
      [['restre'], 'restre'],
    ];
    for (const [args, expected] of cases) assert.equal(commandsToLoad(program, args), expected, args.join(' '));
  });

  it('registers each command alone with its own options, and all of them for the help', async () => {
    const all = (await buildProgram(argv('--help'))).commands.map((c) => c.name());
    assert.ok(all.length >= 19, all.join(' '));
    for (const name of all) {
      const one = await buildProgram(argv(name, '--help'));
      const names = one.commands.map((c) => c.name());
      assert.ok(names.includes(name), `${name}: registered ${names.join(' ')}`);
      assert.ok(names.length <= 2, `${name} loads only its own file: ${names.join(' ')}`);
      assert.equal(
        one.commands.find((c) => c.name() === name)!.helpInformation(),
        (await buildProgram(argv('--help'))).commands.find((c) => c.name() === name)!.helpInformation(),
      );
    }
    assert.deepEqual(
      (await buildProgram(argv('restre'))).commands.map((c) => c.name()),
      all,
      'an unknown name: all, for the suggestion',
    );
    assert.deepEqual((await buildProgram(argv('--version'))).commands, []);
  });

  it('--version loads no command file, engine, Kafka client or zod', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kb-loading-'));
    try {
      const hook = join(dir, 'hook.mjs');
      const out = join(dir, 'loaded.json');
      writeFileSync(
        hook,
        `import { registerHooks } from 'node:module';\nimport { writeFileSync } from 'node:fs';\nconst seen = [];\n` +
          `registerHooks({ resolve(s, c, next) { const r = next(s, c); seen.push(r.url); return r; } });\n` +
          `process.on('exit', () => writeFileSync(${JSON.stringify(out)}, JSON.stringify(seen)));\n`,
      );
      const r = spawnSync(process.execPath, ['--import', pathToFileURL(hook).href, '--import', 'tsx', join(ROOT, 'src', 'cli', 'run.ts'), '--version'], {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 60_000,
      });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^kafka-backup \d+\.\d+\.\d+/);
      const loaded = (JSON.parse(readFileSync(out, 'utf8')) as string[]).filter((u) => u.startsWith('file:'));
      assert.ok(
        loaded.some((u) => u.endsWith('/src/cli/commands/index.ts')),
        'the hook saw the CLI load',
      );
      const unwanted = loaded.filter(
        (u) =>
          /\/src\/cli\/commands\/(?!index\.ts)/.test(u) ||
          /\/src\/(backup|restore|offsets|recovery|validation|lifecycle|report|kafka|config|metrics)\//.test(u) ||
          /\/node_modules\/(@platformatic\/kafka|zod|prom-client)\//.test(u),
      );
      assert.deepEqual(unwanted, []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
