import { metadataV12, type ConnectionOptions } from './lib.js';
import { BrokerUnreachableError, ClientClosedError, KafkaError } from '../util/errors.js';
import { BrokerConnection } from './connection.js';
import { connectionOptions, parseHostPort, type KafkaConnectionSettings } from './security.js';
import { errorName } from './errors.js';
import { FetchBatcher } from './fetch-batcher.js';

export interface PartitionInfo {
  partition: number;
  leader: number;
  leaderEpoch: number;
  replicas: number[];
}

export interface TopicInfo {
  name: string;
  topicId: string;
  isInternal: boolean;
  partitions: PartitionInfo[];
}

export interface BrokerInfo {
  nodeId: number;
  host: string;
  port: number;
}

export interface ClusterMetadata {
  clusterId: string | null;
  /** The broker that takes controller requests (CreateTopics): in KRaft, any broker, which forwards them; -1 when unknown. */
  controllerId: number;
  brokers: Map<number, BrokerInfo>;
  topics: Map<string, TopicInfo>;
}

/**
 * Knows the brokers and partition leaders of one cluster and keeps connections to them.
 * Connections are keyed by (broker, lane): a long-polling fetch on one lane never delays
 * a produce or an admin request on another, since Kafka serves one connection's requests in order.
 */
export class KafkaCluster {
  readonly settings: KafkaConnectionSettings;
  readonly #opts: ConnectionOptions;
  readonly #conns = new Map<string, Promise<BrokerConnection>>();
  #meta: ClusterMetadata | undefined;
  #closed = false;
  #fetcher: FetchBatcher | undefined;

  private constructor(settings: KafkaConnectionSettings) {
    this.settings = settings;
    this.#opts = connectionOptions(settings);
  }

  /** Connects to the first reachable bootstrap server and reads the cluster's metadata. */
  static async connect(settings: KafkaConnectionSettings): Promise<KafkaCluster> {
    const cluster = new KafkaCluster(settings);
    await cluster.refresh();
    return cluster;
  }

  get clusterId(): string | null {
    return this.#meta?.clusterId ?? null;
  }

  async #bootstrapConnection(): Promise<BrokerConnection> {
    const failures: string[] = [];
    for (const server of this.settings.bootstrapServers) {
      const { host, port } = parseHostPort(server);
      try {
        return await BrokerConnection.open(host, port, this.#opts, this.settings.clientId);
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
    throw new BrokerUnreachableError(`no bootstrap server reachable (${this.settings.bootstrapServers.join(', ')}): ${failures.join('; ')}`);
  }

  /** Re-reads metadata for all topics. */
  async refresh(): Promise<ClusterMetadata> {
    if (this.#closed) throw new ClientClosedError('metadata refresh');
    let conn: BrokerConnection | undefined;
    const any = this.#meta ? [...this.#meta.brokers.values()][0] : undefined;
    try {
      conn = any ? await this.connection(any.nodeId, 'admin') : undefined;
    } catch {
      conn = undefined;
    }
    let own = conn ? undefined : await this.#bootstrapConnection();
    try {
      let res: MetadataResponse;
      try {
        res = await callMetadata((conn ?? own)!);
      } catch (err) {
        // The known broker asked may be the one that is down (a stopped node still accepts connections):
        // ask the bootstrap servers instead, or the metadata would stay stale for as long as it is down.
        if (!conn) throw err;
        own = await this.#bootstrapConnection();
        res = await callMetadata(own);
      }
      const brokers = new Map<number, BrokerInfo>();
      for (const b of res.brokers) brokers.set(b.nodeId, { nodeId: b.nodeId, host: b.host, port: b.port });
      const topics = new Map<string, TopicInfo>();
      for (const t of res.topics) {
        if (!t.name) continue;
        topics.set(t.name, {
          name: t.name,
          topicId: t.topicId,
          isInternal: t.isInternal,
          partitions: t.partitions
            .map((p) => ({ partition: p.partitionIndex, leader: p.leaderId, leaderEpoch: p.leaderEpoch, replicas: p.replicaNodes }))
            .sort((a, b) => a.partition - b.partition),
        });
      }
      const meta: ClusterMetadata = { clusterId: res.clusterId ?? null, controllerId: res.controllerId ?? -1, brokers, topics };
      this.#meta = meta;
      return meta;
    } finally {
      await own?.close();
    }
  }

  async metadata(): Promise<ClusterMetadata> {
    return this.#meta ?? (await this.refresh());
  }

  async topic(name: string): Promise<TopicInfo | undefined> {
    return (await this.metadata()).topics.get(name);
  }

  /**
   * The connection of one lane to one broker. Concurrent callers share one connection: the
   * pending open is registered before the first await, so two requests racing to open a lane
   * cannot end up on two sockets (Kafka orders requests per connection only; a producer's
   * pipelined requests on two connections can reach the log out of sequence).
   */
  async connection(nodeId: number, lane = 'default'): Promise<BrokerConnection> {
    // After close, nothing may open a socket again (it would outlive the client and keep the process alive).
    if (this.#closed) throw new ClientClosedError(`connection to broker ${nodeId}`);
    const key = `${nodeId}/${lane}`;
    for (let attempt = 0; ; attempt++) {
      const existing = this.#conns.get(key);
      if (!existing) break;
      const c = await existing.catch(() => undefined);
      if (c?.connected) return c;
      if (this.#conns.get(key) === existing) this.#conns.delete(key);
      if (attempt >= 1) break;
    }
    if (this.#closed) throw new ClientClosedError(`connection to broker ${nodeId}`);
    const p = this.#open(nodeId);
    this.#conns.set(key, p);
    p.catch(() => {
      if (this.#conns.get(key) === p) this.#conns.delete(key);
    });
    return p;
  }

  async #open(nodeId: number): Promise<BrokerConnection> {
    const meta = await this.metadata();
    const broker = meta.brokers.get(nodeId);
    if (!broker) throw new KafkaError(`broker ${nodeId} is not in the cluster metadata`, undefined, { nodeId });
    return BrokerConnection.open(broker.host, broker.port, this.#opts, this.settings.clientId);
  }

  async leader(topic: string, partition: number): Promise<PartitionInfo> {
    const t = await this.topic(topic);
    const p = t?.partitions.find((x) => x.partition === partition);
    if (!p) throw new KafkaError(`${topic}/${partition} does not exist on the cluster`, 3, { topic, partition });
    if (p.leader < 0) throw new KafkaError(`${topic}/${partition} has no leader (${errorName(5)})`, 5, { topic, partition });
    return p;
  }

  async leaderConnection(topic: string, partition: number, lane = 'default'): Promise<BrokerConnection> {
    const p = await this.leader(topic, partition);
    return this.connection(p.leader, lane);
  }

  /** Connections per broker for one purpose (fetch, produce): connection.connections_per_broker. */
  get lanesPerBroker(): number {
    return Math.max(1, this.settings.connectionsPerBroker ?? 4);
  }

  /** The cluster's shared fetcher: every partition fetched through it shares its brokers' connections and requests. */
  get fetcher(): FetchBatcher {
    this.#fetcher ??= new FetchBatcher(this, { lanes: this.lanesPerBroker });
    return this.#fetcher;
  }

  /** Closes the connections of one lane (to every broker): a lane whose work is done. */
  async closeLane(lane: string): Promise<void> {
    const suffix = `/${lane}`;
    const closing: Promise<BrokerConnection>[] = [];
    for (const [key, p] of this.#conns) {
      if (!key.endsWith(suffix)) continue;
      this.#conns.delete(key);
      closing.push(p);
    }
    await Promise.all(closing.map(async (p) => (await p.catch(() => undefined))?.close()));
  }

  /** Drop a connection that failed so the next call reconnects. */
  async dropConnection(conn: BrokerConnection): Promise<void> {
    for (const [key, p] of this.#conns) {
      const c = await p.catch(() => undefined);
      if (c === conn) this.#conns.delete(key);
    }
    await conn.close();
  }

  async close(): Promise<void> {
    this.#closed = true;
    const all = [...this.#conns.values()];
    this.#conns.clear();
    await Promise.all(all.map(async (p) => (await p.catch(() => undefined))?.close()));
  }
}

/**
 * Metadata v12 of every topic. The library fails the whole call when a partition carries an error
 * (LEADER_NOT_AVAILABLE: a partition whose broker is down), though the response it parsed is complete:
 * that response is used, so one leaderless partition does not leave the whole cluster's metadata stale.
 */
type MetadataResponse = Awaited<ReturnType<typeof metadataV12.api.async>>;

async function callMetadata(conn: BrokerConnection): Promise<MetadataResponse> {
  try {
    return await conn.call(metadataV12.api, null, false, false);
  } catch (err) {
    const res = ((err as Error).cause as { response?: unknown } | undefined)?.response;
    if (typeof res === 'object' && res !== null && 'brokers' in res && 'topics' in res) return res as MetadataResponse;
    throw err;
  }
}
