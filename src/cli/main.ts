// `qsfs BUCKET[:/prefix] MOUNTPOINT [options]`: parse, then mount in the foreground (-f) or hand
// over to a background daemon that reports back once the mount is live.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError, parseArgs } from './parse-args.js';
import { isDaemonChild, launchInBackground, reportToLauncher } from './background.js';
import { StartupError, startMount } from '../mount/start.js';
import { FUSE_DEBUG_LOG } from '../log.js';

export const EXIT_USAGE = 2;
export const EXIT_STARTUP = 1;

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')) as { version: string };
  return pkg.version;
}

export async function main(argv: string[], entryScript: string): Promise<number | 'running'> {
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
  if (parsed.kind === 'help' || parsed.kind === 'version') {
    process.stdout.write(`${parsed.text}\n`);
    return 0;
  }
  const options = parsed.options;
  if (!options.foreground && !isDaemonChild()) {
    const fuseDebug = options.fusedbg ? { file: path.join(options.logdir, FUSE_DEBUG_LOG), append: options.keeplogdir } : undefined;
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

function fail(message: string): void {
  if (isDaemonChild()) reportToLauncher({ ok: false, message });
  else process.stderr.write(`qsfs: ${message}\n`);
}
