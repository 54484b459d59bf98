import { Consumer, type ConsumerGroupJoinPayload, type ConsumerOptions } from '@platformatic/kafka';
import { connectionOptions, type KafkaConnectionSettings } from '../../kafka/security.js';
import { KafkaError } from '../../util/errors.js';
import { logger } from '../../util/logger.js';
import type { RestoreWorkersSettings } from '../options.js';

/*
  Membership of the restore workers' group on the TARGET cluster, through @platformatic/kafka's
  Consumer (classic protocol: JoinGroup, SyncGroup, Heartbeat, LeaveGroup). The subscription is
  the restore's target topics; the coordinator's round-robin assignment of their partitions says
  which target partitions this worker restores, and a silent member loses them after the session
  timeout. The Consumer never fetches. (backup/workers/group.ts does the same on the source
  cluster; restore and backup do not import each other, so this is its restore-side twin.)

  The one protocol offered is named after the restore id (a hash of backup, target and
  selection): a worker started for another restore is refused by the broker
  (INCONSISTENT_GROUP_PROTOCOL), named in the error.
*/

const log = logger('restore-workers');

export interface RestoreAssignment {
  generation: number;
  memberId: string;
  partitions: { topic: string; partition: number }[];
}

export class RestoreWorkerGroup {
  readonly #consumer: Consumer;
  readonly #settings: RestoreWorkersSettings;
  readonly #restoreId: string;

  constructor(target: KafkaConnectionSettings, settings: RestoreWorkersSettings, restoreId: string, onAssignment: (a: RestoreAssignment) => void) {
    this.#settings = settings;
    this.#restoreId = restoreId;
    this.#consumer = new Consumer({
      clientId: `${target.clientId ?? 'kafka-backup'}-restore-worker`,
      bootstrapBrokers: target.bootstrapServers,
      groupId: settings.groupId,
      sessionTimeout: settings.sessionTimeoutMs,
      heartbeatInterval: settings.heartbeatIntervalMs,
      rebalanceTimeout: settings.rebalanceTimeoutMs,
      retries: 5,
      retryDelay: 500,
      protocols: [{ name: `kafka-backup-${restoreId}`, version: 1, metadata: Buffer.from(JSON.stringify({ restore_id: restoreId })) }],
      ...connectionOptions(target),
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

  get memberId(): string | null {
    return this.#consumer.memberId;
  }

  /** Joins with the target topics as the subscription. */
  async join(topics: string[]): Promise<void> {
    this.#consumer.topics.trackAll(...topics);
    try {
      await this.#consumer.joinGroup({
        sessionTimeout: this.#settings.sessionTimeoutMs,
        heartbeatInterval: this.#settings.heartbeatIntervalMs,
        rebalanceTimeout: this.#settings.rebalanceTimeoutMs,
      });
    } catch (err) {
      const e = err as Error & { errors?: Error[] };
      const why = e.errors?.map((x) => x.message).join('; ') || e.message;
      const other = /INCONSISTENT_GROUP_PROTOCOL|inconsistent/i.test(why)
        ? ` (the group runs another restore: every worker of restore ${this.#restoreId} needs the same backup, target and topic selection)`
        : '';
      throw new KafkaError(`joining the restore workers' group "${this.#settings.groupId}" failed: ${why}${other}`, undefined, {}, { cause: err });
    }
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
