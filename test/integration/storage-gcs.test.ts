/**
 * The storage contract, a backup and a PITR restore against fake-gcs-server (a GCS emulator built
 * with `go install` by scripts/install-fake-gcs.sh), as storage-s3 / backup-restore-s3 do on MinIO.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openStore, parseStorageUrl } from '../../src/storage/index.js';
import type { StorageSpec } from '../../src/storage/spec.js';
import type { ObjectStore } from '../../src/storage/store.js';
import { StorageError } from '../../src/util/errors.js';
import { createGcsBucket, fakeGcsInstalled, startFakeGcs, type RunningFakeGcs } from '../../scripts/fake-gcs.js';
import { ROOT } from '../../scripts/proc.js';
import { runStorageContract } from '../helpers/storage-contract.js';
import { createTopic, getTestKafka, stopTestKafka, uniqueTopic } from '../helpers/kafka.js';
import { awkwardRecords, consumeAll, produce, recordKey } from '../helpers/records.js';
import { backupValidateAndRestoreWindow } from '../helpers/store-round-trip.js';

let gcs: RunningFakeGcs | undefined;
const bucket = `kb-${Date.now().toString(36)}`;

before(async () => {
  // scripts/run-tests.ts installs it; a file run on its own installs it here.
  if (!fakeGcsInstalled()) execFileSync('bash', [join(ROOT, 'scripts', 'install-fake-gcs.sh')], { stdio: 'inherit' });
  gcs = await startFakeGcs();
  await createGcsBucket(gcs.endpoint, bucket);
});

after(async () => {
  await gcs?.stop();
  await stopTestKafka();
});

const spec = (): StorageSpec => {
  if (!gcs) throw new Error('fake-gcs-server not started');
  return { backend: 'gcs', bucket, endpoint: gcs.endpoint, allowHttp: true };
};

runStorageContract('gcs (fake-gcs-server)', () => openStore(spec()));
runStorageContract('gcs (fake-gcs-server) with prefix', () => openStore({ ...spec(), prefix: 'pre/fix' } as StorageSpec));

describe('gcs backend specifics', () => {
  it('a missing bucket is a NO_SUCH_BUCKET StorageError naming the bucket, not "not found" of the key', async () => {
    const store = await openStore({ ...spec(), bucket: 'kb-no-such-bucket' } as StorageSpec);
    try {
      const noBucket = (e: Error & { code?: string }): boolean =>
        e instanceof StorageError && e.code === 'NO_SUCH_BUCKET' && e.message.includes('bucket kb-no-such-bucket does not exist');
      await assert.rejects(store.put('k', Buffer.from('v')), noBucket);
      await assert.rejects(store.put('k', Buffer.from('v'), { ifNotExists: true }), noBucket);
      await assert.rejects(
        store.putStream(
          'k',
          (async function* () {
            yield Buffer.from('v');
          })(),
        ),
        noBucket,
      );
      await assert.rejects(store.get('k'), noBucket);
      await assert.rejects(store.head('k'), noBucket, 'not "absent": the bucket is');
      await assert.rejects(store.exists('k'), noBucket);
      await assert.rejects(store.delete('k'), noBucket, 'a delete does not hide a missing bucket');
      await assert.rejects(
        (async () => {
          for await (const m of store.list('')) void m;
        })(),
        noBucket,
      );
    } finally {
      await store.close();
    }
  });

  it('opens from a gs:// URL with ?endpoint=', async () => {
    const store = await openStore(parseStorageUrl(`gs://${bucket}/via-url?endpoint=${encodeURIComponent(gcs!.endpoint)}&allow_http=true`));
    try {
      await store.put('k', Buffer.from('v'));
      const direct = await openStore(spec());
      assert.equal((await direct.get('via-url/k')).toString(), 'v');
      await direct.close();
    } finally {
      await store.close();
    }
  });
});

describe('backup and restore through GCS', () => {
  let bootstrap: string;
  let store: ObjectStore;
  const topic = uniqueTopic('gcs-orders');

  before(async () => {
    bootstrap = (await getTestKafka()).bootstrap;
    store = await openStore({ ...spec(), prefix: 'production' } as StorageSpec);
    await createTopic(bootstrap, topic, 2);
    await produce(bootstrap, topic, 0, awkwardRecords(250, Date.UTC(2024, 10, 10), 7), 'zstd');
    await produce(bootstrap, topic, 1, awkwardRecords(250, Date.UTC(2024, 10, 10), 8), 'none');
  });
  after(async () => {
    await store?.close();
  });

  it('backup to GCS, validate --deep, and a PITR restore from it', async () => {
    await backupValidateAndRestoreWindow(bootstrap, store, 'gcs-backup', topic);
  });

  it('the CLI backs up to and restores from GCS with storage.endpoint in the YAML', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kb-gcs-cli-'));
    try {
      const storage = `storage:\n  backend: gcs\n  bucket: ${bucket}\n  prefix: cli\n  endpoint: ${gcs!.endpoint}\n  allow_http: true\n`;
      const backup = join(dir, 'backup.yaml');
      await writeFile(
        backup,
        `mode: backup\nbackup_id: gcs-cli\nsource:\n  bootstrap_servers: ["${bootstrap}"]\n  topics:\n    include: ["${topic}"]\n${storage}metrics:\n  enabled: false\n`,
      );
      const target = uniqueTopic('gcs-cli');
      const restore = join(dir, 'restore.yaml');
      await writeFile(
        restore,
        `mode: restore\nbackup_id: gcs-cli\ntarget:\n  bootstrap_servers: ["${bootstrap}"]\n${storage}restore:\n  topic_mapping:\n    ${topic}: ${target}\nmetrics:\n  enabled: false\n`,
      );
      for (const [cmd, cfg] of [
        ['backup', backup],
        ['restore', restore],
      ] as const) {
        const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/run.ts'), cmd, '--config', cfg], {
          cwd: ROOT,
          encoding: 'utf8',
          timeout: 120_000,
        });
        assert.equal(r.status, 0, `${cmd}: ${r.stderr}`);
      }
      const direct = await openStore(spec());
      try {
        assert.ok(await direct.exists('cli/gcs-cli/manifest.json'), "the backup is in the emulator's bucket, under the prefix");
      } finally {
        await direct.close();
      }
      for (const p of [0, 1]) {
        const want = await consumeAll(bootstrap, topic, p);
        const got = await consumeAll(bootstrap, target, p);
        assert.deepEqual(
          got.map((r) => recordKey(r)),
          want.map((r) => recordKey(r)),
        );
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
