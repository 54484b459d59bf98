/**
 * kafka/create-topics.ts against the real broker: several topics, each with its own partitions and
 * configs, in one CreateTopics request; a refusal names each topic refused and why, and the topics of
 * the same request that could be created are created. Then restore/leaders.ts: once it returns, every
 * new partition's leader answers a ListOffsets for it at the first try.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { KafkaCluster } from '../../src/kafka/cluster.js';
import { KafkaAdmin } from '../../src/kafka/admin.js';
import { createTopics } from '../../src/kafka/create-topics.js';
import { listOffsetsV7 } from '../../src/kafka/lib.js';
import { waitForLeaders } from '../../src/restore/leaders.js';
import { getTestKafka, stopTestKafka, uniqueTopic } from '../helpers/kafka.js';

after(stopTestKafka);

describe('createTopics: one CreateTopics request for many topics', () => {
  it('creates each topic with its own partitions and configs', async () => {
    const { bootstrap } = await getTestKafka();
    const cluster = await KafkaCluster.connect({ bootstrapServers: [bootstrap] });
    const admin = new KafkaAdmin({ bootstrapServers: [bootstrap] });
    try {
      const a = uniqueTopic('ct-a');
      const b = uniqueTopic('ct-b');
      await createTopics(cluster, [
        { name: a, partitions: 3, replicationFactor: 1, configs: { 'retention.ms': '123456789' } },
        { name: b, partitions: 1, replicationFactor: 1, configs: {} },
      ]);
      await waitForLeaders(cluster, a, 3, 30_000);
      await waitForLeaders(cluster, b, 1, 30_000);
      assert.equal((await cluster.topic(a))?.partitions.length, 3);
      assert.equal((await cluster.topic(b))?.partitions.length, 1);
      assert.deepEqual(
        await admin.topicConfigs([a, b]),
        new Map([
          [a, { 'retention.ms': '123456789' }],
          [b, {}],
        ]),
      );
      // Every partition answers at once: no leader still settling after waitForLeaders.
      const meta = await cluster.refresh();
      const leader = meta.topics.get(a)!.partitions[0]!.leader;
      const conn = await cluster.connection(leader, 'admin');
      const res = await conn.call(listOffsetsV7.api, -1, 0, [
        { name: a, partitions: [0, 1, 2].map((p) => ({ partitionIndex: p, currentLeaderEpoch: -1, timestamp: -1n })) },
      ]);
      assert.deepEqual(
        res.topics[0]!.partitions.map((p) => [p.partitionIndex, p.errorCode, p.offset]).sort((x, y) => Number(x[0]) - Number(y[0])),
        [
          [0, 0, 0n],
          [1, 0, 0n],
          [2, 0, 0n],
        ],
      );
    } finally {
      await admin.close();
      await cluster.close();
    }
  });

  it('names each refused topic and why; the others of the request are created', async () => {
    const { bootstrap } = await getTestKafka();
    const cluster = await KafkaCluster.connect({ bootstrapServers: [bootstrap] });
    try {
      const exists = uniqueTopic('ct-exists');
      const bad = uniqueTopic('ct-bad');
      const fine = uniqueTopic('ct-fine');
      await createTopics(cluster, [{ name: exists, partitions: 1, replicationFactor: 1, configs: {} }]);
      await assert.rejects(
        createTopics(cluster, [
          { name: exists, partitions: 1, replicationFactor: 1, configs: {} },
          { name: bad, partitions: 1, replicationFactor: 1, configs: { 'cleanup.policy': 'shred' } },
          { name: fine, partitions: 2, replicationFactor: 1, configs: {} },
        ]),
        (err: Error) => {
          assert.match(err.message, new RegExp(`CreateTopics ${exists}: TOPIC_ALREADY_EXISTS`));
          assert.match(err.message, new RegExp(`CreateTopics ${bad}: INVALID_CONFIG .*shred`));
          assert.doesNotMatch(err.message, new RegExp(fine));
          return true;
        },
      );
      await waitForLeaders(cluster, fine, 2, 30_000);
      assert.equal((await cluster.topic(fine))?.partitions.length, 2);
      assert.equal(await cluster.refresh().then((m) => m.topics.has(bad)), false);
    } finally {
      await cluster.close();
    }
  });
});
