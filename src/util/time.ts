export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** 2024-11-10T10:00:00Z style, or '-' for none. */
export function isoMs(ms: number | bigint | null | undefined): string {
  if (ms === null || ms === undefined) return '-';
  const n = Number(ms);
  if (!Number.isFinite(n)) return '-';
  const d = new Date(n);
  if (Number.isNaN(d.getTime())) return String(ms);
  return n % 1000 === 0 ? d.toISOString().replace('.000Z', 'Z') : d.toISOString();
}

/** "4 hours", "2m 15s", "350ms". */
export function humanDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${(ms / 1000).toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 === 0 ? `${h} hour${h === 1 ? '' : 's'}` : `${h}h ${m % 60}m`;
  const d = Math.floor(h / 24);
  return h % 24 === 0 ? `${d} days` : `${d}d ${h % 24}h`;
}
