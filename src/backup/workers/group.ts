import { createHash } from 'node:crypto';
import { KafkaAdmin } from '../../kafka/admin.js';
import { GroupMember, isProtocolRefusal, joinFailure, type GroupAssignment, type GroupSettings } from '../../kafka/group-member.js';
import type { KafkaConnectionSettings } from '../../kafka/security.js';
import { KafkaError, UserError } from '../../util/errors.js';

/*
  The backup workers' group on the source cluster (membership: src/kafka/group-member.ts); the
  workers read with their own fetcher.

  The one protocol every member offers is named after a fingerprint of the settings that must be
  equal across the group (see WorkerFingerprint), and carries those settings as its metadata: the
  broker refuses a member whose protocol no other member supports (INCONSISTENT_GROUP_PROTOCOL),
  and the refused worker reads a member's settings from DescribeGroups to name the difference.
*/

export type WorkerGroupSettings = GroupSettings;

/** What must be the same in every worker of one backup (compared as a whole; differences are named). */
export type WorkerFingerprint = Record<string, string | number | boolean | null>;

export type Assignment = GroupAssignment;

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
  readonly #member: GroupMember;
  readonly #settings: WorkerGroupSettings;
  readonly #source: KafkaConnectionSettings;
  readonly #fp: WorkerFingerprint;

  constructor(source: KafkaConnectionSettings, settings: WorkerGroupSettings, fp: WorkerFingerprint, onAssignment: (a: Assignment) => void) {
    this.#settings = settings;
    this.#source = source;
    this.#fp = fp;
    const protocol = { name: protocolName(fp), metadata: Buffer.from(JSON.stringify(fp)) };
    this.#member = new GroupMember(source, settings, { role: 'worker', protocol, logName: 'workers' }, onAssignment);
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
    await this.#member.subscribe(topics);
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
    await this.#member.leave();
  }
}
