/**
 * Membership of a consumer group used only for its assignment, through @platformatic/kafka's
 * Consumer (JoinGroup, SyncGroup, Heartbeat, LeaveGroup with the classic protocol): the broker's
 * group coordinator assigns the subscribed topics' partitions (round robin) and takes a silent
 * member's partitions away after the session timeout. The Consumer never fetches here. Backup and
 * restore workers both use it (src/backup/workers/, src/restore/workers/).
 */
import { Consumer, type ConsumerGroupJoinPayload, type ConsumerOptions } from './lib.js';
import { logger } from '../util/logger.js';
import { connectionOptions, type KafkaConnectionSettings } from './security.js';

export interface GroupSettings {
  groupId: string;
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  rebalanceTimeoutMs: number;
}

export interface GroupAssignment {
  generation: number;
  memberId: string;
  partitions: { topic: string; partition: number }[];
}

export interface GroupMemberOptions {
  /** Appended to the client id (e.g. `worker`, `restore-worker`). */
  role: string;
  /** The one protocol every member offers: a member offering another is refused by the broker. */
  protocol: { name: string; metadata: Buffer };
  /** Logger module name. */
  logName: string;
}

export class GroupMember {
  readonly #consumer: Consumer;
  readonly settings: GroupSettings;
  readonly #log: ReturnType<typeof logger>;

  constructor(cluster: KafkaConnectionSettings, settings: GroupSettings, o: GroupMemberOptions, onAssignment: (a: GroupAssignment) => void) {
    this.settings = settings;
    const log = logger(o.logName);
    this.#log = log;
    this.#consumer = new Consumer({
      clientId: `${cluster.clientId ?? 'kafka-backup'}-${o.role}`,
      bootstrapBrokers: cluster.bootstrapServers,
      groupId: settings.groupId,
      sessionTimeout: settings.sessionTimeoutMs,
      heartbeatInterval: settings.heartbeatIntervalMs,
      rebalanceTimeout: settings.rebalanceTimeoutMs,
      retries: 5,
      retryDelay: 500,
      protocols: [{ name: o.protocol.name, version: 1, metadata: o.protocol.metadata }],
      ...connectionOptions(cluster),
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

  /** Adds `topics` to the subscription and (re)joins; the coordinator rebalances. Errors are the library's. */
  async subscribe(topics: string[]): Promise<void> {
    this.#consumer.topics.trackAll(...topics);
    await this.#consumer.joinGroup({
      sessionTimeout: this.settings.sessionTimeoutMs,
      heartbeatInterval: this.settings.heartbeatIntervalMs,
      rebalanceTimeout: this.settings.rebalanceTimeoutMs,
    });
  }

  /** Leaves the group (its partitions go to the others at once) and closes the connections. */
  async leave(): Promise<void> {
    try {
      await this.#consumer.leaveGroup(true);
    } catch (err) {
      this.#log.warn({ group: this.settings.groupId, err: (err as Error).message }, 'leaving the group failed; the session timeout will remove this worker');
    }
    await this.#consumer.close(true).catch(() => {});
  }
}

/** A join's failure as one message: the library wraps the broker's errors in `errors`. */
export function joinFailure(err: unknown): string {
  const e = err as Error & { errors?: Error[] };
  return e.errors?.map((x) => x.message).join('; ') || e.message;
}

/** The broker refused the member because the group runs another protocol. */
export function isProtocolRefusal(err: unknown): boolean {
  return /INCONSISTENT_GROUP_PROTOCOL|inconsistent/i.test(joinFailure(err) + JSON.stringify(String((err as Error)?.message)));
}
