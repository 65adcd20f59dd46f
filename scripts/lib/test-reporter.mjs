// A node:test reporter for people (scripts/test.mjs passes it with --test-reporter, beside the
// TAP reporter that writes everything to a file):
//   - one line per test file when it finishes: file, counts, time;
//   - after that line, each failing test: its name (suite › test), its error, its diagnostics
//     (t.diagnostic), and for a failing file the tail of what the file printed
//     (test:stdout / test:stderr: node 20 does not tell which test printed it);
//   - at the end: the totals, the failing tests once more, and the time.
// Works with the events of node 20.x and newer (checked with 20.20 and 26.10). The counts that
// CI reads come from the TAP file, not from here. Env: QSFS_TEST_TAP_FILE (named in messages).
import path from 'node:path';
import util from 'node:util';

const TAP_FILE = process.env.QSFS_TEST_TAP_FILE || '';
const MAX_ERROR_LINES = 40;
const MAX_DIAG_LINES = 60;
const MAX_OUTPUT_LINES = 30;
const KEEP_OUTPUT_LINES = 500;

const color = !process.env.NO_COLOR && (process.env.FORCE_COLOR ? process.env.FORCE_COLOR !== '0' : !!process.stdout.isTTY);
const paint = (code) => (s) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
const red = paint('31');
const green = paint('32');
const yellow = paint('33');
const dim = paint('2');
const bold = paint('1');

function dur(ms) {
  if (!Number.isFinite(ms)) return '?';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  return `${Math.floor(s / 60)} min ${String(Math.round(s % 60)).padStart(2, '0')} s`;
}

function rel(file) {
  if (!file) return '(no file)';
  const r = path.relative(process.cwd(), file);
  return r.startsWith('..') ? file : r;
}

function indent(text, pad) {
  return text
    .split('\n')
    .map((l) => (l ? pad + l : l))
    .join('\n');
}

/** At most n lines of text, saying how many were left out and where they are. */
function clip(text, n, what) {
  const lines = text.replace(/\n+$/, '').split('\n');
  if (lines.length <= n) return lines.join('\n');
  const where = TAP_FILE ? ` (all of them in ${rel(TAP_FILE)})` : '';
  return [...lines.slice(0, n), dim(`... ${lines.length - n} more lines of ${what}${where}`)].join('\n');
}

function errorText(error) {
  if (!error) return 'failed (no error given)';
  // node wraps what the test threw in an ERR_TEST_FAILURE whose cause is the thrown value
  const e = error.code === 'ERR_TEST_FAILURE' && error.cause !== undefined ? error.cause : error;
  let text;
  if (typeof e === 'string') {
    text = e;
  } else if (e && typeof e === 'object' && typeof e.stack === 'string' && e.stack) {
    // frames inside node itself say nothing about the test
    text = e.stack
      .split('\n')
      .filter((l) => !/^\s+at (.* \()?node:/.test(l))
      .join('\n');
    if (e.code && !text.includes(String(e.code))) text += `\n(code: ${e.code})`;
  } else if (e && typeof e === 'object' && e.message) {
    text = String(e.message);
  } else {
    text = util.inspect(e, { depth: 4 });
  }
  return clip(text, MAX_ERROR_LINES, 'the error');
}

// ---------------------------------------------------------------- per-file state
/** file (absolute) -> record */
const files = new Map();
const order = []; // files in the order they were queued
let current = null; // the file whose tests are being reported
const allFailures = [];
const totals = { pass: 0, fail: 0, cancelled: 0, skipped: 0, todo: 0 };
const summaryDiag = {}; // node's closing diagnostics: "tests 7", "pass 3", ...
let started = Date.now();
let finishedFiles = 0;

function fileOf(data) {
  const f = data.entryFile ?? data.file;
  return f ? path.resolve(f) : undefined;
}

function rec(file) {
  let r = files.get(file);
  if (!r) {
    r = { file, t0: Date.now(), pass: 0, fail: 0, cancelled: 0, skipped: 0, todo: 0, failures: [], output: [], outputLines: 0, names: [], last: null, completedMs: undefined, done: false };
    files.set(file, r);
  }
  return r;
}

function isFileTest(data, file) {
  return data.nesting === 0 && !!file && typeof data.name === 'string' && path.resolve(data.name) === file;
}

function countsText(r) {
  const parts = [];
  parts.push(r.fail ? `${r.pass} passed` : green(`${r.pass} passed`));
  if (r.fail) parts.push(red(`${r.fail} failed`));
  if (r.cancelled) parts.push(red(`${r.cancelled} cancelled`));
  if (r.skipped) parts.push(yellow(`${r.skipped} skipped`));
  if (r.todo) parts.push(yellow(`${r.todo} todo`));
  return parts.join(', ');
}

function finish(r) {
  if (!r || r.done) return '';
  r.done = true;
  if (current === r) current = null;
  finishedFiles++;
  const bad = r.fail > 0 || r.cancelled > 0 || r.failures.length > 0;
  const ms = r.completedMs ?? Date.now() - r.t0;
  const n = order.length ? `[${String(finishedFiles).padStart(String(order.length).length)}/${order.length}] ` : '';
  const width = Math.min(60, Math.max(0, ...order.map((f) => rel(f).length)));
  let out = `${dim(n)}${bad ? red(bold('FAIL')) : green('ok  ')} ${rel(r.file).padEnd(width)}  ${countsText(r)}  ${dim(dur(ms))}\n`;
  for (const f of r.failures) {
    out += `\n  ${red('✖')} ${bold(f.title)} ${dim(`(${dur(f.ms)})`)}\n`;
    out += indent(f.error, '      ') + '\n';
    if (f.diagnostics.length) {
      out += `    ${dim('diagnostics:')}\n${indent(clip(f.diagnostics.join('\n'), MAX_DIAG_LINES, 'diagnostics'), '      ')}\n`;
    }
  }
  if (bad && r.output.length) {
    const shown = r.output.slice(-MAX_OUTPUT_LINES);
    const where = TAP_FILE ? `; all of it in ${rel(TAP_FILE)}` : '';
    const what = r.outputLines > shown.length ? `last ${shown.length} of ${r.outputLines} lines${where}` : `${r.outputLines} line${r.outputLines === 1 ? '' : 's'}`;
    out += `\n  ${dim(`output of ${rel(r.file)} (stdout and stderr of the test process, ${what}):`)}\n${indent(shown.join('\n'), '    ')}\n`;
  }
  if (r.failures.length || (bad && r.output.length)) out += '\n';
  return out;
}

function onResult(type, data) {
  const file = fileOf(data);
  const r = file ? rec(file) : null;
  let out = '';
  if (r && current !== r) {
    // files run one at a time (--test-concurrency=1): a result from another file means the
    // previous one is over
    out = finish(current);
    current = r;
  }
  const nesting = data.nesting ?? 0;
  const details = data.details ?? {};
  const isSuite = details.type === 'suite';
  if (r) r.names.length = nesting; // names of the enclosing tests, from test:start
  const title = r ? [...r.names, data.name].join(' › ') : data.name;
  const record = { title, nesting, line: data.line, column: data.column, ms: details.duration_ms, error: '', diagnostics: [] };
  if (r) r.last = { nesting, record: type === 'test:fail' ? record : null, line: data.line, column: data.column };
  if (isSuite) {
    // a suite fails because something in it failed (reported on its own), or in a hook
    if (type === 'test:fail' && details.error?.failureType !== 'subtestsFailed') {
      record.error = errorText(details.error);
      r?.failures.push(record);
      allFailures.push({ file, title });
    }
    return out;
  }
  let kind;
  if (data.todo !== undefined) kind = 'todo';
  else if (data.skip !== undefined) kind = 'skipped';
  else if (type === 'test:pass') kind = 'pass';
  // node counts these two as "cancelled", not "failed"
  else if (['cancelledByParent', 'testTimeoutFailure'].includes(details.error?.failureType)) kind = 'cancelled';
  else kind = 'fail';
  totals[kind]++;
  if (r) r[kind]++;
  if (type === 'test:fail' && kind !== 'todo') {
    // a test that failed only because subtests did: those are shown on their own
    if (details.error?.failureType === 'subtestsFailed') return out;
    record.error = errorText(details.error);
    if (isFileTest(data, file)) {
      const e = details.error ?? {};
      record.title = `${rel(file)} (the test process itself failed: see its output below)`;
      if (e.exitCode || e.signal) record.error = `the test process ended with ${e.signal ? `signal ${e.signal}` : `exit code ${e.exitCode}`}`;
    }
    r?.failures.push(record);
    allFailures.push({ file, title: record.title });
  }
  return out;
}

export default async function* qsfsReporter(source) {
  started = Date.now();
  for await (const ev of source) {
    const data = ev.data ?? {};
    const file = fileOf(data);
    switch (ev.type) {
      case 'test:enqueue':
        if (isFileTest(data, file) && !order.includes(file)) order.push(file);
        break;
      case 'test:dequeue':
        if (isFileTest(data, file)) {
          const r = rec(file);
          r.t0 = Date.now();
          if (current && current !== r) {
            const text = finish(current);
            if (text) yield text;
          }
          current = r;
        }
        break;
      case 'test:start':
        // names of the enclosing suites and tests, for the titles of failures
        if (file && !isFileTest(data, file)) rec(file).names[data.nesting ?? 0] = data.name;
        break;
      case 'test:pass':
      case 'test:fail': {
        const text = onResult(ev.type, data);
        if (text) yield text;
        break;
      }
      case 'test:complete':
        // the test file's own test: its time (node 20 reports it before a failure of the file)
        if (isFileTest(data, file)) rec(file).completedMs = data.details?.duration_ms;
        break;
      case 'test:diagnostic': {
        if (!file) {
          const m = /^(\w+) ([\d.]+)$/.exec(String(data.message));
          if (m) summaryDiag[m[1]] = Number(m[2]);
          break;
        }
        const r = rec(file);
        const last = r.last;
        if (last && last.record && last.nesting === (data.nesting ?? 0) && (data.line === undefined || last.line === undefined || (data.line === last.line && data.column === last.column))) {
          last.record.diagnostics.push(String(data.message));
        }
        break;
      }
      case 'test:stdout':
      case 'test:stderr': {
        const msg = String(data.message ?? '');
        if (!file) {
          yield msg;
          break;
        }
        const r = rec(file);
        for (const line of msg.replace(/\n$/, '').split('\n')) {
          r.output.push(line);
          r.outputLines++;
        }
        if (r.output.length > KEEP_OUTPUT_LINES) r.output.splice(0, r.output.length - KEEP_OUTPUT_LINES);
        break;
      }
      case 'test:plan':
        // node's closing plan (no file): every file is over
        if (!file && data.nesting === 0) {
          for (const r of files.values()) {
            const text = finish(r);
            if (text) yield text;
          }
        }
        break;
      default:
        break;
    }
  }
  for (const r of files.values()) {
    const text = finish(r);
    if (text) yield text;
  }
  yield closing();
}

function closing() {
  const n = (k, own) => (summaryDiag[k] !== undefined ? summaryDiag[k] : own);
  const pass = n('pass', totals.pass);
  const fail = n('fail', totals.fail);
  const cancelled = n('cancelled', totals.cancelled);
  const skipped = n('skipped', totals.skipped);
  const todo = n('todo', totals.todo);
  const tests = n('tests', pass + fail + cancelled + skipped + todo);
  const ms = n('duration_ms', Date.now() - started);
  let out = '\n';
  if (allFailures.length) {
    out += red(bold(`failed (${allFailures.length}):`)) + '\n';
    for (const f of allFailures) out += `  ${red('✖')} ${rel(f.file)}: ${f.title}\n`;
    out += '\n';
  }
  const parts = [`${pass} passed`, `${fail} failed`];
  if (cancelled) parts.push(`${cancelled} cancelled`);
  if (skipped) parts.push(`${skipped} skipped`);
  if (todo) parts.push(`${todo} todo`);
  const line = `${tests} tests in ${files.size} files: ${parts.join(', ')}, in ${dur(ms)}`;
  out += (fail || cancelled ? red(bold(line)) : green(bold(line))) + '\n';
  return out;
}
