// Turns samples into the benchmark table: medians with [min-max] per target, each filesystem's
// ratio to the best of the other filesystems (whose results count: not starred) and to the SDK,
// then requests, CPU and memory.
import type { Workload } from './workloads.js';

export type TargetName = 'qsfs' | 's3fs' | 'rclone' | 'sdk';

export interface Sample {
  target: TargetName;
  workload: Workload;
  repeat: number;
  seconds: number;
  closeSeconds?: number;
  requests: number;
  byMethod: Record<string, number>;
  bytesUp: number;
  bytesDown: number;
  /** Daemon CPU seconds during the workload (filesystems only). */
  cpuSeconds?: number;
  /** Daemon peak resident memory during the workload, bytes (filesystems only). */
  peakRss?: number;
  note?: string;
}

export interface Stats {
  median: number;
  min: number;
  max: number;
}

export function stats(values: number[]): Stats {
  const v = [...values].sort((a, b) => a - b);
  const mid = Math.floor(v.length / 2);
  const median = v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
  return { median, min: v[0]!, max: v[v.length - 1]! };
}

const FILESYSTEMS: TargetName[] = ['qsfs', 's3fs', 'rclone'];

function fmt(n: number): string {
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => pad(c, widths[i]!)).join('  ').trimEnd()).join('\n');
}

export function medianOf(samples: Sample[], target: TargetName, workload: Workload, pick: (s: Sample) => number | undefined = (s) => s.seconds): Stats | undefined {
  const values = samples.filter((s) => s.target === target && s.workload === workload).map(pick)
    .filter((x): x is number => x !== undefined && !Number.isNaN(x));
  return values.length > 0 ? stats(values) : undefined;
}

/** The main table: seconds until durable, medians [min-max], and the ratios. */
export function timeTable(samples: Sample[], targets: TargetName[], workloads: readonly Workload[]): string {
  const fsTargets = targets.filter((t) => FILESYSTEMS.includes(t));
  const header = ['workload (s, until durable)', ...targets, ...fsTargets.map((t) => `${t}/best-other`), ...fsTargets.filter(() => targets.includes('sdk')).map((t) => `${t}/sdk`)];
  const rows = [header];
  for (const w of workloads) {
    const med = new Map<TargetName, Stats | undefined>(targets.map((t) => [t, medianOf(samples, t, w)]));
    // A starred result (not persisted, failed) is no time to compare with.
    const noted = (t: TargetName): boolean => samples.some((x) => x.target === t && x.workload === w && x.note);
    const cells = targets.map((t) => {
      const s = med.get(t);
      if (!s) return '-';
      const close = medianOf(samples, t, w, (x) => x.closeSeconds);
      const closeText = close && Math.abs(close.median - s.median) > 0.005 ? ` (close ${fmt(close.median)})` : '';
      const range = s.min !== s.max ? ` [${fmt(s.min)}-${fmt(s.max)}]` : '';
      return `${fmt(s.median)}${range}${closeText}${noted(t) ? ' *' : ''}`;
    });
    const ratios = fsTargets.map((t) => {
      const mine = med.get(t)?.median;
      const others = fsTargets.filter((o) => o !== t && !noted(o)).map((o) => med.get(o)?.median).filter((x): x is number => x !== undefined);
      if (mine === undefined || others.length === 0) return '-';
      return `${(mine / Math.min(...others)).toFixed(2)}x`;
    });
    const sdk = med.get('sdk')?.median;
    const vsSdk = targets.includes('sdk') ? fsTargets.map((t) => {
      const mine = med.get(t)?.median;
      return mine === undefined || sdk === undefined ? '-' : `${(mine / sdk).toFixed(2)}x`;
    }) : [];
    rows.push([w, ...cells, ...ratios, ...vsSdk]);
  }
  return table(rows);
}

/** Requests sent and megabytes moved (medians per run), daemon CPU seconds and peak RSS (in MiB,
 *  the unit of --maxcache, so that the budget --maxcache + 64 MiB reads off the table). */
export function costTable(samples: Sample[], targets: TargetName[], workloads: readonly Workload[]): string {
  const fsTargets = targets.filter((t) => FILESYSTEMS.includes(t));
  const header = ['workload', ...targets.map((t) => `${t} req`), ...targets.map((t) => `${t} MB`), ...fsTargets.map((t) => `${t} cpu s`), ...fsTargets.map((t) => `${t} rss MiB`)];
  const rows = [header];
  for (const w of workloads) {
    rows.push([
      w,
      ...targets.map((t) => { const s = medianOf(samples, t, w, (x) => x.requests); return s ? String(Math.round(s.median)) : '-'; }),
      ...targets.map((t) => { const s = medianOf(samples, t, w, (x) => (x.bytesUp + x.bytesDown) / 1e6); return s ? fmt(s.median) : '-'; }),
      ...fsTargets.map((t) => { const s = medianOf(samples, t, w, (x) => x.cpuSeconds); return s ? fmt(s.median) : '-'; }),
      ...fsTargets.map((t) => { const s = medianOf(samples, t, w, (x) => x.peakRss); return s ? String(Math.round(s.median / 2 ** 20)) : '-'; }),
    ]);
  }
  return table(rows);
}

export function notes(samples: Sample[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const s of samples) {
    if (!s.note) continue;
    const line = `* ${s.target} ${s.workload}: ${s.note}`;
    if (!seen.has(line)) {
      seen.add(line);
      out.push(line);
    }
  }
  return out;
}
