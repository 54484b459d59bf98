import { Admin, ConfigResourceTypes, ConfigSources, FetchIsolationLevels, IncrementalAlterConfigOperationTypes, type AdminOptions } from './lib.js';
import { KafkaError, UserError } from '../util/errors.js';
import { connectionOptions, parseHostPort, type KafkaConnectionSettings } from './security.js';

/** ListOffsets special timestamps. */
export const EARLIEST = -2n;
export const LATEST = -1n;

export interface GroupOffsets {
  groupId: string;
  /** topic → partition → committed offset (next record to read). */
  offsets: Map<string, Map<number, { offset: bigint; metadata: string | null }>>;
}

export interface GroupDescription {
  groupId: string;
  state: string;
  /** The protocol the group chose (for kafka-backup workers: their config fingerprint). */
  protocol?: string;
  /** userData: the protocol metadata a member joined with (kafka-backup workers: their config). */
  members: { memberId: string; clientId: string; clientHost: string; userData?: Buffer }[];
}

/**
 * Admin operations the engines need: topic configs and creation, ListOffsets,
 * consumer group offsets. Built on @platformatic/kafka's Admin client, which
 * routes each request to the right broker or group coordinator and retries.
 */
export class KafkaAdmin {
  readonly #admin: Admin;

  constructor(settings: KafkaConnectionSettings) {
    for (const s of settings.bootstrapServers) parseHostPort(s);
    const opts: AdminOptions = {
      clientId: settings.clientId ?? 'kafka-backup-admin',
      bootstrapBrokers: settings.bootstrapServers,
      retries: 5,
      retryDelay: 500,
      ...connectionOptions(settings),
    } as AdminOptions;
    this.#admin = new Admin(opts);
  }

  async #wrap<T>(what: string, p: Promise<T>): Promise<T> {
    try {
      return await p;
    } catch (err) {
      if (err instanceof KafkaError || err instanceof UserError) throw err;
      const e = err as Error & { errors?: { message?: string; apiCode?: number }[] };
      const inner = e.errors?.[0];
      throw new KafkaError(`${what}: ${inner?.message ?? e.message}`, inner?.apiCode, {}, { cause: err });
    }
  }

  /** Offsets for the given partitions at a timestamp, or EARLIEST / LATEST. */
  async listOffsets(topic: string, partitions: number[], timestamp: bigint, readCommitted = false): Promise<Map<number, bigint>> {
    const res = await this.#wrap(
      `ListOffsets ${topic}`,
      this.#admin.listOffsets({
        topics: [{ name: topic, partitions: partitions.map((p) => ({ partitionIndex: p, timestamp })) }],
        isolationLevel: readCommitted ? FetchIsolationLevels.READ_COMMITTED : FetchIsolationLevels.READ_UNCOMMITTED,
      }),
    );
    const out = new Map<number, bigint>();
    for (const t of res) for (const p of t.partitions) out.set(p.partitionIndex, p.offset);
    return out;
  }

  /** The topic configs that differ from the broker defaults (set on the topic itself). */
  async topicConfigs(topics: string[]): Promise<Map<string, Record<string, string>>> {
    const out = new Map<string, Record<string, string>>();
    if (topics.length === 0) return out;
    const res = await this.#wrap(
      'DescribeConfigs',
      this.#admin.describeConfigs({ resources: topics.map((t) => ({ resourceType: ConfigResourceTypes.TOPIC, resourceName: t })) }),
    );
    for (const r of res) {
      const cfg: Record<string, string> = {};
      for (const c of r.configs) {
        if (c.configSource === ConfigSources.DYNAMIC_TOPIC_CONFIG && c.value != null && !c.isSensitive) cfg[c.name] = c.value;
      }
      out.set(r.resourceName, cfg);
    }
    return out;
  }

  /** Full topic config (including defaults), e.g. to check message.timestamp.type on a target. */
  async topicConfig(topic: string, keys: string[]): Promise<Record<string, string | null>> {
    const res = await this.#wrap(
      'DescribeConfigs',
      this.#admin.describeConfigs({ resources: [{ resourceType: ConfigResourceTypes.TOPIC, resourceName: topic, configurationKeys: keys }] }),
    );
    const cfg: Record<string, string | null> = {};
    for (const r of res) for (const c of r.configs) cfg[c.name] = c.value ?? null;
    return cfg;
  }

  async createTopic(name: string, partitions: number, replicationFactor: number, configs: Record<string, string>): Promise<void> {
    await this.#wrap(
      `CreateTopics ${name}`,
      this.#admin.createTopics({
        topics: [name],
        partitions,
        replicas: replicationFactor,
        configs: Object.entries(configs).map(([k, v]) => ({ name: k, value: v })),
      }),
    );
  }

  /** IncrementalAlterConfigs SET of the given topic configs; the topic's other configs are left alone. */
  async setTopicConfigs(topic: string, configs: Record<string, string>): Promise<void> {
    await this.#wrap(
      `IncrementalAlterConfigs ${topic}`,
      this.#admin.incrementalAlterConfigs({
        resources: [
          {
            resourceType: ConfigResourceTypes.TOPIC,
            resourceName: topic,
            configs: Object.entries(configs).map(([name, value]) => ({ name, configOperation: IncrementalAlterConfigOperationTypes.SET, value })),
          },
        ],
      }),
    );
  }

  async deleteTopics(names: string[]): Promise<void> {
    await this.#wrap('DeleteTopics', this.#admin.deleteTopics({ topics: names }));
  }

  /** DeleteRecords: moves each partition's log start up to the given offset (irreversible). */
  async deleteRecords(topic: string, upTo: Map<number, bigint>): Promise<void> {
    await this.#wrap(
      `DeleteRecords ${topic}`,
      this.#admin.deleteRecords({ topics: [{ name: topic, partitions: [...upTo].map(([partition, offset]) => ({ partition, offset })) }] }),
    );
  }

  async listGroups(): Promise<string[]> {
    const groups = await this.#wrap('ListGroups', this.#admin.listGroups());
    return [...groups.keys()].sort();
  }

  async describeGroups(groupIds: string[]): Promise<GroupDescription[]> {
    if (groupIds.length === 0) return [];
    const res = await this.#wrap('DescribeGroups', this.#admin.describeGroups({ groups: groupIds }));
    return [...res.values()].map((g) => ({
      groupId: g.id,
      state: String(g.state),
      protocol: g.protocol,
      members: [...g.members.values()].map((m) => {
        const u = m.metadata?.metadata;
        return { memberId: m.id, clientId: m.clientId, clientHost: m.clientHost ?? '', ...(u === undefined ? {} : { userData: Buffer.from(u) }) };
      }),
    }));
  }

  async groupOffsets(groupIds: string[]): Promise<GroupOffsets[]> {
    if (groupIds.length === 0) return [];
    const res = await this.#wrap('OffsetFetch', this.#admin.listConsumerGroupOffsets({ groups: groupIds }));
    return res.map((g) => {
      const offsets = new Map<string, Map<number, { offset: bigint; metadata: string | null }>>();
      for (const t of g.topics) {
        const m = new Map<number, { offset: bigint; metadata: string | null }>();
        for (const p of t.partitions) if (p.committedOffset >= 0n) m.set(p.partitionIndex, { offset: p.committedOffset, metadata: p.metadata ?? null });
        if (m.size) offsets.set(t.name, m);
      }
      return { groupId: g.groupId, offsets };
    });
  }

  async commitGroupOffsets(groupId: string, offsets: Map<string, Map<number, bigint>>): Promise<void> {
    await this.#wrap(
      `OffsetCommit ${groupId}`,
      this.#admin.alterConsumerGroupOffsets({
        groupId,
        topics: [...offsets].map(([name, parts]) => ({ name, partitionOffsets: [...parts].map(([partition, offset]) => ({ partition, offset })) })),
      }),
    );
  }

  async close(): Promise<void> {
    await this.#admin.close().catch(() => {});
  }
}
