import { CorruptDataError } from '../util/errors.js';

/*
  Object layout of one backup, relative to the storage root (prefix included by the store):

  {backup_id}/manifest.json                                   backup-wide facts (manifest.ts)
  {backup_id}/lease.json                                      the running writer's lease (backup/lease.ts)
  {backup_id}/topics/{topic}/{partition}/index.json           the partition's segment index (partition-index.ts)
  {backup_id}/topics/{topic}/{partition}/{first:020}.kbseg     one segment (segment.ts), streamed while written
  {backup_id}/topics/{topic}/{partition}/{first:020}.e{epoch}.kbseg   the same, by a distributed worker in ownership epoch {epoch}
  {backup_id}/topics/{topic}/{partition}/{first:020}-{last:020}.kbseg   one segment (written whole; older backups)
  {backup_id}/consumer-groups/{taken_at_ms:015}.json          a consumer-group offsets snapshot (manifest.ts)
  {backup_id}/restores/{restore_id}/state.json                a restore's progress and exact offset map (restore-state.ts)
  {backup_id}/restores/{restore_id}/report.json               a finished restore's report (restore-report.ts)
  {backup_id}/restores/{restore_id}/three-phase.json          three-phase-restore's progress (recovery/three-phase-state.ts)

  Each object has one owner module (named above) holding its schema and reading/writing it; the
  other modules call the owner, never the key.

  Topic names are legal path segments: Kafka allows only [a-zA-Z0-9._-] and forbids "." and "..".
  Names read back from stored objects are checked again, so a forged manifest cannot make a
  reader or writer step outside the backup's prefix.
*/

const TOPIC_RE = /^[a-zA-Z0-9._-]{1,249}$/;
const BACKUP_ID_RE = /^[a-zA-Z0-9._-]{1,200}$/;

export function checkTopicName(topic: string, where = 'topic'): string {
  if (!TOPIC_RE.test(topic) || topic === '.' || topic === '..') {
    throw new CorruptDataError(`${where}: "${topic}" is not a valid Kafka topic name`, where);
  }
  return topic;
}

/** True for a legal Kafka topic name (also a safe path segment). */
export function isValidTopicName(topic: string): boolean {
  return TOPIC_RE.test(topic) && topic !== '.' && topic !== '..';
}

/** `.e{epoch}`: written by a distributed worker in that ownership epoch of the partition (src/backup/workers). */
const SEGMENT_NAME_RE = /^(\d{20})(?:-(\d{20}))?(?:\.e\d{1,15})?\.kbseg$/;

/**
 * A segment key read from a partition index must be a segment of *that* partition: directly under
 * its prefix, named `{first:020}.kbseg` or `{first:020}-{last:020}.kbseg` with the offsets the index
 * entry records. Anything else (`../../other/...`, another topic's segment, the manifest) is refused
 * before it is read, so a forged index cannot make a restore or validate read outside the partition.
 */
export function checkSegmentKey(
  backupId: string,
  topic: string,
  partition: number,
  key: string,
  firstOffset: number,
  lastOffset: number,
  where = keys.partitionIndex(backupId, topic, partition),
): string {
  const prefix = keys.partitionPrefix(backupId, topic, partition);
  const m = key.startsWith(prefix) ? SEGMENT_NAME_RE.exec(key.slice(prefix.length)) : null;
  if (!m || Number(m[1]) !== firstOffset || (m[2] !== undefined && Number(m[2]) !== lastOffset)) {
    throw new CorruptDataError(
      `${where}: segment key "${key}" is not the key of offsets ${firstOffset}..${lastOffset} of ${topic}/${partition} (expected ${prefix}${pad(firstOffset)}.kbseg); refusing to read it`,
      where,
    );
  }
  return key;
}

export function checkBackupId(id: string): string {
  if (!BACKUP_ID_RE.test(id) || id === '.' || id === '..') {
    throw new CorruptDataError(`backup_id "${id}" must be 1-200 characters of a-z A-Z 0-9 . _ - (and not "." or "..")`);
  }
  return id;
}

function pad(n: number): string {
  return String(n).padStart(20, '0');
}

export const keys = {
  manifest: (backupId: string) => `${backupId}/manifest.json`,
  lease: (backupId: string) => `${backupId}/lease.json`,
  topicsPrefix: (backupId: string) => `${backupId}/topics/`,
  partitionPrefix: (backupId: string, topic: string, partition: number) => `${backupId}/topics/${checkTopicName(topic)}/${partition}/`,
  partitionIndex: (backupId: string, topic: string, partition: number) => `${keys.partitionPrefix(backupId, topic, partition)}index.json`,
  segment: (backupId: string, topic: string, partition: number, first: number, last: number) =>
    `${keys.partitionPrefix(backupId, topic, partition)}${pad(first)}-${pad(last)}.kbseg`,
  /** A segment streamed while it is written: its last offset is not known when the upload starts. */
  streamedSegment: (backupId: string, topic: string, partition: number, first: number, epoch?: number) =>
    `${keys.partitionPrefix(backupId, topic, partition)}${pad(first)}${epoch === undefined ? '' : `.e${epoch}`}.kbseg`,
  groupsPrefix: (backupId: string) => `${backupId}/consumer-groups/`,
  groupSnapshot: (backupId: string, takenAt: number) => `${backupId}/consumer-groups/${String(takenAt).padStart(15, '0')}.json`,
  restoresPrefix: (backupId: string) => `${backupId}/restores/`,
  restorePrefix: (backupId: string, restoreId: string) => `${backupId}/restores/${restoreId}/`,
  restoreState: (backupId: string, restoreId: string) => `${backupId}/restores/${restoreId}/state.json`,
  restoreReport: (backupId: string, restoreId: string) => `${backupId}/restores/${restoreId}/report.json`,
  threePhase: (backupId: string, restoreId: string) => `${backupId}/restores/${restoreId}/three-phase.json`,
};
