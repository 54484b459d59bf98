/**
 * Client-side encryption end to end, through the CLI, against the real broker and MinIO:
 * encrypted backup → validate --deep → PITR restore (ranged reads of encrypted segments) → the
 * restored records equal the source's window; the stored bytes hold no plaintext of a record;
 * readers without the key, with the wrong key, or facing a flipped byte get clear errors.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RecordInput } from '../../src/kafka/protocol/record-batch.js';
import { createTopic, getTestKafka, stopTestKafka, uniqueTopic } from '../helpers/kafka.js';
import { getTestS3, listObjectKeys, minioEnv, s3Spec } from '../helpers/minio.js';
import { consumeAll, produce, recordKey } from '../helpers/records.js';
import { openStore } from '../../src/storage/index.js';
import { EncryptedStore } from '../../src/storage/encrypted.js';
import type { ObjectStore } from '../../src/storage/store.js';
import { runStorageContract } from '../helpers/storage-contract.js';
import { runCli, type CliResult } from '../helpers/cli.js';

const MARKER = 'PLAINTEXT-MARKER-7f3a9c';
const BASE = Date.UTC(2024, 10, 10, 0, 0, 0);
const N = 1500;

function cli(args: string[], env: NodeJS.ProcessEnv = {}): CliResult {
  return runCli(args, { env });
}

function records(p: number): RecordInput[] {
  return Array.from({ length: N }, (_, i) => ({
    key: Buffer.from(`k-${p}-${i}`),
    value: Buffer.from(`${MARKER}-${p}-${i}-${'v'.repeat(900)}`),
    headers: [{ key: 'h', value: Buffer.from(`${MARKER}-hdr`) }],
    timestamp: BigInt(BASE + i * 1000),
  }));
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) out.push(join(e.parentPath, e.name));
  return out;
}

// The ObjectStore contract through EncryptedStore on a real S3 server (small chunks: many per object).
let contractBucket: Promise<{ bucket: string; s3: Awaited<ReturnType<typeof getTestS3>> }> | undefined;
async function encryptedS3(): Promise<ObjectStore> {
  contractBucket ??= (async () => {
    const s3 = await getTestS3();
    return { s3, bucket: await s3.freshBucket('kb-enc-contract') };
  })();
  const { s3, bucket } = await contractBucket;
  const inner = await openStore(s3Spec(s3, bucket, 'enc'));
  return new EncryptedStore(inner, Buffer.alloc(32, 3), { chunkSize: 4096, keyId: 'contract' });
}
runStorageContract('encrypted over s3 (MinIO)', encryptedS3);

describe('encrypted backups end to end (CLI, real broker)', () => {
  let bootstrap: string;
  let dir: string;
  let keyFile: string;
  let keyHex: string;
  const topic = uniqueTopic('enc');

  before(async () => {
    bootstrap = (await getTestKafka()).bootstrap;
    dir = await mkdtemp(join(tmpdir(), 'kb-enc-it-'));
    keyHex = randomBytes(32).toString('hex');
    keyFile = join(dir, 'backup.key');
    await writeFile(keyFile, keyHex + '\n', { mode: 0o600 });
    await createTopic(bootstrap, topic, 2);
    for (let p = 0; p < 2; p++) await produce(bootstrap, topic, p, records(p), 'none', 50);
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
    await stopTestKafka();
  });

  const backupYaml = (path: string, encryption: string): string =>
    `mode: backup\nbackup_id: enc-1\nsource:\n  bootstrap_servers: ["${bootstrap}"]\n  topics: { include: ["${topic}"] }\nstorage:\n  backend: filesystem\n  path: ${path}\nbackup:\n  compression: none\n  segment_max_bytes: 262144\n${encryption}`;

  test('encrypted backup → validate --deep → PITR restore; no plaintext in any stored byte; wrong/missing key and tampering are clear errors', async () => {
    const store = join(dir, 'store');
    const cfg = join(dir, 'backup.yaml');
    await writeFile(cfg, backupYaml(store, `encryption:\n  key_file: ${keyFile}\n  key_id: ops-2026-01\n`));
    const b = cli(['backup', '--config', cfg]);
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stdout, /Records: 3,000/);

    // Nothing stored holds plaintext: not the record values, not the headers, not the manifest's topic name.
    const files = await filesUnder(store);
    assert.ok(files.filter((f) => f.endsWith('.kbseg')).length >= 6, `several segments: ${files.length} files`);
    for (const f of files) {
      const bytes = await readFile(f);
      assert.equal(bytes.indexOf(MARKER), -1, `${f} holds plaintext`);
      assert.equal(bytes.indexOf(topic), -1, `${f} holds the topic name`);
      assert.equal(bytes.subarray(0, 8).toString(), 'KBENCRPT', `${f} is encrypted`);
    }

    // The same backup without encryption does hold the marker (so the check above means something).
    const plainStore = join(dir, 'plain');
    const plainCfg = join(dir, 'plain.yaml');
    await writeFile(plainCfg, backupYaml(plainStore, ''));
    assert.equal(cli(['backup', '--config', plainCfg]).code, 0);
    let plainHits = 0;
    for (const f of await filesUnder(plainStore)) if ((await readFile(f)).includes(MARKER)) plainHits++;
    assert.ok(plainHits > 0);

    // validate --deep with the key (from a file, then from an environment variable).
    const v = cli(['validate', '--path', store, '--backup-id', 'enc-1', '--deep', '--encryption-key-file', keyFile]);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    const v2 = cli(['validate', '--path', store, '--backup-id', 'enc-1', '--deep', '--format', 'json', '--encryption-key-env', 'KB_IT_KEY'], {
      KB_IT_KEY: Buffer.from(keyHex, 'hex').toString('base64'),
    });
    assert.equal(v2.code, 0, v2.stdout + v2.stderr);
    const d = cli(['describe', '--path', store, '--backup-id', 'enc-1', '--format', 'json'], { KAFKA_BACKUP_ENCRYPTION_KEY_FILE: keyFile });
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stdout, new RegExp(topic));

    // Without the key: one clear line naming the key id. With another key: both ids named.
    const nokey = cli(['describe', '--path', store, '--backup-id', 'enc-1']);
    assert.equal(nokey.code, 1);
    assert.match(nokey.stderr, /enc-1\/manifest\.json is encrypted with key id "ops-2026-01"/);
    const other = join(dir, 'other.key');
    await writeFile(other, randomBytes(32).toString('base64'));
    const wrong = cli(['validate', '--path', store, '--backup-id', 'enc-1', '--encryption-key-file', other, '--encryption-key-id', 'ops-2026-02']);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stdout + wrong.stderr, /encrypted with key id "ops-2026-01".*configured key is "ops-2026-02"/);
    const short = join(dir, 'short.key');
    await writeFile(short, 'abcd');
    const bad = cli(['validate', '--path', store, '--backup-id', 'enc-1', '--encryption-key-file', short]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /not a 256-bit key/);
    assert.doesNotMatch(bad.stderr, /abcd/);

    // PITR restore (window cuts through segments: footers and blocks come by ranged reads), key from an env var.
    const target = `${topic}-pitr`;
    const from = BASE + 500_000;
    const to = BASE + 899_000;
    const rcfg = join(dir, 'restore.yaml');
    await writeFile(
      rcfg,
      `mode: restore\nbackup_id: enc-1\ntarget:\n  bootstrap_servers: ["${bootstrap}"]\nstorage:\n  backend: filesystem\n  path: ${store}\nencryption:\n  key_env: KB_RESTORE_KEY\nrestore:\n  time_window_start: ${from}\n  time_window_end: ${to}\n  topic_mapping: { ${topic}: ${target} }\n`,
    );
    const vr = cli(['validate-restore', '--config', rcfg, '--format', 'json'], { KB_RESTORE_KEY: keyHex });
    assert.equal(vr.code, 0, vr.stdout + vr.stderr);
    const r = cli(['restore', '--config', rcfg], { KB_RESTORE_KEY: keyHex });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    for (let p = 0; p < 2; p++) {
      const got = await consumeAll(bootstrap, target, p);
      const want = (await consumeAll(bootstrap, topic, p)).filter((x) => Number(x.timestamp) >= from && Number(x.timestamp) <= to);
      assert.equal(got.length, 400);
      assert.deepEqual(
        got.map((x) => recordKey(x)),
        want.map((x) => recordKey(x)),
      );
    }
    // The restore's own state objects are encrypted too.
    for (const f of await filesUnder(join(store, 'enc-1', 'restores'))) assert.equal((await readFile(f)).indexOf(topic), -1);

    // A flipped byte in a segment: validate names the object.
    const seg = files.find((f) => f.endsWith('.kbseg'))!;
    const bytes = await readFile(seg);
    bytes[bytes.length - 100]! ^= 0x40;
    await writeFile(seg, bytes);
    const t = cli(['validate', '--path', store, '--backup-id', 'enc-1', '--encryption-key-file', keyFile]);
    assert.equal(t.code, 1);
    const rel = seg.slice(store.length + 1);
    assert.match(t.stdout, new RegExp(`${rel.replace(/[.]/g, '\\.')}.*failed authentication`));
  });

  test('encrypted backup on S3 (MinIO): backup, validate --deep and a read of every object work; nothing stored is plaintext', async () => {
    const s3 = await getTestS3();
    const bucket = await s3.freshBucket('kb-enc');
    const cfg = join(dir, 's3.yaml');
    await writeFile(
      cfg,
      `mode: backup\nbackup_id: enc-s3\nsource:\n  bootstrap_servers: ["${bootstrap}"]\n  topics: { include: ["${topic}"] }\nstorage:\n  backend: s3\n  bucket: ${bucket}\n  prefix: prod\n  endpoint: ${s3.endpoint}\n  region: ${s3.region}\n  path_style: true\n  allow_http: true\nbackup:\n  compression: none\n  segment_max_bytes: 262144\nencryption:\n  key_env: KB_S3_KEY\n`,
    );
    const env = { ...minioEnv(s3), KB_S3_KEY: keyHex, AWS_ACCESS_KEY_ID: s3.accessKey, AWS_SECRET_ACCESS_KEY: s3.secretKey };
    const b = cli(['backup', '--config', cfg], env);
    assert.equal(b.code, 0, b.stderr);
    const url = `s3://${bucket}/prod?endpoint=${encodeURIComponent(s3.endpoint)}&region=${s3.region}&path_style=true&allow_http=true`;
    const v = cli(['validate', '--path', url, '--backup-id', 'enc-s3', '--deep', '--encryption-key-env', 'KB_S3_KEY'], env);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    // Raw objects, read below the encryption layer: none holds the marker or the topic name.
    const raw = await openStore(s3Spec(s3, bucket));
    const inner = (raw as unknown as { inner: { get(k: string): Promise<Buffer> } }).inner;
    const keys = await listObjectKeys(s3, bucket);
    assert.ok(keys.filter((k) => k.endsWith('.kbseg')).length >= 6, keys.join(', '));
    try {
      for (const k of keys) {
        const bytes = await inner.get(k);
        assert.equal(bytes.indexOf(MARKER), -1, `${k} holds plaintext`);
        assert.equal(bytes.subarray(0, 8).toString(), 'KBENCRPT', `${k} is encrypted`);
      }
    } finally {
      await raw.close();
    }
  });
});
