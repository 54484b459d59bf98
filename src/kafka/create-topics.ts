import { KafkaError } from '../util/errors.js';
import type { KafkaCluster } from './cluster.js';
import { errorName } from './errors.js';
import { createTopicsV7, type ResponseParser } from './lib.js';

export interface NewTopic {
  name: string;
  partitions: number;
  replicationFactor: number;
  configs: Record<string, string>;
}

type CreateTopicsResponse = ReturnType<typeof createTopicsV7.parseResponse>;

const NOT_CONTROLLER = 41;
/** How long the controller may take to create the topics before it answers REQUEST_TIMED_OUT for them. */
const CREATE_TIMEOUT_MS = 30_000;

/** The library's parser throws on any topic's error; the per-topic answers are what we need. */
const parseAll: ResponseParser<CreateTopicsResponse> = (correlationId, apiKey, apiVersion, reader) => {
  try {
    return createTopicsV7.parseResponse(correlationId, apiKey, apiVersion, reader);
  } catch (err) {
    const response = (err as { response?: CreateTopicsResponse }).response;
    if (response) return response;
    throw err;
  }
};

/**
 * Creates the topics with one CreateTopics request. The controller commits one request's topics
 * together; separate requests, even in flight at the same time, were committed one after the other
 * on the bench's broker (about 30 ms each: 100 ms for a restore's three target topics, docs/performance.md).
 * Throws a KafkaError naming each topic that was not created and why; a topic the answer does not
 * mention counts as not created.
 */
export async function createTopics(cluster: KafkaCluster, topics: readonly NewTopic[]): Promise<void> {
  let pending = [...topics];
  for (let attempt = 0; pending.length > 0; attempt++) {
    const meta = attempt === 0 ? await cluster.metadata() : await cluster.refresh();
    const node = meta.brokers.has(meta.controllerId) ? meta.controllerId : [...meta.brokers.keys()][0];
    if (node === undefined) throw new KafkaError('CreateTopics: the cluster reports no brokers');
    const conn = await cluster.connection(node, 'admin');
    const res = await conn.send(
      createTopicsV7.api.key,
      createTopicsV7.api.version,
      () =>
        createTopicsV7.createRequest(
          pending.map((t) => ({
            name: t.name,
            numPartitions: t.partitions,
            replicationFactor: t.replicationFactor,
            assignments: [],
            configs: Object.entries(t.configs).map(([name, value]) => ({ name, value })),
          })),
          CREATE_TIMEOUT_MS,
          false,
        ),
      parseAll,
    );
    const answers = new Map(res.topics.map((t) => [t.name, t]));
    const failed: string[] = [];
    let code: number | undefined;
    const retry: NewTopic[] = [];
    for (const t of pending) {
      const a = answers.get(t.name);
      if (!a) failed.push(`CreateTopics ${t.name}: the broker's answer does not mention the topic`);
      else if (a.errorCode === NOT_CONTROLLER && attempt < 3) retry.push(t);
      else if (a.errorCode !== 0) {
        code ??= a.errorCode;
        failed.push(`CreateTopics ${t.name}: ${errorName(a.errorCode)}${a.errorMessage ? ` (${a.errorMessage})` : ''}`);
      }
    }
    if (failed.length > 0) throw new KafkaError(failed.join('; '), code);
    pending = retry;
  }
}
