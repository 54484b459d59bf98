import type { KafkaCluster } from '../kafka/cluster.js';
import { listOffsetsV7 } from '../kafka/lib.js';
import { UserError } from '../util/errors.js';
import { logger } from '../util/logger.js';
import { sleep } from '../util/time.js';

const log = logger('restore');

/**
 * After creating a target topic, waits until it is in the metadata with `partitions` partitions and
 * every one has a leader that answers for it: a produce to a partition whose leader is not elected yet
 * would be refused (LEADER_NOT_AVAILABLE) and retried blindly, and a leader named in the metadata can
 * still refuse a ListOffsets for a few milliseconds (NOT_LEADER_OR_FOLLOWER), which the admin client
 * retries only after 500 ms. Gives up after `timeoutMs` naming the partitions.
 */
export async function waitForLeaders(cluster: KafkaCluster, topic: string, partitions: number, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let waiting: number[] = [];
  // A short poll, 5 ms doubling to 100 ms: the leaders are usually there within milliseconds of CreateTopics'
  // answer, and a fixed 100 ms per created topic was a large part of a small restore's setup (performance.md).
  let wait = 5;
  for (let attempt = 0; ; attempt++) {
    await cluster.refresh();
    const info = await cluster.topic(topic);
    const known = new Map((info?.partitions ?? []).map((p) => [p.partition, p.leader]));
    waiting = [...Array(partitions).keys()].filter((p) => (known.get(p) ?? -1) < 0);
    if (waiting.length === 0) waiting = await notServing(cluster, topic, known);
    if (waiting.length === 0) return;
    if (attempt === 15) log.info({ topic, partitions: waiting }, 'waiting for the new partitions to have a leader');
    if (Date.now() >= deadline || signal?.aborted) break;
    await sleep(wait, signal);
    wait = Math.min(wait * 2, 100);
  }
  throw new UserError(
    'TOPIC_NO_LEADER',
    `target topic ${topic} was created but partitions ${waiting.join(', ')} have no leader that answers for them after ${timeoutMs} ms (restore.produce_timeout_ms); check the target brokers, then run the restore again`,
  );
}

/** The partitions whose leader does not yet answer a ListOffsets for them (one request per leader). */
async function notServing(cluster: KafkaCluster, topic: string, leaders: Map<number, number>): Promise<number[]> {
  const byLeader = new Map<number, number[]>();
  for (const [p, leader] of leaders) byLeader.set(leader, [...(byLeader.get(leader) ?? []), p]);
  const refused = await Promise.all(
    [...byLeader].map(async ([leader, parts]) => {
      try {
        const conn = await cluster.connection(leader, 'admin');
        await conn.call(listOffsetsV7.api, -1, 0, [
          { name: topic, partitions: parts.map((p) => ({ partitionIndex: p, currentLeaderEpoch: -1, timestamp: -1n })) },
        ]);
        return [];
      } catch {
        // The library's parser refuses a response with any partition's error: ask again for all of them.
        return parts;
      }
    }),
  );
  return refused.flat().sort((a, b) => a - b);
}
