import { createHash } from 'node:crypto';
import { Consumer, type ConsumerGroupJoinPayload, type ConsumerOptions } from '@platformatic/kafka';
import { KafkaAdmin } from '../../kafka/admin.js';
import { connectionOptions, type KafkaConnectionSettings } from '../../kafka/security.js';
import { KafkaError, UserError } from '../../util/errors.js';
import { logger } from '../../util/logger.js';

/*
  Membership of the backup workers' group, through @platformatic/kafka's Consumer (JoinGroup,
  SyncGroup, Heartbeat, LeaveGroup with the classic protocol): the broker's group coordinator
  assigns the partitions (round robin) and takes a silent member's partitions away after the
  session timeout. The Consumer never fetches here; the workers read with their own fetcher.

  The one protocol every member offers is named after a fingerprint of the settings that must be
  equal across the group (see WorkerFingerprint), and carries those settings as its metadata: the
  broker refuses a member whose protocol no other member supports (INCONSISTENT_GROUP_PROTOCOL),
  and the refused worker reads a member's settings from DescribeGroups to name the difference.
*/

const log = logger('workers');

export interface WorkerGroupSettings {
  groupId: string;
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  rebalanceTimeoutMs: number;
}

/** What must be the same in every worker of one backup (compared as a whole; differences are named). */
export type WorkerFingerprint = Record<string, string | number | boolean | null>;

export interface Assignment {
  generation: number;
  memberId: string;
  partitions: { topic: string; partition: number }[];
}

export function protocolName(fp: WorkerFingerprint): string {
  const canonical = JSON.stringify(
    Object.keys(fp)
      .sort()
      .map((k) => [k, fp[k]]),
  );
  return `kafka-backup-${createHash('sha256').update(canonical).digest('hex').slice(0, 16)}`;
}

/** The keys whose values differ, as `key: ours vs theirs`. */
export function fingerprintDifferences(ours: WorkerFingerprint, theirs: WorkerFingerprint): string[] {
  const keys = [...new Set([...Object.keys(ours), ...Object.keys(theirs)])].sort();
  return keys
    .filter((k) => JSON.stringify(ours[k]) !== JSON.stringify(theirs[k]))
    .map((k) => `${k}: ${JSON.stringify(ours[k] ?? null)} here, ${JSON.stringify(theirs[k] ?? null)} in the group`);
}

/** A worker whose settings differ from the running group's. */
export class WorkerConfigDriftError extends UserError {
  constructor(groupId: string, diffs: string[]) {
    super(
      'WORKER_CONFIG_DRIFT',
      `backup.workers group "${groupId}" runs with other settings; this worker is refused: ${diffs.join('; ')}. Start every worker of one backup with the same configuration`,
      { groupId, diffs },
    );
  }
}

export class WorkerGroup {
  readonly #consumer: Consumer;
  readonly #settings: WorkerGroupSettings;
  readonly #source: KafkaConnectionSettings;
  readonly #fp: WorkerFingerprint;

  constructor(source: KafkaConnectionSettings, settings: WorkerGroupSettings, fp: WorkerFingerprint, onAssignment: (a: Assignment) => void) {
    this.#settings = settings;
    this.#source = source;
    this.#fp = fp;
    this.#consumer = new Consumer({
      clientId: `${source.clientId ?? 'kafka-backup'}-worker`,
      bootstrapBrokers: source.bootstrapServers,
      groupId: settings.groupId,
      sessionTimeout: settings.sessionTimeoutMs,
      heartbeatInterval: settings.heartbeatIntervalMs,
      rebalanceTimeout: settings.rebalanceTimeoutMs,
      retries: 5,
      retryDelay: 500,
      protocols: [{ name: protocolName(fp), version: 1, metadata: Buffer.from(JSON.stringify(fp)) }],
      ...connectionOptions(source),
    } as ConsumerOptions<Buffer, Buffer, Buffer, Buffer>);
    this.#consumer.on('consumer:group:join', (p: ConsumerGroupJoinPayload) => {
      const partitions = (p.assignments ?? []).flatMap((a) => a.partitions.map((partition) => ({ topic: a.topic, partition })));
      log.info({ group: settings.groupId, member: p.memberId, generation: p.generationId, partitions: partitions.length }, 'group assignment');
      onAssignment({ generation: p.generationId ?? this.#consumer.generationId, memberId: p.memberId, partitions });
    });
    this.#consumer.on('consumer:heartbeat:error', (p: { error?: Error }) =>
      log.warn({ group: settings.groupId, err: p.error?.message }, 'group heartbeat failed; rejoining'),
    );
    // An 'error' event without a listener would end the process: a failed rejoin is logged, and retried by the next heartbeat.
    this.#consumer.on('error', (err: Error) => log.warn({ group: settings.groupId, err: err.message }, 'group membership error'));
  }

  get generation(): number {
    return this.#consumer.generationId;
  }
  get memberId(): string | null {
    return this.#consumer.memberId;
  }

  /** Joins with `topics` as the subscription; refuses (WorkerConfigDriftError) when the group runs with other settings. */
  async join(topics: string[]): Promise<void> {
    this.#consumer.topics.trackAll(...topics);
    try {
      await this.#consumer.joinGroup({
        sessionTimeout: this.#settings.sessionTimeoutMs,
        heartbeatInterval: this.#settings.heartbeatIntervalMs,
        rebalanceTimeout: this.#settings.rebalanceTimeoutMs,
      });
    } catch (err) {
      await this.#explainRefusal(err);
      const e = err as Error & { errors?: Error[] };
      throw new KafkaError(
        `joining the workers' group "${this.#settings.groupId}" failed: ${e.errors?.map((x) => x.message).join('; ') || e.message}`,
        undefined,
        {},
        { cause: err },
      );
    }
  }

  async #explainRefusal(err: unknown): Promise<void> {
    if (
      !/INCONSISTENT_GROUP_PROTOCOL|inconsistent/i.test(
        JSON.stringify(String((err as Error)?.message)) + JSON.stringify((err as { errors?: unknown[] }).errors?.map(String) ?? []),
      )
    )
      return;
    const admin = new KafkaAdmin(this.#source);
    try {
      const [g] = await admin.describeGroups([this.#settings.groupId]);
      for (const m of g?.members ?? []) {
        if (!m.userData) continue;
        let theirs: WorkerFingerprint;
        try {
          theirs = JSON.parse(m.userData.toString('utf8')) as WorkerFingerprint;
        } catch {
          continue;
        }
        throw new WorkerConfigDriftError(this.#settings.groupId, fingerprintDifferences(this.#fp, theirs));
      }
      throw new WorkerConfigDriftError(this.#settings.groupId, [
        `the group's protocol is ${g?.protocol ?? 'unknown'}, this worker's ${protocolName(this.#fp)}`,
      ]);
    } finally {
      await admin.close();
    }
  }

  /** Adds `topics` to the subscription and rejoins: the coordinator rebalances, assigning their partitions too. */
  async resubscribe(topics: string[]): Promise<void> {
    this.#consumer.topics.trackAll(...topics);
    await this.#consumer.joinGroup({
      sessionTimeout: this.#settings.sessionTimeoutMs,
      heartbeatInterval: this.#settings.heartbeatIntervalMs,
      rebalanceTimeout: this.#settings.rebalanceTimeoutMs,
    });
  }

  /**
   * Before this worker writes anything: a group already running with other settings refuses it,
   * the differences named. (The broker's INCONSISTENT_GROUP_PROTOCOL at join is what enforces it
   * when two workers start at the same instant; this check only keeps such a worker from writing first.)
   */
  async checkRunningGroup(admin: KafkaAdmin): Promise<void> {
    const [g] = await admin.describeGroups([this.#settings.groupId]).catch(() => []);
    if (!g || g.members.length === 0 || !g.protocol || g.protocol === protocolName(this.#fp)) return;
    for (const m of g.members) {
      try {
        const theirs = JSON.parse(m.userData?.toString('utf8') ?? '') as WorkerFingerprint;
        throw new WorkerConfigDriftError(this.#settings.groupId, fingerprintDifferences(this.#fp, theirs));
      } catch (err) {
        if (err instanceof WorkerConfigDriftError) throw err;
      }
    }
    throw new WorkerConfigDriftError(this.#settings.groupId, [`the group's protocol is ${g.protocol}, this worker's ${protocolName(this.#fp)}`]);
  }

  /** Leaves the group (its partitions go to the others at once) and closes the connections. */
  async leave(): Promise<void> {
    try {
      await this.#consumer.leaveGroup(true);
    } catch (err) {
      log.warn({ group: this.#settings.groupId, err: (err as Error).message }, 'leaving the group failed; the session timeout will remove this worker');
    }
    await this.#consumer.close(true).catch(() => {});
  }
}
