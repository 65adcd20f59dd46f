// CPU time and peak memory of a daemon, from /proc. Peak RSS (VmHWM) is reset per workload
// through /proc/PID/clear_refs, so each workload reports its own peak.
import { promises as fsp } from 'node:fs';

const CLOCK_TICKS = 100; // USER_HZ on Linux

export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await fsp.readFile(`/proc/${pid}/stat`, 'utf8');
  // fields after the command name (which may contain spaces) start after the last ')'
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / CLOCK_TICKS;
}

export async function peakRssBytes(pid: number): Promise<number> {
  const status = await fsp.readFile(`/proc/${pid}/status`, 'utf8');
  const m = /VmHWM:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) * 1024 : 0;
}

export async function resetPeakRss(pid: number): Promise<void> {
  await fsp.writeFile(`/proc/${pid}/clear_refs`, '5').catch(() => undefined);
}

/** Alive and not a zombie (a daemon whose parent is gone may never be reaped in a container). */
export async function isRunning(pid: number): Promise<boolean> {
  const stat = await fsp.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  if (stat === '') return false;
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== 'Z' && state !== 'X';
}
