/**
 * One Fetch request per broker for many partitions, as Kafka's own consumers do. Partition
 * workers ask for one partition at a time; what they ask of the same broker while its lanes are
 * busy is gathered into the next request. A broker gets at most `lanes` connections for fetching,
 * whatever the number of partitions (a connection per partition ran out of file descriptors at
 * a few thousand partitions), and an idle partition's long poll no longer delays a busy one
 * queued behind it on the same connection: the broker answers a multi-partition Fetch as soon as
 * any of its partitions has data.
 *
 * Each request is a full fetch (no KIP-227 session): simpler, and the request names at most a
 * few thousand partitions, a few tens of KiB.
 */
import { KafkaError } from '../util/errors.js';
import type { BrokerConnection } from './connection.js';
import type { KafkaCluster } from './cluster.js';
import { errorName } from './errors.js';
import {
  createFetchRequest,
  FETCH_API_KEY,
  FETCH_VERSION,
  IsolationLevel,
  parseFetchResponse,
  type FetchPartitionResponse,
  type FetchTopicRequest,
} from './protocol/fetch.js';

export interface BatchedFetch {
  topic: string;
  partition: number;
  offset: bigint;
  partitionMaxBytes: number;
  maxWaitMs: number;
  readCommitted: boolean;
}

interface Pending extends BatchedFetch {
  resolve: (res: FetchPartitionResponse) => void;
  reject: (err: unknown) => void;
}

export interface FetchBatcherOptions {
  /** Connections per broker used for fetching (connection.connections_per_broker). */
  lanes?: number;
  /** Upper bound of one response (Kafka's fetch.max.bytes; the first batch is always returned whole). */
  responseMaxBytes?: number;
  /** Partitions in one request at most. */
  maxPartitionsPerRequest?: number;
}

export class FetchBatcher {
  readonly #cluster: KafkaCluster;
  readonly #lanes: number;
  readonly #responseMaxBytes: number;
  readonly #maxPartitions: number;
  /** Waiting requests per leader broker, oldest first, so partitions take turns at the response's bytes. */
  readonly #queues = new Map<number, Pending[]>();
  readonly #busy = new Set<string>();

  constructor(cluster: KafkaCluster, opts: FetchBatcherOptions = {}) {
    this.#cluster = cluster;
    this.#lanes = Math.max(1, opts.lanes ?? 2);
    this.#responseMaxBytes = opts.responseMaxBytes ?? 16 * 1024 * 1024;
    this.#maxPartitions = opts.maxPartitionsPerRequest ?? 2000;
  }

  /** Fetches one partition from its leader, sharing the request with whatever else waits for that broker. */
  async fetch(req: BatchedFetch): Promise<FetchPartitionResponse> {
    const leader = (await this.#cluster.leader(req.topic, req.partition)).leader;
    return new Promise<FetchPartitionResponse>((resolve, reject) => {
      const q = this.#queues.get(leader) ?? [];
      q.push({ ...req, resolve, reject });
      this.#queues.set(leader, q);
      this.#pump(leader);
    });
  }

  #pump(node: number): void {
    for (let lane = 0; lane < this.#lanes; lane++) {
      const key = `${node}/${lane}`;
      if (this.#busy.has(key)) continue;
      const batch = this.#take(node);
      if (batch.length === 0) return;
      this.#busy.add(key);
      void this.#send(node, lane, batch).finally(() => {
        this.#busy.delete(key);
        this.#pump(node);
      });
    }
  }

  /** The oldest waiting requests of one broker: one per partition, one isolation level, bounded in number. */
  #take(node: number): Pending[] {
    const q = this.#queues.get(node);
    if (!q || q.length === 0) return [];
    const first = q[0]!;
    const taken: Pending[] = [];
    const rest: Pending[] = [];
    const seen = new Set<string>();
    for (const p of q) {
      const tp = `${p.topic}\u0000${p.partition}`;
      if (taken.length < this.#maxPartitions && p.readCommitted === first.readCommitted && !seen.has(tp)) {
        seen.add(tp);
        taken.push(p);
      } else {
        rest.push(p);
      }
    }
    this.#queues.set(node, rest);
    return taken;
  }

  async #send(node: number, lane: number, items: Pending[]): Promise<void> {
    let conn: BrokerConnection | undefined;
    try {
      conn = await this.#cluster.connection(node, `fetch-${lane}`);
      const topics = new Map<string, FetchTopicRequest>();
      for (const it of items) {
        const t = topics.get(it.topic) ?? { topic: it.topic, partitions: [] };
        t.partitions.push({ partition: it.partition, fetchOffset: it.offset, partitionMaxBytes: it.partitionMaxBytes });
        topics.set(it.topic, t);
      }
      const wanted = items.reduce((n, it) => n + it.partitionMaxBytes, 0);
      const res = await conn.send(
        FETCH_API_KEY,
        FETCH_VERSION,
        () =>
          createFetchRequest({
            maxWaitMs: Math.min(...items.map((it) => it.maxWaitMs)),
            minBytes: 1,
            maxBytes: Math.min(wanted, Math.max(this.#responseMaxBytes, ...items.map((it) => it.partitionMaxBytes))),
            isolationLevel: items[0]!.readCommitted ? IsolationLevel.READ_COMMITTED : IsolationLevel.READ_UNCOMMITTED,
            topics: [...topics.values()],
          }),
        parseFetchResponse,
      );
      for (const it of items) {
        if (res.errorCode !== 0) {
          it.reject(
            new KafkaError(`fetch ${it.topic}/${it.partition}: ${errorName(res.errorCode)}`, res.errorCode, { topic: it.topic, partition: it.partition }),
          );
          continue;
        }
        const p = res.topics.get(it.topic)?.find((x) => x.partition === it.partition);
        if (p) it.resolve(p);
        else it.reject(new KafkaError(`fetch ${it.topic}/${it.partition}: partition missing from the response`));
      }
    } catch (err) {
      // The connection may be broken: the next request opens a new one. Each partition retries on its own.
      if (conn) await this.#cluster.dropConnection(conn).catch(() => {});
      for (const it of items) it.reject(err);
    }
  }
}
