/**
 * Applying an offset plan to the target cluster, the one step every reset ends in: one group after
 * another (a restore's offset phase, three-phase-restore, `offset-reset execute`) or many in
 * parallel with retries and a summary (`offset-reset-bulk`).
 * Both refuse a group with active members (naming them), read the group's offsets before, commit,
 * and read them back to check the commit took.
 */
import { KafkaAdmin, type GroupDescription } from '../kafka/admin.js';
import type { KafkaConnectionSettings } from '../kafka/security.js';
import { KafkaError, errorMessage } from '../util/errors.js';
import { logger } from '../util/logger.js';
import { runPool } from '../util/pool.js';
import { sleep } from '../util/time.js';
import type { GroupReset, ResetReport } from './report.js';

const log = logger('offsets');

/** Why a group may not be altered (active members), or undefined. */
export function activeReason(d: GroupDescription | undefined): string | undefined {
  if (!d || d.members.length === 0) return undefined;
  const who = d.members.map((m) => `${m.memberId} (client ${m.clientId}${m.clientHost ? ` on ${m.clientHost}` : ''})`).join(', ');
  return `group ${d.groupId} has ${d.members.length} active member(s) on the target: ${who}; stop its consumers and run the reset again`;
}

/** Fills each partition's `before` with the group's committed offset on the target (read only). */
export async function fillBefore(admin: KafkaAdmin, groups: GroupReset[]): Promise<void> {
  const ids = groups.filter((g) => g.partitions.length > 0).map((g) => g.groupId);
  if (ids.length === 0) return;
  const live = new Map((await admin.groupOffsets(ids)).map((x) => [x.groupId, x.offsets]));
  for (const g of groups) {
    for (const p of g.partitions) {
      const b = live.get(g.groupId)?.get(p.targetTopic)?.get(p.targetPartition);
      p.before = b ? Number(b.offset) : null;
    }
  }
}

function commitMap(g: GroupReset): Map<string, Map<number, bigint>> {
  const commit = new Map<string, Map<number, bigint>>();
  for (const p of g.partitions) {
    const m = commit.get(p.targetTopic) ?? new Map<number, bigint>();
    m.set(p.targetPartition, BigInt(p.after));
    commit.set(p.targetTopic, m);
  }
  return commit;
}

/** Commits one group's planned offsets and reads them back; returns the partitions that did not take. */
async function commitAndCheck(admin: KafkaAdmin, g: GroupReset): Promise<{ topic: string; partition: number; expected: number; actual: number | null }[]> {
  await admin.commitGroupOffsets(g.groupId, commitMap(g));
  const live = (await admin.groupOffsets([g.groupId]))[0]?.offsets;
  const bad: { topic: string; partition: number; expected: number; actual: number | null }[] = [];
  for (const p of g.partitions) {
    const v = live?.get(p.targetTopic)?.get(p.targetPartition);
    const actual = v ? Number(v.offset) : null;
    if (actual !== p.after) bad.push({ topic: p.targetTopic, partition: p.targetPartition, expected: p.after, actual });
  }
  return bad;
}

/**
 * Applies a plan group by group. Active groups are refused (status `refused`, reason naming the
 * members); the others are committed and read back. With `dryRun` nothing is committed: the
 * refusals and each group's current offsets (`before`) are still read, so the plan says what
 * would happen now.
 */
export async function applyOffsetPlan(plan: ResetReport, settings: KafkaConnectionSettings, o: { dryRun?: boolean } = {}): Promise<ResetReport> {
  const groups: GroupReset[] = plan.groups.map((g) => ({ ...g, partitions: g.partitions.map((p) => ({ ...p })) }));
  const admin = new KafkaAdmin(settings);
  try {
    const todo = groups.filter((g) => g.status === 'planned' && g.partitions.length > 0);
    const described = new Map((await admin.describeGroups(todo.map((g) => g.groupId))).map((d) => [d.groupId, d]));
    await fillBefore(admin, todo);
    for (const g of todo) {
      const why = activeReason(described.get(g.groupId));
      if (why) {
        g.status = 'refused';
        g.reason = why;
        continue;
      }
      if (o.dryRun) continue;
      const bad = await commitAndCheck(admin, g);
      if (bad.length)
        throw new KafkaError(
          `group ${g.groupId}: the committed offsets did not take: ${bad.map((b) => `${b.topic}/${b.partition} expected ${b.expected}, found ${b.actual ?? 'none'}`).join('; ')}`,
        );
      g.status = 'reset';
      log.info({ groupId: g.groupId, partitions: g.partitions.length, technique: g.technique }, 'consumer group offsets reset');
    }
  } finally {
    await admin.close();
  }
  return { ...plan, dryRun: o.dryRun ?? false, groups };
}

// ---- bulk --------------------------------------------------------------------------------------

export interface BulkError {
  topic: string | null;
  partition: number | null;
  /** Kafka error code when the broker gave one, else our error code (e.g. GROUP_ACTIVE). */
  error_code: number | string;
  message: string;
}

export interface BulkGroupOutcome {
  group_id: string;
  status: 'reset' | 'failed' | 'no-offsets';
  partitions_reset: number;
  partitions_failed: number;
  errors: BulkError[];
  duration_ms: number;
  retry_attempts: number;
  records_seen_twice: number;
  partitions: { topic: string; partition: number; offset_before: number | null; offset_after: number; records_seen_twice: number; at_end: boolean }[];
}

export interface BulkReport {
  status: 'success' | 'partial_success' | 'failed';
  backup_id: string;
  restore_id: string;
  total_groups: number;
  successful_groups: number;
  failed_groups: number;
  skipped_groups: number;
  total_offsets_reset: number;
  total_offsets_failed: number;
  group_outcomes: BulkGroupOutcome[];
  duration_ms: number;
  performance: {
    avg_latency_ms: number;
    p50_latency_ms: number;
    p99_latency_ms: number;
    offsets_per_second: number;
    max_concurrency: number;
    total_retries: number;
  };
}

export interface BulkOptions {
  maxConcurrent: number;
  maxRetries: number;
  /** First retry delay; doubles each attempt (default 200 ms). */
  retryDelayMs?: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/**
 * `offset-reset-bulk`: resets the plan's groups in parallel (at most `maxConcurrent` at once),
 * retrying a failed commit up to `maxRetries` times with backoff. An active group fails at once
 * (retrying cannot help). Never throws for a group's failure: it is in the summary.
 */
export async function bulkReset(plan: ResetReport, settings: KafkaConnectionSettings, o: BulkOptions): Promise<BulkReport> {
  const started = Date.now();
  const admin = new KafkaAdmin(settings);
  const outcomes: BulkGroupOutcome[] = [];
  let inFlight = 0;
  let maxSeen = 0;
  try {
    const work = async (g: GroupReset): Promise<void> => {
      const t0 = Date.now();
      const out: BulkGroupOutcome = {
        group_id: g.groupId,
        status: 'failed',
        partitions_reset: 0,
        partitions_failed: 0,
        errors: [],
        duration_ms: 0,
        retry_attempts: 0,
        records_seen_twice: g.partitions.reduce((n, p) => n + p.duplicates, 0),
        partitions: [],
      };
      outcomes.push(out);
      if (g.status !== 'planned' || g.partitions.length === 0) {
        out.status = 'no-offsets';
        out.duration_ms = Date.now() - t0;
        return;
      }
      inFlight++;
      maxSeen = Math.max(maxSeen, inFlight);
      try {
        for (let attempt = 0; ; attempt++) {
          out.errors = [];
          try {
            const d = (await admin.describeGroups([g.groupId]))[0];
            const why = activeReason(d);
            if (why) {
              out.errors.push({ topic: null, partition: null, error_code: 'GROUP_ACTIVE', message: why });
              break;
            }
            const copy: GroupReset = { ...g, partitions: g.partitions.map((p) => ({ ...p })) };
            await fillBefore(admin, [copy]);
            const bad = await commitAndCheck(admin, copy);
            out.partitions = copy.partitions.map((p) => ({
              topic: p.targetTopic,
              partition: p.targetPartition,
              offset_before: p.before,
              offset_after: p.after,
              records_seen_twice: p.duplicates,
              at_end: p.atEnd,
            }));
            for (const b of bad)
              out.errors.push({
                topic: b.topic,
                partition: b.partition,
                error_code: 'NOT_COMMITTED',
                message: `expected ${b.expected}, found ${b.actual ?? 'none'}`,
              });
            if (bad.length === 0) break;
          } catch (err) {
            const code = err instanceof KafkaError && err.kafkaCode !== undefined ? err.kafkaCode : err instanceof KafkaError ? 'KAFKA' : 'ERROR';
            out.errors = g.partitions.map((p) => ({ topic: p.targetTopic, partition: p.targetPartition, error_code: code, message: errorMessage(err) }));
          }
          if (attempt >= o.maxRetries) break;
          out.retry_attempts++;
          await sleep((o.retryDelayMs ?? 200) * 2 ** attempt);
        }
        const failedParts = new Set(out.errors.filter((e) => e.topic !== null).map((e) => `${e.topic}/${e.partition}`));
        const wholeGroup = out.errors.some((e) => e.topic === null);
        out.partitions_failed = wholeGroup ? g.partitions.length : failedParts.size;
        out.partitions_reset = g.partitions.length - out.partitions_failed;
        out.status = out.partitions_failed === 0 ? 'reset' : 'failed';
      } finally {
        inFlight--;
        out.duration_ms = Date.now() - t0;
      }
    };
    await runPool([...plan.groups], Math.max(1, o.maxConcurrent), work);
  } finally {
    await admin.close();
  }
  const order = new Map(plan.groups.map((g, i) => [g.groupId, i]));
  outcomes.sort((a, b) => order.get(a.group_id)! - order.get(b.group_id)!);
  const attempted = outcomes.filter((x) => x.status !== 'no-offsets');
  const ok = attempted.filter((x) => x.status === 'reset').length;
  const lat = attempted.map((x) => x.duration_ms).sort((a, b) => a - b);
  const duration = Date.now() - started;
  const reset = outcomes.reduce((n, x) => n + x.partitions_reset, 0);
  return {
    status: attempted.length === 0 || ok === attempted.length ? 'success' : ok === 0 ? 'failed' : 'partial_success',
    backup_id: plan.backupId,
    restore_id: plan.restoreId,
    total_groups: outcomes.length,
    successful_groups: ok,
    failed_groups: attempted.length - ok,
    skipped_groups: outcomes.length - attempted.length,
    total_offsets_reset: reset,
    total_offsets_failed: outcomes.reduce((n, x) => n + x.partitions_failed, 0),
    group_outcomes: outcomes,
    duration_ms: duration,
    performance: {
      avg_latency_ms: lat.length ? Math.round(lat.reduce((a, b) => a + b, 0) / lat.length) : 0,
      p50_latency_ms: percentile(lat, 50),
      p99_latency_ms: percentile(lat, 99),
      offsets_per_second: duration > 0 ? Math.round((reset * 1000) / duration) : reset,
      max_concurrency: maxSeen,
      total_retries: outcomes.reduce((n, x) => n + x.retry_attempts, 0),
    },
  };
}
