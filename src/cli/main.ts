// `qsfs BUCKET[:/prefix] MOUNTPOINT [options]`: parse, then mount in the foreground (-f) or hand
// over to a background daemon that reports back once the mount is live.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError, parseArgs } from './parse-args.js';
import { isDaemonChild, launchInBackground, reportToLauncher } from './background.js';
import { StartupError, startMount } from '../mount/start.js';
import { mountFiles } from '../log.js';
import { readStatus } from '../mount/status-socket.js';

export const EXIT_USAGE = 2;
export const EXIT_STARTUP = 1;

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')) as { version: string };
  return pkg.version;
}

export async function main(argv: string[], entryScript: string): Promise<number | 'running'> {
  if (argv[0] === '--status') return printStatus(argv.slice(1));
  let parsed;
  try {
    parsed = parseArgs(argv, packageVersion());
  } catch (err) {
    if (err instanceof UsageError) {
      fail(err.message);
      return EXIT_USAGE;
    }
    throw err;
  }
  if (parsed.kind === 'help') {
    process.stdout.write(`${parsed.text}\n`);
    return 0;
  }
  if (parsed.kind === 'version') {
    process.stdout.write(`${parsed.text} (Node ${process.version}, libfuse ${await libfuseVersionText()})\n`);
    return 0;
  }
  const options = parsed.options;
  if (!options.foreground && !isDaemonChild()) {
    const fuseDebug = options.fusedbg ? { file: mountFiles(options.logdir, options.mountpoint).fuseDebug, append: options.keeplogdir } : undefined;
    return launchInBackground(entryScript, argv, fuseDebug);
  }
  try {
    await startMount(options);
  } catch (err) {
    const message = err instanceof StartupError ? err.message : `unexpected error: ${err instanceof Error ? err.stack ?? err.message : String(err)}`;
    fail(message);
    return EXIT_STARTUP;
  }
  reportToLauncher({ ok: true });
  return 'running';
}

/** `qsfs --status MOUNTPOINT`: the running daemon's report, printed once. */
async function printStatus(args: string[]): Promise<number> {
  if (args.length !== 1 || args[0] === '') {
    process.stderr.write('qsfs: usage: qsfs --status MOUNTPOINT\n');
    return EXIT_USAGE;
  }
  try {
    process.stdout.write(`${await readStatus(path.resolve(args[0] as string))}\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`qsfs: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT_STARTUP;
  }
}

/** The libfuse the addon runs against; loading the addon may fail where it is not built. */
async function libfuseVersionText(): Promise<string> {
  try {
    const { libfuseVersion } = await import('../mount/fuse-binding.js');
    return libfuseVersion();
  } catch (err) {
    return `unknown: ${err instanceof Error ? err.message : String(err)}`;
  }
}

function fail(message: string): void {
  if (isDaemonChild()) reportToLauncher({ ok: false, message });
  else process.stderr.write(`qsfs: ${message}\n`);
}
