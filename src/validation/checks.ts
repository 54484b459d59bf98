/**
 * The built-in checks of `validation run`, each comparing the restored target with the expectation
 * (src/validation/expectations.ts) and returning one result; an error inside a check fails that
 * check, not the run.
 */
import { randomInt } from 'node:crypto';
import { EARLIEST, type KafkaAdmin, LATEST } from '../kafka/admin.js';
import type { KafkaCluster } from '../kafka/cluster.js';
import { logger } from '../util/logger.js';
import type { ValidationConfig } from './config.js';
import type { Expectations, PartitionExpectation } from './expectations.js';
import type { CheckResult } from './run.js';

const log = logger('validation');
const iso = (ms: number): string => new Date(ms).toISOString();

export interface CheckContext {
  cfg: ValidationConfig;
  exp: Expectations;
  cluster: KafkaCluster;
  admin: KafkaAdmin;
  /** Watermarks of every expected target partition. */
  marks: Map<string, TargetPartitionState>;
}

export interface TargetPartitionState {
  exists: boolean;
  low?: number;
  high?: number;
}

/** Low and high watermarks of the target partitions named in `parts` (topic → partitions). */
export async function targetWatermarks(cluster: KafkaCluster, admin: KafkaAdmin, topics: Map<string, Set<number>>): Promise<Map<string, TargetPartitionState>> {
  const out = new Map<string, TargetPartitionState>();
  await cluster.refresh();
  for (const [topic, wanted] of topics) {
    const info = await cluster.topic(topic);
    const present = new Set(info?.partitions.map((p) => p.partition) ?? []);
    const parts = [...wanted].filter((p) => present.has(p));
    const lows = parts.length ? await admin.listOffsets(topic, parts, EARLIEST) : new Map<number, bigint>();
    const highs = parts.length ? await admin.listOffsets(topic, parts, LATEST) : new Map<number, bigint>();
    for (const p of wanted) {
      const low = lows.get(p);
      const high = highs.get(p);
      out.set(
        `${topic}/${p}`,
        present.has(p) && low !== undefined && high !== undefined ? { exists: true, low: Number(low), high: Number(high) } : { exists: false },
      );
    }
  }
  return out;
}

export function topicsOf(parts: readonly PartitionExpectation[]): Map<string, Set<number>> {
  const m = new Map<string, Set<number>>();
  for (const p of parts) {
    const s = m.get(p.topic) ?? new Set<number>();
    s.add(p.partition);
    m.set(p.topic, s);
  }
  return m;
}

export async function timed(
  name: string,
  type: CheckResult['type'],
  fn: () => Promise<Omit<CheckResult, 'name' | 'type' | 'started_at' | 'duration_ms'>>,
): Promise<CheckResult> {
  const t0 = Date.now();
  try {
    const r = await fn();
    return { name, type, started_at: iso(t0), duration_ms: Date.now() - t0, ...r };
  } catch (err) {
    log.warn({ check: name, err: (err as Error).message }, 'check failed with an error');
    return {
      name,
      type,
      status: 'failed',
      message: `error: ${(err as Error).message}`,
      started_at: iso(t0),
      duration_ms: Date.now() - t0,
      details: { error: (err as Error).message },
    };
  }
}

function skipped(name: string, type: CheckResult['type'], why: string): CheckResult {
  return { name, type, status: 'skipped', message: why, started_at: iso(Date.now()), duration_ms: 0, details: {} };
}

/** Picks ceil(n * pct / 100) (at least one) partitions at random. */
function sample<T>(items: readonly T[], pct: number): T[] {
  if (pct >= 100 || items.length <= 1) return [...items];
  const n = Math.max(1, Math.ceil((items.length * pct) / 100));
  const pool = [...items];
  for (let i = pool.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, n);
}

/** Expected vs actual record counts per target partition (all, or a sample). */
export async function messageCountCheck({ cfg, exp, marks }: CheckContext): Promise<CheckResult> {
  const mc = cfg.checks.message_count;
  const wanted = (p: PartitionExpectation): boolean =>
    mc.topics.length === 0 || mc.topics.includes(p.topic) || p.sources.some((s) => mc.topics.includes(s.slice(0, s.lastIndexOf('/'))));
  const allParts = exp.partitions;
  if (!mc.enabled) return skipped('message_count', 'message_count', 'disabled');
  return timed('message_count', 'message_count', async () => {
    const filtered = allParts.filter(wanted);
    const unknownTopics = mc.topics.filter((t) => !allParts.some((p) => p.topic === t || p.sources.some((s) => s.slice(0, s.lastIndexOf('/')) === t)));
    const chosen = mc.mode === 'sample' ? sample(filtered, mc.sample_percentage) : filtered;
    let expected = 0;
    let actual = 0;
    let diff = 0;
    const partitions = chosen.map((p) => {
      const m = marks.get(`${p.topic}/${p.partition}`);
      const got = m?.exists ? Math.max(0, m.high! - Math.max(m.low!, p.startOffset)) : null;
      expected += p.records;
      actual += got ?? 0;
      const d = got === null ? p.records : Math.abs(got - p.records);
      diff += d;
      return {
        topic: p.topic,
        partition: p.partition,
        sources: p.sources,
        expected: p.records,
        actual: got,
        difference: got === null ? null : got - p.records,
        ...(m?.exists ? {} : { problem: 'partition not found on the target' }),
      };
    });
    const missing = partitions.filter((p) => p.actual === null).length;
    const mismatched = partitions.filter((p) => p.difference !== null && p.difference !== 0).length;
    const failed = diff > mc.fail_threshold || missing > 0 || unknownTopics.length > 0 || chosen.length === 0;
    const why =
      chosen.length === 0
        ? 'no partitions to check (topic filter matches nothing)'
        : unknownTopics.length
          ? `topics not in the backup: ${unknownTopics.join(', ')}`
          : '';
    return {
      status: failed ? 'failed' : 'passed',
      message: `${chosen.length} partitions checked${mc.mode === 'sample' ? ` (sample of ${filtered.length}, ${mc.sample_percentage}%)` : ''}: expected ${expected} records, found ${actual}; total difference ${diff} (threshold ${mc.fail_threshold})${missing ? `; ${missing} partitions missing on the target` : ''}${mismatched ? `; ${mismatched} partitions differ` : ''}${why ? `; ${why}` : ''}`,
      details: {
        mode: mc.mode,
        sample_percentage: mc.sample_percentage,
        topics_filter: mc.topics,
        fail_threshold: mc.fail_threshold,
        expectation_source: exp.source,
        partitions_total: filtered.length,
        partitions_checked: chosen.length,
        expected_records: expected,
        actual_records: actual,
        total_difference: diff,
        unknown_topics: unknownTopics,
        partitions,
      },
    };
  });
}

/** High watermark exactly as restored; low watermark not above the first restored offset. */
export async function offsetRangeCheck({ cfg, exp, marks }: CheckContext): Promise<CheckResult> {
  const allParts = exp.partitions;
  const orc = cfg.checks.offset_range;
  if (!orc.enabled) return skipped('offset_range', 'offset_range', 'disabled');
  else if (!orc.verify_high_watermark && !orc.verify_low_watermark)
    return skipped('offset_range', 'offset_range', 'verify_high_watermark and verify_low_watermark are both false');
  return timed('offset_range', 'offset_range', async () => {
    const problems: string[] = [];
    const partitions = allParts.map((p) => {
      const m = marks.get(`${p.topic}/${p.partition}`);
      const ps: string[] = [];
      if (!m?.exists) ps.push('partition not found on the target');
      else {
        if (orc.verify_high_watermark && m.high !== p.highWatermark) ps.push(`high watermark ${m.high}, expected ${p.highWatermark}`);
        if (orc.verify_low_watermark && m.low! > p.startOffset)
          ps.push(`low watermark ${m.low} is above the first restored offset ${p.startOffset} (restored records were deleted)`);
      }
      for (const x of ps) problems.push(`${p.topic}/${p.partition}: ${x}`);
      return {
        topic: p.topic,
        partition: p.partition,
        low_watermark: m?.low ?? null,
        high_watermark: m?.high ?? null,
        expected_low_watermark_at_most: p.startOffset,
        expected_high_watermark: p.highWatermark,
        ok: ps.length === 0,
        problems: ps,
      };
    });
    return {
      status: problems.length ? 'failed' : 'passed',
      message: problems.length
        ? `${problems.length} watermark problems: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? '; …' : ''}`
        : `${partitions.length} partitions: watermarks as expected`,
      details: { verify_high_watermark: orc.verify_high_watermark, verify_low_watermark: orc.verify_low_watermark, expectation_source: exp.source, partitions },
    };
  });
}

/** Every committed group offset on the target lies within its partition's offsets. */
export async function groupOffsetsCheck({ cfg, cluster, admin }: CheckContext): Promise<CheckResult> {
  const cg = cfg.checks.consumer_group_offsets;
  if (!cg.enabled) return skipped('consumer_group_offsets', 'consumer_group_offsets', 'disabled');
  return timed('consumer_group_offsets', 'consumer_group_offsets', async () => {
    const listed = cg.verify_all_groups ? await admin.listGroups() : [];
    const named = [...new Set(cg.groups)];
    const ids = [...new Set([...listed, ...named])].sort();
    if (ids.length === 0) {
      return cg.verify_all_groups
        ? { status: 'warning' as const, message: 'no consumer groups on the target', details: { verify_all_groups: true, groups: [] } }
        : {
            status: 'failed' as const,
            message: 'verify_all_groups is false and no groups are listed in checks.consumer_group_offsets.groups',
            details: { verify_all_groups: false, groups: [] },
          };
    }
    const offsets = await admin.groupOffsets(ids);
    const topicParts = new Map<string, Set<number>>();
    for (const g of offsets) for (const [t, ps] of g.offsets) topicParts.set(t, new Set([...(topicParts.get(t) ?? []), ...ps.keys()]));
    const wm = await targetWatermarks(cluster, admin, topicParts);
    const problems: string[] = [];
    const groups = offsets.map((g) => {
      const gp: string[] = [];
      const parts: { topic: string; partition: number; committed: number; low: number | null; high: number | null; ok: boolean }[] = [];
      for (const [t, ps] of g.offsets) {
        for (const [p, o] of ps) {
          const m = wm.get(`${t}/${p}`);
          const c = Number(o.offset);
          let okp = true;
          if (!m?.exists) {
            gp.push(`${t}/${p}: committed offset ${c} but the partition does not exist on the target`);
            okp = false;
          } else if (c < m.low! || c > m.high!) {
            gp.push(`${t}/${p}: committed offset ${c} is outside the partition's offsets ${m.low}..${m.high}`);
            okp = false;
          }
          parts.push({ topic: t, partition: p, committed: c, low: m?.low ?? null, high: m?.high ?? null, ok: okp });
        }
      }
      const isNamed = named.includes(g.groupId);
      if (parts.length === 0 && isNamed) gp.push('no committed offsets on the target');
      for (const x of gp) problems.push(`${g.groupId}: ${x}`);
      return { group_id: g.groupId, named: isNamed, committed_partitions: parts.length, ok: gp.length === 0, problems: gp, partitions: parts };
    });
    const withOffsets = groups.filter((g) => g.committed_partitions > 0).length;
    return {
      status: problems.length ? 'failed' : 'passed',
      message: problems.length
        ? `${problems.length} problems: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? '; …' : ''}`
        : `${groups.length} groups checked, ${withOffsets} with committed offsets, all within the target partitions' offsets`,
      details: { verify_all_groups: cg.verify_all_groups, groups_requested: named, groups_checked: groups.length, groups_with_offsets: withOffsets, groups },
    };
  });
}
