// Helpers for the POSIX workload and interoperability tests: shell quoting, line diffs for
// failure messages, the daemon log's problems, a mount that lives for one callback, and child
// processes that report an exact errno (python3) or run as an unprivileged user.
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { TestMount } from './mount.js';
import { run, shResult, type RunResult } from './shell.js';

/** Single-quotes a string for bash. */
export const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** Non-empty lines of a command's output. */
export const lines = (text: string): string[] => text.split('\n').filter((l) => l !== '');

/**
 * A line diff (longest common subsequence) of two listings: "-" lines only in `expected`,
 * "+" lines only in `actual`, with up to `context` unchanged lines around each change.
 */
export function lineDiff(expected: string[], actual: string[], context = 2): string {
  const n = expected.length;
  const m = actual.length;
  // lcs[i][j]: length of the LCS of expected[i..] and actual[j..]
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i]![j] = expected[i] === actual[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const ops: Array<[' ' | '-' | '+', string]> = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && expected[i] === actual[j]) {
      ops.push([' ', expected[i]!]);
      i++;
      j++;
    } else if (j < m && (i === n || lcs[i]![j + 1]! >= lcs[i + 1]![j]!)) {
      ops.push(['+', actual[j]!]);
      j++;
    } else {
      ops.push(['-', expected[i]!]);
      i++;
    }
  }
  // Within a run of changes, pair each expected line with the seen line that replaced it.
  for (let k = 0; k < ops.length;) {
    if (ops[k]![0] === ' ') {
      k++;
      continue;
    }
    let end = k;
    while (end < ops.length && ops[end]![0] !== ' ') end++;
    const removed = ops.slice(k, end).filter(([op]) => op === '-');
    const added = ops.slice(k, end).filter(([op]) => op === '+');
    const paired: typeof ops = [];
    for (let p = 0; p < Math.max(removed.length, added.length); p++) {
      if (p < removed.length) paired.push(removed[p]!);
      if (p < added.length) paired.push(added[p]!);
    }
    ops.splice(k, end - k, ...paired);
    k = end;
  }
  const near = ops.map((_, k) => ops.slice(Math.max(0, k - context), k + context + 1).some(([op]) => op !== ' '));
  const out: string[] = [];
  let skipped = false;
  for (const [k, [op, line]] of ops.entries()) {
    if (!near[k]) {
      skipped = true;
      continue;
    }
    if (skipped) out.push('  ...');
    skipped = false;
    out.push(`${op} ${line}`);
  }
  if (skipped) out.push('  ...');
  return out.join('\n');
}

/**
 * The differences between two listings as a message ("" when they are equal): the diff, with
 * "-" for what was expected and "+" for what was seen.
 */
export function listingMismatch(what: string, expected: string[], actual: string[]): string {
  if (expected.length === actual.length && expected.every((l, k) => l === actual[k])) return '';
  return `${what}: ${expected.length} lines expected, ${actual.length} seen; "-" expected, "+" seen:\n${lineDiff(expected, actual)}`;
}

/** Fails with the diff when two listings differ. */
export function assertSameLines(actual: string[], expected: string[], what: string): void {
  const mismatch = listingMismatch(what, expected, actual);
  if (mismatch) throw new Error(mismatch);
}

/** The daemon log's warnings and errors (and the request counts), for a failing test's output. */
export function logProblems(log: string, max = 40): string {
  const all = log.split('\n').filter(Boolean);
  const bad = all.filter((l) => {
    try {
      return ((JSON.parse(l) as { level?: number }).level ?? 0) >= 40;
    } catch {
      return true;
    }
  });
  const counts = all.filter((l) => l.includes('"msg":"request counts"'));
  const shown = [...bad.slice(-max), ...counts];
  return shown.length ? shown.join('\n') : '(no warnings or errors in the daemon log)';
}

/**
 * A qsfs mount of `bucket` for the length of `fn`, always unmounted afterwards; its daemon must
 * exit on unmount, and its log's problems are shown when `fn` fails. Two calls in a row are a
 * remount: the second mount starts with cold caches and sees only what reached the bucket.
 */
export async function withMount<T>(t: TestContext, bucket: string, label: string, fn: (m: TestMount) => Promise<T>, args: string[] = []): Promise<T> {
  const m = await TestMount.start(bucket, label, args);
  let result: T;
  try {
    result = await fn(m);
  } catch (err) {
    const { log } = await m.stop();
    t.diagnostic(`daemon log of the ${label} mount (${args.join(' ')}):\n${logProblems(log)}`);
    throw err;
  }
  const { daemonExited, log } = await m.stop();
  if (!daemonExited) t.diagnostic(`daemon log of the ${label} mount:\n${logProblems(log)}`);
  assert.equal(daemonExited, true, `the ${label} daemon exited after fusermount -u`);
  return result;
}

/**
 * Runs python3 statements (arguments in sys.argv[1:]) in a child process. Answers what they
 * printed followed by "OK" when they finished, or by the errno name of the OSError they raised
 * ("EEXIST", "ENOTEMPTY"...): the exact errno of one system call, which shell tools only
 * paraphrase.
 */
export async function pyErrno(statements: string, ...args: string[]): Promise<string> {
  const body = statements.split('\n').filter((l) => l.trim() !== '');
  const indent = Math.min(...body.map((l) => /^ */.exec(l)![0].length));
  const script = [
    'import errno, os, stat, sys',
    'try:',
    ...body.map((l) => `    ${l.slice(indent)}`),
    "    print('OK')",
    'except OSError as e:',
    '    print(errno.errorcode.get(e.errno, str(e.errno)))',
  ].join('\n');
  const r = await run('python3', ['-c', script, ...args], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`python3 failed (exit ${r.code}):\n${script}\n${r.stderr}`);
  return r.stdout.trim();
}

/** Runs a bash script as the user nobody (group nogroup, no supplementary groups). */
export function shAsNobody(script: string): Promise<RunResult> {
  return run('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', 'bash', '-uo', 'pipefail', '-c', `cd / && ${script}`], { timeoutMs: 60_000 });
}

/** Throws unless every command is on PATH (CI installs them; a missing one must fail, not skip). */
export async function requireCommands(...commands: string[]): Promise<void> {
  const missing = (await shResult(`for c in ${commands.join(' ')}; do command -v "$c" >/dev/null || echo "$c"; done`)).stdout.trim();
  if (missing) throw new Error(`these tests need ${missing.split('\n').join(', ')} installed (.ci/run installs them)`);
}
