/**
 * Rollback of an encrypted backup (issue 13 item 6), end to end through the CLI against the real
 * broker, on an encrypted filesystem store: back up, keep the ciphertexts of one partition index
 * and of the manifest, back up more, put the older ciphertexts back. Each still authenticates;
 * `validate`, `validate-restore`, `restore` and a resumed `backup` must refuse, naming the object,
 * instead of restoring (or building on) fewer records. Before the fix, the put-back manifest and
 * index were a consistent older backup for that partition: restore silently wrote fewer records.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RecordInput } from '../../src/kafka/protocol/record-batch.js';
import { createTopic, getTestKafka, stopTestKafka, uniqueTopic } from '../helpers/kafka.js';
import { consumeAll, produce } from '../helpers/records.js';
import { runCli } from '../helpers/cli.js';

const BASE = Date.UTC(2024, 10, 10, 0, 0, 0);
const FIRST = 300;
const MORE = 200;
const ID = 'rb-1';

function cli(args: string[]): { code: number; out: string; stdout: string } {
  const r = runCli(args);
  return { code: r.code, out: `${r.stdout}\n${r.stderr}`, stdout: r.stdout };
}

function records(p: number, from: number, n: number): RecordInput[] {
  return Array.from({ length: n }, (_, i) => ({
    key: Buffer.from(`k-${p}-${from + i}`),
    value: Buffer.from(`v-${p}-${from + i}-${'x'.repeat(200)}`),
    timestamp: BigInt(BASE + (from + i) * 1000),
  }));
}

const esc = (s: string) => s.replace(/[.]/g, '\\.');

describe('rollback of an encrypted backup (CLI, real broker, encrypted filesystem store)', () => {
  let bootstrap: string;
  let dir: string;
  let store: string;
  let keyFile: string;
  const topic = uniqueTopic('rollback');
  const target = `${topic}-restored`;

  before(async () => {
    bootstrap = (await getTestKafka()).bootstrap;
    dir = await mkdtemp(join(tmpdir(), 'kb-rollback-it-'));
    store = join(dir, 'store');
    keyFile = join(dir, 'backup.key');
    await writeFile(keyFile, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
    await createTopic(bootstrap, topic, 2);
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
    await stopTestKafka();
  });

  test('an older index.json or manifest.json put back is refused by validate, validate-restore, restore and backup, naming the object', async () => {
    const enc = `encryption:\n  key_file: ${keyFile}\n`;
    const bcfg = join(dir, 'backup.yaml');
    await writeFile(
      bcfg,
      `mode: backup\nbackup_id: ${ID}\nsource:\n  bootstrap_servers: ["${bootstrap}"]\n  topics: { include: ["${topic}"] }\nstorage:\n  backend: filesystem\n  path: ${store}\nbackup:\n  compression: none\n  segment_max_bytes: 16384\n${enc}`,
    );
    const rcfg = join(dir, 'restore.yaml');
    await writeFile(
      rcfg,
      `mode: restore\nbackup_id: ${ID}\ntarget:\n  bootstrap_servers: ["${bootstrap}"]\nstorage:\n  backend: filesystem\n  path: ${store}\nrestore:\n  topic_mapping: { ${topic}: ${target} }\n${enc}`,
    );
    const validate = () => cli(['validate', '--path', store, '--backup-id', ID, '--encryption-key-file', keyFile]);
    const indexKey = `${ID}/topics/${topic}/0/index.json`;
    const manifestKey = `${ID}/manifest.json`;
    const indexFile = join(store, indexKey);
    const manifestFile = join(store, manifestKey);

    // Run 1, and the ciphertexts it leaves.
    for (let p = 0; p < 2; p++) await produce(bootstrap, topic, p, records(p, 0, FIRST));
    const b1 = cli(['backup', '--config', bcfg]);
    assert.equal(b1.code, 0, b1.out);
    await copyFile(indexFile, join(dir, 'index-run1'));
    await copyFile(manifestFile, join(dir, 'manifest-run1'));
    const generationOf = (): number => {
      const j = cli(['validate', '--path', store, '--backup-id', ID, '--encryption-key-file', keyFile, '--format', 'json']);
      assert.equal(j.code, 0, j.out);
      return (JSON.parse(j.stdout) as { manifest_generation: number }).manifest_generation;
    };
    const g1 = generationOf();

    // Run 2 (the same backup id, resumed) backs up the newer records.
    for (let p = 0; p < 2; p++) await produce(bootstrap, topic, p, records(p, FIRST, MORE));
    const b2 = cli(['backup', '--config', bcfg]);
    assert.equal(b2.code, 0, b2.out);
    await copyFile(indexFile, join(dir, 'index-run2'));
    await copyFile(manifestFile, join(dir, 'manifest-run2'));
    const ok = validate();
    assert.equal(ok.code, 0, ok.out);
    // What an operator can record outside the bucket: it only grows.
    const g2 = generationOf();
    assert.ok(Number.isInteger(g1) && g1 >= 1 && g2 > g1, `manifest generations ${g1} then ${g2}`);

    // A: the older index alone put back.
    await copyFile(join(dir, 'index-run1'), indexFile);
    let v = validate();
    assert.equal(v.code, 1, v.out);
    assert.match(v.out, new RegExp(`${esc(indexKey)}: rolled back: this is generation \\d+ of the index, but the manifest records generation \\d+`));
    let vr = cli(['validate-restore', '--config', rcfg]);
    assert.notEqual(vr.code, 0, vr.out);
    assert.match(vr.out, new RegExp(`${esc(indexKey)}: rolled back`));
    let r = cli(['restore', '--config', rcfg]);
    assert.notEqual(r.code, 0, r.out);
    assert.match(r.out, new RegExp(`${esc(indexKey)}: rolled back`));
    // A resumed backup does not build on it either.
    const b3 = cli(['backup', '--config', bcfg]);
    assert.notEqual(b3.code, 0, b3.out);
    assert.match(b3.out, new RegExp(`refusing to resume backup ${ID}: ${esc(indexKey)}: rolled back`));

    // B: the older manifest and the older index together (consistent for partition 0; before the
    // fix a restore wrote partition 0's first run only, without a word). Partition 1's index was
    // written after a newer manifest generation, which gives the put-back manifest away.
    await copyFile(join(dir, 'manifest-run1'), manifestFile);
    v = validate();
    assert.equal(v.code, 1, v.out);
    assert.match(
      v.out,
      new RegExp(
        `${esc(manifestKey)}: rolled back: this is generation \\d+ of the manifest, but ${esc(ID)}/topics/${esc(topic)}/1/index\\.json was written after generation \\d+`,
      ),
    );
    vr = cli(['validate-restore', '--config', rcfg]);
    assert.notEqual(vr.code, 0, vr.out);
    assert.match(vr.out, new RegExp(`${esc(manifestKey)}: rolled back`));
    r = cli(['restore', '--config', rcfg]);
    assert.notEqual(r.code, 0, r.out);
    assert.match(r.out, new RegExp(`${esc(manifestKey)}: rolled back`));

    // The current objects back: everything validates and restores (the refused restores wrote nothing).
    await copyFile(join(dir, 'index-run2'), indexFile);
    await copyFile(join(dir, 'manifest-run2'), manifestFile);
    const good = validate();
    assert.equal(good.code, 0, good.out);
    r = cli(['restore', '--config', rcfg]);
    assert.equal(r.code, 0, r.out);
    for (let p = 0; p < 2; p++) assert.equal((await consumeAll(bootstrap, target, p)).length, FIRST + MORE, `partition ${p}`);
  });
});
