// Runs shell commands in child processes: the tests' way to drive a mount, since a process
// must never do blocking I/O on a FUSE mount it is itself part of.
import { spawn } from 'node:child_process';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} timed out after ${options.timeoutMs} ms\n${stderr}`));
    }, options.timeoutMs ?? 120_000);
    child.on('error', (err) => { clearTimeout(timer); reject(err); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
}

/** Runs a bash script; fails the test (throws) when it exits non-zero. */
export async function sh(script: string, cwd?: string): Promise<string> {
  const r = await run('bash', ['-euo', 'pipefail', '-c', script], { cwd });
  if (r.code !== 0) throw new Error(`script failed (exit ${r.code}): ${script}\n${r.stderr}`);
  return r.stdout;
}

/** Runs a bash script and returns its result whatever the exit code. */
export function shResult(script: string, cwd?: string): Promise<RunResult> {
  return run('bash', ['-uo', 'pipefail', '-c', script], { cwd });
}
