import { KafkaAdmin } from '../../kafka/admin.js';
import {
  fingerprintDifferences,
  fingerprintGroupProtocol,
  fingerprintProtocol,
  runningGroupDifferences,
  type GroupFingerprint,
} from '../../kafka/group-fingerprint.js';
import { GroupMember, isProtocolRefusal, joinFailure, type GroupAssignment, type GroupSettings } from '../../kafka/group-member.js';
import type { KafkaConnectionSettings } from '../../kafka/security.js';
import { KafkaError, UserError } from '../../util/errors.js';

/*
  The backup workers' group on the source cluster (membership: src/kafka/group-member.ts); the
  workers read with their own fetcher. The settings that must be equal across the group travel in
  the group protocol (src/kafka/group-fingerprint.ts): a worker started with others is refused, the
  differences named.
*/

export type WorkerGroupSettings = GroupSettings;

/** What must be the same in every worker of one backup (compared as a whole; differences are named). */
export type WorkerFingerprint = GroupFingerprint;

export type Assignment = GroupAssignment;

export { fingerprintDifferences, fingerprintProtocol as protocolName };

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
  readonly #member: GroupMember;
  readonly #settings: WorkerGroupSettings;
  readonly #source: KafkaConnectionSettings;
  readonly #fp: WorkerFingerprint;

  constructor(source: KafkaConnectionSettings, settings: WorkerGroupSettings, fp: WorkerFingerprint, onAssignment: (a: Assignment) => void) {
    this.#settings = settings;
    this.#source = source;
    this.#fp = fp;
    this.#member = new GroupMember(source, settings, { role: 'worker', protocol: fingerprintGroupProtocol(fp), logName: 'workers' }, onAssignment);
  }

  get generation(): number {
    return this.#member.generation;
  }
  get memberId(): string | null {
    return this.#member.memberId;
  }

  /** Joins with `topics` as the subscription; refuses (WorkerConfigDriftError) when the group runs with other settings. */
  async join(topics: string[]): Promise<void> {
    try {
      await this.#member.subscribe(topics);
    } catch (err) {
      await this.#explainRefusal(err);
      throw new KafkaError(`joining the workers' group "${this.#settings.groupId}" failed: ${joinFailure(err)}`, undefined, {}, { cause: err });
    }
  }

  async #explainRefusal(err: unknown): Promise<void> {
    if (!isProtocolRefusal(err)) return;
    const admin = new KafkaAdmin(this.#source);
    try {
      const diffs = await runningGroupDifferences(admin, this.#settings.groupId, this.#fp);
      throw new WorkerConfigDriftError(this.#settings.groupId, diffs ?? ['the group runs another protocol']);
    } finally {
      await admin.close();
    }
  }

  /** Adds `topics` to the subscription and rejoins: the coordinator rebalances, assigning their partitions too. */
  async resubscribe(topics: string[]): Promise<void> {
    await this.#member.subscribe(topics);
  }

  /**
   * Before this worker writes anything: a group already running with other settings refuses it,
   * the differences named. (The broker's INCONSISTENT_GROUP_PROTOCOL at join is what enforces it
   * when two workers start at the same instant; this check only keeps such a worker from writing first.)
   */
  async checkRunningGroup(admin: KafkaAdmin): Promise<void> {
    const diffs = await runningGroupDifferences(admin, this.#settings.groupId, this.#fp);
    if (diffs) throw new WorkerConfigDriftError(this.#settings.groupId, diffs);
  }

  /** Leaves the group (its partitions go to the others at once) and closes the connections. */
  async leave(): Promise<void> {
    await this.#member.leave();
  }
}
