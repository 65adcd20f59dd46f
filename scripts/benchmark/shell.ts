// Child processes for the benchmark: every access to a mount happens in one.
import { spawn } from 'node:child_process';

export interface Ran {
  seconds: number;
  stdout: string;
}

export function exec(command: string, args: string[], env?: NodeJS.ProcessEnv): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = (performance.now() - started) / 1000;
      if (code === 0) resolve({ seconds, stdout });
      else reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${stderr.trim().slice(0, 500)}`));
    });
  });
}

/** A bash script, timed. */
export function bash(script: string, env?: NodeJS.ProcessEnv): Promise<Ran> {
  return exec('bash', ['-euo', 'pipefail', '-c', script], env);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Runs a command that daemonizes: its daemon may keep inherited pipes open forever, so the
 *  command gets no pipes and we wait only for its own exit. */
export function launchDaemon(command: string, args: string[], env?: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: 'ignore', env: env ?? process.env });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${command} exited ${code}`))));
  });
}
