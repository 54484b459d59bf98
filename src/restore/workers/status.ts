import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { readJsonObject, writeJsonObject } from '../../format/json-object.js';
import { keys } from '../../format/layout.js';
import type { ObjectStore } from '../../storage/store.js';
import type { RestoreMetricsSink } from '../../metrics/sink.js';
import { logger } from '../../util/logger.js';
import type { RestoreOptions } from '../options.js';
import type { RestoreAssignment } from './group.js';
import { readPartitionStates } from './ownership.js';

/*
  {backup_id}/restores/{restore_id}/workers/{host}-{pid}-{random}.json — what one restore worker owns and
  has done, rewritten every checkpoint interval and deleted when it stops (cleanly or with an error); a
  worker killed without stopping keeps its last report, recognisable by its `updated_at`. `status
  --restore-id` lists them with the restore's per-partition progress (src/restore/status.ts).
*/

const log = logger('restore-workers');
const int = z.number().int();

export const restoreWorkerReportSchema = z.strictObject({
  member_id: z.string(),
  group_id: z.string(),
  group_generation: int,
  host: z.string(),
  pid: int,
  started_at: int,
  updated_at: int,
  /** updated_at + 2 report intervals + the session timeout: past it the worker is surely gone. */
  live_until: int,
  /** Target partitions the group assigned to this worker, with their stored progress. */
  partitions: z.array(
    z.strictObject({
      topic: z.string(),
      partition: int,
      /** True when this worker holds the partition's state (taken over); false while it waits for the former owner. */
      owned: z.boolean(),
      epoch: int,
      produced: int,
      done: z.boolean(),
    }),
  ),
  /** Done by this process since it started: records and batch bytes acknowledged, partitions finished. */
  records_restored: int,
  bytes_restored: int,
  partitions_done: int,
  /** Over the last report interval. */
  records_per_second: z.number(),
  bytes_per_second: z.number(),
});

export type RestoreWorkerReport = z.infer<typeof restoreWorkerReportSchema>;

export const restoreWorkersPrefix = (backupId: string, restoreId: string): string => `${keys.restorePrefix(backupId, restoreId)}workers/`;

/** Every worker report of a restore (an unreadable one is skipped: it is advisory, not restore data). */
export async function readRestoreWorkerReports(store: ObjectStore, backupId: string, restoreId: string): Promise<RestoreWorkerReport[]> {
  const out: RestoreWorkerReport[] = [];
  for await (const m of store.list(restoreWorkersPrefix(backupId, restoreId))) {
    if (!m.key.endsWith('.json')) continue;
    const r = await readJsonObject(store, m.key, restoreWorkerReportSchema).catch(() => undefined);
    if (r) out.push(r);
  }
  return out.sort((a, b) => a.host.localeCompare(b.host) || a.pid - b.pid);
}

/**
 * One restore worker's report and gauges: counts what this process restores (by wrapping the metrics
 * sink the partition jobs call), follows the group's assignment, and every interval stores the report
 * and sets the worker gauges (kafka_backup_worker_group_generation, kafka_backup_worker_partitions_owned).
 */
export class RestoreWorkerReporter {
  readonly key: string;
  readonly #started = Date.now();
  #assignment: RestoreAssignment | undefined;
  #records = 0;
  #bytes = 0;
  #done = 0;
  #last = { at: Date.now(), records: 0, bytes: 0 };
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> | undefined;

  constructor(
    readonly opts: RestoreOptions & { workers: NonNullable<RestoreOptions['workers']> },
    readonly restoreId: string,
    readonly intervalMs: number,
  ) {
    this.key = `${restoreWorkersPrefix(opts.backupId, restoreId)}${hostname().replace(/[^A-Za-z0-9._-]/g, '_')}-${process.pid}-${randomBytes(4).toString('hex')}.json`;
  }

  /** `opts` whose metrics sink also counts into this report. */
  counting(opts: RestoreOptions): RestoreOptions {
    const inner = opts.metrics;
    const sink: RestoreMetricsSink = {
      partitionsPlanned: (n) => inner?.partitionsPlanned(n),
      recordsPlanned: (n, exact) => inner?.recordsPlanned?.(n, exact),
      restored: (t, p, records, bytes) => {
        this.#records += records;
        this.#bytes += bytes;
        inner?.restored(t, p, records, bytes);
      },
      partitionDone: (t, p) => {
        this.#done++;
        inner?.partitionDone(t, p);
      },
      error: (op) => inner?.error(op),
      workerGroup: (g, n) => inner?.workerGroup?.(g, n),
    };
    return { ...opts, metrics: sink };
  }

  assigned(a: RestoreAssignment): void {
    this.#assignment = a;
    this.opts.metrics?.workerGroup?.(a.generation, a.partitions.length);
  }

  async report(): Promise<RestoreWorkerReport> {
    const a = this.#assignment;
    const states = a ? await readPartitionStates(this.opts.store, this.opts.backupId, this.restoreId, a.partitions) : new Map();
    const now = Date.now();
    const secs = Math.max(0.001, (now - this.#last.at) / 1000);
    const r: RestoreWorkerReport = {
      member_id: a?.memberId ?? '',
      group_id: this.opts.workers.groupId,
      group_generation: a?.generation ?? -1,
      host: hostname(),
      pid: process.pid,
      started_at: this.#started,
      updated_at: now,
      live_until: now + 2 * this.intervalMs + this.opts.workers.sessionTimeoutMs,
      partitions: (a?.partitions ?? []).map(({ topic, partition }) => {
        const s = states.get(`${topic}/${partition}`);
        return {
          topic,
          partition,
          owned: s?.owner?.member_id === a?.memberId && s?.owner?.pid === process.pid,
          epoch: s?.epoch ?? 0,
          produced: s?.state.produced ?? 0,
          done: s?.done ?? false,
        };
      }),
      records_restored: this.#records,
      bytes_restored: this.#bytes,
      partitions_done: this.#done,
      records_per_second: Math.round((this.#records - this.#last.records) / secs),
      bytes_per_second: Math.round((this.#bytes - this.#last.bytes) / secs),
    };
    this.#last = { at: now, records: this.#records, bytes: this.#bytes };
    this.opts.metrics?.workerGroup?.(r.group_generation, r.partitions.filter((p) => p.owned && !p.done).length);
    return r;
  }

  async #write(): Promise<void> {
    try {
      await writeJsonObject(this.opts.store, this.key, await this.report());
    } catch (err) {
      log.debug({ err: (err as Error).message }, 'could not store the worker report; trying again next interval');
    }
  }

  /** Stores a report now and every interval until `stop`. */
  start(): void {
    if (this.#timer) return;
    const tick = (): void => {
      this.#writing ??= this.#write().finally(() => (this.#writing = undefined));
    };
    tick();
    this.#timer = setInterval(tick, this.intervalMs);
    this.#timer.unref?.();
  }

  /** Stops reporting and deletes the report: this process no longer restores. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#writing;
    await this.opts.store.delete(this.key).catch(() => {});
  }
}
