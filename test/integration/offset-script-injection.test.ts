import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBackup } from '../../src/backup/engine.js';
import { KafkaAdmin } from '../../src/kafka/admin.js';
import type { RecordInput } from '../../src/kafka/protocol/record-batch.js';
import { runRestore } from '../../src/restore/engine.js';
import { FsStore } from '../../src/storage/fs.js';
import { KAFKA_JARS_DIR } from '../../scripts/kafka.js';
import { createTopic, getTestKafka, stopTestKafka, uniqueTopic } from '../helpers/kafka.js';
import { produce } from '../helpers/records.js';
import { testBackupOptions, testRestoreOptions } from '../helpers/options.js';
import { runCli } from '../helpers/cli.js';

/**
 * Issue 13 item 1: a group committed on the source cluster whose id holds a newline and `$(…)`
 * must not make the generated `offset-reset script` run anything when the operator runs it with
 * `sh` against the real broker (Kafka's own kafka-consumer-groups); the groups are still reset.
 */
describe('offset-reset script: a hostile group id on the real broker', () => {
  let dir: string;
  let bootstrap: string;
  let admin: KafkaAdmin;
  const topic = uniqueTopic('inj-src');
  const target = uniqueTopic('inj-tgt');
  const run = Math.random().toString(36).slice(2, 8);
  const honest = `honest-${run}`;
  const markers: string[] = [];
  let hostile = '';

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kb-inj-'));
    markers.push(join(dir, 'PWNED-newline'), join(dir, 'PWNED-subst'));
    hostile = `evil-${run}\ntouch ${markers[0]}\n#$(touch ${markers[1]})`;
    bootstrap = (await getTestKafka()).bootstrap;
    admin = new KafkaAdmin({ bootstrapServers: [bootstrap] });
    await createTopic(bootstrap, topic, 1);
    const recs: RecordInput[] = Array.from({ length: 30 }, (_, i) => ({
      key: null,
      value: Buffer.from(`v${i}`),
      headers: [],
      timestamp: BigInt(Date.now() - 60_000 + i),
    }));
    await produce(bootstrap, topic, 0, recs);
    const commit = (o: number) => new Map([[topic, new Map([[0, BigInt(o)]])]]);
    await admin.commitGroupOffsets(honest, commit(12));
    await admin.commitGroupOffsets(hostile, commit(20));
    const store = new FsStore(dir);
    assert.equal((await runBackup(testBackupOptions(bootstrap, store, 'inj', [topic]))).status, 'complete');
    assert.equal(
      (await runRestore(testRestoreOptions(bootstrap, store, 'inj', { topicMapping: { [topic]: target }, includeOriginalOffsetHeader: true }))).restored,
      30,
    );
  });

  after(async () => {
    await admin?.close();
    await rm(dir, { recursive: true, force: true });
    await stopTestKafka();
  });

  test('the script, run with bash and with sh, executes nothing from the id and resets both groups on the target', async () => {
    const file = join(dir, 'reset.sh');
    const gen = runCli(['offset-reset', 'script', '-p', dir, '-b', 'inj', '--bootstrap-servers', bootstrap, '-o', file], { timeoutMs: 120_000 });
    assert.equal(gen.code, 0, gen.stderr);
    const script = await readFile(file, 'utf8');
    assert.ok(script.includes(`# group "evil-${run}\\ntouch ${markers[0]}\\n#$(touch ${markers[1]})"`), script);

    // kafka-consumer-groups as the stock distribution ships it: Kafka's ConsumerGroupCommand on the broker's jars.
    const tool = join(dir, 'kafka-consumer-groups');
    await writeFile(
      tool,
      `#!/bin/sh\nexec java -Xmx256m -XX:TieredStopAtLevel=1 -cp '${KAFKA_JARS_DIR}/*' org.apache.kafka.tools.consumer.group.ConsumerGroupCommand "$@"\n`,
    );
    await chmod(tool, 0o755);
    const offsets = async (g: string) => Number((await admin.groupOffsets([g]))[0]?.offsets.get(target)?.get(0)?.offset ?? -1);
    // `bash` as the script's #! line runs it, then `sh file` (dash here) as an operator may.
    for (const shell of ['bash', 'sh']) {
      const r = spawnSync(shell, [file], { cwd: dir, encoding: 'utf8', timeout: 240_000, env: { ...process.env, PATH: `${dir}:${process.env.PATH}` } });
      for (const m of markers) assert.equal(existsSync(m), false, `${shell}: ${m} was created: the script ran a command from the group id`);
      assert.equal(r.status, 0, `${shell}: ${r.stdout}\n${r.stderr}\n${script}`);
      assert.equal(await offsets(honest), 12, `${shell}: the honest group is reset`);
      assert.equal(await offsets(hostile), 20, `${shell}: the hostile group is reset under its exact id, nothing else`);
      await admin.commitGroupOffsets(honest, new Map([[target, new Map([[0, 0n]])]]));
      await admin.commitGroupOffsets(hostile, new Map([[target, new Map([[0, 0n]])]]));
    }
  });
});
