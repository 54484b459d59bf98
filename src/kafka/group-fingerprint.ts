/**
 * The settings every member of a workers' group must share, carried in the group protocol. The one
 * protocol a member offers is named after a hash of these settings and carries them as its metadata:
 * the broker refuses a member whose protocol no other member supports (INCONSISTENT_GROUP_PROTOCOL),
 * and the refused member reads a member's settings from DescribeGroups to name the difference.
 */
import { createHash } from 'node:crypto';
import type { KafkaAdmin } from './admin.js';

/** Named settings, compared as a whole; differences are named key by key. */
export type GroupFingerprint = Record<string, string | number | boolean | null>;

export function fingerprintProtocol(fp: GroupFingerprint): string {
  const canonical = JSON.stringify(
    Object.keys(fp)
      .sort()
      .map((k) => [k, fp[k]]),
  );
  return `kafka-backup-${createHash('sha256').update(canonical).digest('hex').slice(0, 16)}`;
}

/** The one protocol a member offers: named after the fingerprint, carrying it as metadata. */
export function fingerprintGroupProtocol(fp: GroupFingerprint): { name: string; metadata: Buffer } {
  return { name: fingerprintProtocol(fp), metadata: Buffer.from(JSON.stringify(fp)) };
}

/** The keys whose values differ, as `key: ours here, theirs in the group`. */
export function fingerprintDifferences(ours: GroupFingerprint, theirs: GroupFingerprint): string[] {
  const keys = [...new Set([...Object.keys(ours), ...Object.keys(theirs)])].sort();
  return keys
    .filter((k) => JSON.stringify(ours[k]) !== JSON.stringify(theirs[k]))
    .map((k) => `${k}: ${JSON.stringify(ours[k] ?? null)} here, ${JSON.stringify(theirs[k] ?? null)} in the group`);
}

/**
 * How `ours` differs from the settings the group runs with, or undefined when the group is empty or
 * runs with the same ones. A member whose metadata cannot be read is named by its protocol.
 */
export async function runningGroupDifferences(admin: KafkaAdmin, groupId: string, ours: GroupFingerprint): Promise<string[] | undefined> {
  const [g] = await admin.describeGroups([groupId]).catch(() => []);
  if (!g || g.members.length === 0 || !g.protocol || g.protocol === fingerprintProtocol(ours)) return undefined;
  for (const m of g.members) {
    try {
      const theirs = JSON.parse(m.userData?.toString('utf8') ?? '') as GroupFingerprint;
      const diffs = fingerprintDifferences(ours, theirs);
      if (diffs.length > 0) return diffs;
    } catch {
      // not one of ours, or not readable: named by protocol below
    }
  }
  return [`the group's protocol is ${g.protocol}, this worker's ${fingerprintProtocol(ours)}`];
}
