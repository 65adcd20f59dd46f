// Summarises V8 CPU profiles (node --cpu-prof, as `scripts/bench --profile` writes them): where
// the daemon's CPU time went, by package and by function.
//   node build/scripts/benchmark/profile-summary.js FILE.cpuprofile... [--top N]
import { promises as fsp } from 'node:fs';

interface CallFrame { functionName: string; url: string; lineNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; hitCount?: number }
interface Profile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

/** Which package (or part of qsfs) a function belongs to. */
export function bucketOf(frame: CallFrame): string {
  const url = frame.url;
  if (url === '') return frame.functionName === '(idle)' ? '(idle)' : frame.functionName.startsWith('(') ? frame.functionName : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  const own = /\/dist\/([^/]+)\//.exec(url);
  if (own) return `qsfs ${own[1]}`;
  if (url.startsWith('node:')) return 'node core';
  return url;
}

export function selfTimes(profile: Profile): { byBucket: Map<string, number>; byFunction: Map<string, number>; totalMs: number } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const byBucket = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let totalMs = 0;
  profile.samples.forEach((id, i) => {
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    const frame = byId.get(id)?.callFrame;
    if (!frame) return;
    totalMs += ms;
    const bucket = bucketOf(frame);
    byBucket.set(bucket, (byBucket.get(bucket) ?? 0) + ms);
    const fn = `${frame.functionName || '(anonymous)'} ${frame.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/dist\//, 'dist/')}:${frame.lineNumber + 1}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + ms);
  });
  return { byBucket, byFunction, totalMs };
}

function top(m: Map<string, number>, n: number, total: number): string[] {
  return [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, n)
    .map(([k, v]) => `${v.toFixed(0).padStart(8)} ms ${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}`);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const topIndex = args.indexOf('--top');
  const n = topIndex >= 0 ? Number(args.splice(topIndex, 2)[1]) : 25;
  const byBucket = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let total = 0;
  for (const file of args) {
    const s = selfTimes(JSON.parse(await fsp.readFile(file, 'utf8')) as Profile);
    total += s.totalMs;
    for (const [k, v] of s.byBucket) byBucket.set(k, (byBucket.get(k) ?? 0) + v);
    for (const [k, v] of s.byFunction) byFunction.set(k, (byFunction.get(k) ?? 0) + v);
  }
  const busy = total - (byBucket.get('(idle)') ?? 0);
  process.stdout.write([`${args.length} profile(s), ${total.toFixed(0)} ms sampled, ${busy.toFixed(0)} ms busy`, '',
    'by package (self time):', ...top(byBucket, 15, total), '', 'by function (self time):', ...top(byFunction, n, total), ''].join('\n'));
}

if (process.argv[1]?.endsWith('profile-summary.js')) void main();
