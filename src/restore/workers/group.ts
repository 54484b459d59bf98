import { KafkaAdmin } from '../../kafka/admin.js';
import { fingerprintGroupProtocol, runningGroupDifferences, type GroupFingerprint } from '../../kafka/group-fingerprint.js';
import { GroupMember, isProtocolRefusal, joinFailure, type GroupAssignment } from '../../kafka/group-member.js';
import type { KafkaConnectionSettings } from '../../kafka/security.js';
import { KafkaError, UserError } from '../../util/errors.js';
import type { RestoreOptions, RestoreWorkersSettings } from '../options.js';

/*
  Membership of the restore workers' group on the TARGET cluster, through @platformatic/kafka's
  Consumer (classic protocol: JoinGroup, SyncGroup, Heartbeat, LeaveGroup). The subscription is
  the restore's target topics; the coordinator's round-robin assignment of their partitions says
  which target partitions this worker restores, and a silent member loses them after the session
  timeout. The Consumer never fetches. (The membership itself is src/kafka/group-member.ts, shared
  with the backup workers.)

  The settings every worker must share travel in the group protocol (src/kafka/group-fingerprint.ts):
  a worker started with others (another window, mapping, target, storage…) is refused by the broker
  (INCONSISTENT_GROUP_PROTOCOL), and the refusal names each setting that differs.
*/

export type RestoreAssignment = GroupAssignment;

/** What every worker of one distributed restore must share: what selects, maps and shapes the records written. */
export function restoreWorkerFingerprint(opts: RestoreOptions, restoreId: string): GroupFingerprint {
  const json = (v: unknown): string => JSON.stringify(v ?? null);
  return {
    restore_id: restoreId,
    backup_id: opts.backupId,
    storage: opts.store.url,
    target: [...(opts.target?.bootstrapServers ?? [])].sort().join(','),
    time_window_start: opts.windowStart ?? null,
    time_window_end: opts.windowEnd ?? null,
    topics: json([opts.topics, opts.extraTopicFilters ?? []]),
    source_partitions: json(opts.sourcePartitions),
    topic_mapping: json(opts.topicMapping),
    partition_mapping: json(opts.partitionMapping),
    include_original_offset_header: opts.includeOriginalOffsetHeader,
    strip_offset_headers: opts.stripOffsetHeaders,
    rewrite_schema_ids: opts.rewriteSchemaIds ?? false,
    schema_id_mapping: json(opts.schemaIdMapping),
    create_topics: opts.createTopics,
    topic_configs: json(opts.topicConfigs),
  };
}

/**
 * Before a worker writes anything (the restore state, target topics): a group running another restore
 * refuses it, each differing setting named. (The broker's INCONSISTENT_GROUP_PROTOCOL at join enforces
 * it when two workers start at the same instant.)
 */
export async function refuseIfGroupDiffers(admin: KafkaAdmin, groupId: string, fp: GroupFingerprint): Promise<void> {
  const diffs = await runningGroupDifferences(admin, groupId, fp);
  if (diffs) throw new RestoreWorkerConfigDriftError(groupId, diffs);
}

/** A restore worker whose settings differ from the running group's. */
export class RestoreWorkerConfigDriftError extends UserError {
  constructor(groupId: string, diffs: string[]) {
    super(
      'WORKER_CONFIG_DRIFT',
      `restore.workers group "${groupId}" runs another restore; this worker is refused: ${diffs.join('; ')}. Start every worker of one restore with the same configuration`,
      { groupId, diffs },
    );
  }
}

export class RestoreWorkerGroup {
  readonly #member: GroupMember;
  readonly #settings: RestoreWorkersSettings;
  readonly #target: KafkaConnectionSettings;
  readonly #fp: GroupFingerprint;

  constructor(target: KafkaConnectionSettings, settings: RestoreWorkersSettings, fp: GroupFingerprint, onAssignment: (a: RestoreAssignment) => void) {
    this.#settings = settings;
    this.#target = target;
    this.#fp = fp;
    this.#member = new GroupMember(
      target,
      settings,
      { role: 'restore-worker', protocol: fingerprintGroupProtocol(fp), logName: 'restore-workers' },
      onAssignment,
    );
  }

  get memberId(): string | null {
    return this.#member.memberId;
  }

  /** Joins with the target topics as the subscription. */
  async join(topics: string[]): Promise<void> {
    try {
      await this.#member.subscribe(topics);
    } catch (err) {
      if (isProtocolRefusal(err)) await this.#explainRefusal();
      throw new KafkaError(`joining the restore workers' group "${this.#settings.groupId}" failed: ${joinFailure(err)}`, undefined, {}, { cause: err });
    }
  }

  async #explainRefusal(): Promise<void> {
    const admin = new KafkaAdmin(this.#target);
    try {
      await refuseIfGroupDiffers(admin, this.#settings.groupId, this.#fp);
    } finally {
      await admin.close();
    }
    throw new RestoreWorkerConfigDriftError(this.#settings.groupId, ['the group runs another protocol']);
  }

  /** Leaves the group (its partitions go to the others at once) and closes the connections. */
  async leave(): Promise<void> {
    await this.#member.leave();
  }
}
