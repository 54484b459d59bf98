import { GroupMember, isProtocolRefusal, joinFailure, type GroupAssignment } from '../../kafka/group-member.js';
import type { KafkaConnectionSettings } from '../../kafka/security.js';
import { KafkaError } from '../../util/errors.js';
import type { RestoreWorkersSettings } from '../options.js';

/*
  Membership of the restore workers' group on the TARGET cluster, through @platformatic/kafka's
  Consumer (classic protocol: JoinGroup, SyncGroup, Heartbeat, LeaveGroup). The subscription is
  the restore's target topics; the coordinator's round-robin assignment of their partitions says
  which target partitions this worker restores, and a silent member loses them after the session
  timeout. The Consumer never fetches. (The membership itself is src/kafka/group-member.ts, shared
  with the backup workers.)

  The one protocol offered is named after the restore id (a hash of backup, target and
  selection): a worker started for another restore is refused by the broker
  (INCONSISTENT_GROUP_PROTOCOL), named in the error.
*/

export type RestoreAssignment = GroupAssignment;

export class RestoreWorkerGroup {
  readonly #member: GroupMember;
  readonly #settings: RestoreWorkersSettings;
  readonly #restoreId: string;

  constructor(target: KafkaConnectionSettings, settings: RestoreWorkersSettings, restoreId: string, onAssignment: (a: RestoreAssignment) => void) {
    this.#settings = settings;
    this.#restoreId = restoreId;
    const protocol = { name: `kafka-backup-${restoreId}`, metadata: Buffer.from(JSON.stringify({ restore_id: restoreId })) };
    this.#member = new GroupMember(target, settings, { role: 'restore-worker', protocol, logName: 'restore-workers' }, onAssignment);
  }

  get memberId(): string | null {
    return this.#member.memberId;
  }

  /** Joins with the target topics as the subscription. */
  async join(topics: string[]): Promise<void> {
    try {
      await this.#member.subscribe(topics);
    } catch (err) {
      const other = isProtocolRefusal(err)
        ? ` (the group runs another restore: every worker of restore ${this.#restoreId} needs the same backup, target and topic selection)`
        : '';
      throw new KafkaError(`joining the restore workers' group "${this.#settings.groupId}" failed: ${joinFailure(err)}${other}`, undefined, {}, { cause: err });
    }
  }

  /** Leaves the group (its partitions go to the others at once) and closes the connections. */
  async leave(): Promise<void> {
    await this.#member.leave();
  }
}
