// One health probe: `<runtime> exec` of a prepared process in a running container, with no conmon
// in between (a probe needs neither a log, nor attach, nor to outlive drayd: one process per probe
// instead of three). Its stdout and stderr are kept up to a limit; a probe that outlives its
// timeout is killed with its whole process group, so nothing it started lingers.
//
// The runtime's own errors (no such executable, the container went away) go to a log file of their
// own (--log, JSON lines), which tells them apart from what the probe printed.
//
// The runtime runs under `tini -s` (a child subreaper), which reaps whatever the runtime leaves:
// a probe caught by the container's exit while crun is still setting it up is killed, and crun
// then exits without reaping it. Left to the host's init, that zombie holds the dying container's
// PID namespace, and so its exit, until init gets round to it: 1.4 s on this VM, never under a
// PID 1 that does not reap (drayd itself in a container). Without tini the runtime runs alone.
import { existsSync, promises as fsp, readFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { spawnChild, Child } from '../lib/spawn';

export interface ProbeSpec {
  runtimePath: string;
  containerId: string;
  /** The OCI process object (JSON), written once per container start. */
  processFile: string;
  /** Where the runtime writes the probe's pid; reused from probe to probe. */
  pidFile: string;
  /** The runtime's error log; reused, emptied after a probe that wrote to it. */
  logFile: string;
  timeoutMs: number;
  maxOutput: number;
}

export interface ProbeOutcome {
  exitCode: number;
  output: string;
  truncated: boolean;
  timedOut: boolean;
  /** Set when the runtime could not run the process at all (its own error message). */
  runtimeError?: string;
}

export interface RunningProbe {
  done: Promise<ProbeOutcome>;
  /** Kills the probe now (the container stopped, drayd shuts down). */
  cancel(): void;
}

/** How long a runtime may take to exit once its process was killed, before it is killed too. */
const RUNTIME_GRACE_MS = 2000;
/** How long the output pipes may stay open after the runtime exited (a process the probe left in the background holds them). */
const DRAIN_MS = 100;

const SUBREAPER = ['/usr/bin/tini-static', '/usr/bin/tini'].find((f) => existsSync(f));

export function runProbe(spec: ProbeSpec): RunningProbe {
  const args = [`--log=${spec.logFile}`, '--log-format=json', 'exec', '--process', spec.processFile, '--pid-file', spec.pidFile, spec.containerId];
  // A session of its own: the runtime's process group is never drayd's.
  const child = SUBREAPER
    ? spawnChild(SUBREAPER, ['-s', '--', spec.runtimePath, ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    : spawnChild(spec.runtimePath, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  /** The runtime's pid: tini's child, or the child itself. */
  const runtimePid = (): number | undefined => (SUBREAPER && child.pid ? childrenOf(child.pid)[0] : child.pid);
  const chunks: Buffer[] = [];
  let kept = 0;
  let truncated = false;
  const collect = (b: Buffer) => {
    const room = spec.maxOutput - kept;
    if (room > 0) { const part = b.length > room ? b.subarray(0, room) : b; chunks.push(part); kept += part.length; }
    if (b.length > room) truncated = true;
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  child.stdout?.on('error', () => {});
  child.stderr?.on('error', () => {});
  let timedOut = false;
  let killed = false;
  let exited = false;
  const kill = () => {
    if (killed || exited) return;
    killed = true;
    const rt = runtimePid();
    killProbe(child, rt, spec.pidFile);
    // The runtime, not tini: tini would die of it and leave the runtime running.
    const last = setTimeout(() => { if (rt && rt !== child.pid) { try { process.kill(rt, 'SIGKILL'); } catch { /* gone */ } } child.kill('SIGKILL'); }, RUNTIME_GRACE_MS);
    last.unref();
    child.once('exit', () => clearTimeout(last));
  };
  const timer = setTimeout(() => { timedOut = true; kill(); }, spec.timeoutMs);
  const done = new Promise<ProbeOutcome>((resolve) => {
    let spawnError: string | undefined;
    child.once('error', (e: Error) => { spawnError = e.message; });
    child.once('exit', (code: number | null, signal: string | null) => {
      exited = true;
      clearTimeout(timer);
      const finish = async () => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        const exitCode = code ?? (signal ? 128 + signalNumber(signal) : -1);
        let runtimeError = spawnError;
        if (!runtimeError && exitCode !== 0) runtimeError = await takeRuntimeError(spec.logFile);
        resolve({ exitCode, output: Buffer.concat(chunks).toString('utf8'), truncated, timedOut, runtimeError });
      };
      // Output still in the pipes arrives after the exit; a background process may hold them open.
      let pending = [child.stdout, child.stderr].filter((s) => s && !s.destroyed).length;
      if (pending === 0) { void finish(); return; }
      const drain = setTimeout(() => void finish(), DRAIN_MS);
      const closed = () => { if (--pending === 0) { clearTimeout(drain); void finish(); } };
      child.stdout?.once('close', closed);
      child.stderr?.once('close', closed);
    });
  });
  return { done, cancel: kill };
}

/**
 * Kills the probe's process group (the runtime puts the process in a session of its own), or the
 * process alone where it shares the runtime's group. The pid file is trusted only if that process
 * is the runtime's child: the file is reused, and an old pid may belong to anyone by now. Without
 * a pid yet, the runtime itself is killed before it starts anything.
 */
function killProbe(child: Child, runtimePid: number | undefined, pidFile: string): void {
  const target = runtimePid ? probeProcess(runtimePid, pidFile) : undefined;
  if (!target) {
    if (runtimePid && runtimePid !== child.pid) { try { process.kill(runtimePid, 'SIGKILL'); } catch { /* gone */ } }
    child.kill('SIGKILL');
    return;
  }
  try {
    if (target.pgrp > 1 && target.pgrp !== runtimePid && target.pgrp !== process.pid) process.kill(-target.pgrp, 'SIGKILL');
    else process.kill(target.pid, 'SIGKILL');
  } catch { /* already gone */ }
}

/** The runtime's child process and its process group: from /proc, else from the pid file. */
function probeProcess(runtimePid: number, pidFile: string): { pid: number; pgrp: number } | undefined {
  let pid = childrenOf(runtimePid)[0] ?? 0;
  if (!pid) try { pid = Number(readFileSync(pidFile, 'utf8').trim()); } catch { /* not written yet */ }
  if (!pid) return undefined;
  const st = procStat(pid);
  if (!st || st.ppid !== runtimePid) return undefined;
  return { pid, pgrp: st.pgrp };
}

/** A process's children, from /proc (empty when it is gone, or on a kernel without the file). */
function childrenOf(pid: number): number[] {
  try { return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number); } catch { return []; }
}

function procStat(pid: number): { ppid: number; pgrp: number } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses: the fields start after the last ")".
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(f[1]), pgrp: Number(f[2]) };
  } catch {
    return undefined;
  }
}

/** The runtime's last error message from its JSON log, which is emptied for the next probe. */
async function takeRuntimeError(file: string): Promise<string | undefined> {
  let text: string;
  try { text = await fsp.readFile(file, 'utf8'); } catch { return undefined; }
  if (!text.trim()) return undefined;
  await fsp.truncate(file, 0).catch(() => {});
  const lines = text.trim().split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    try {
      const m = JSON.parse(lines[i]) as { msg?: string; level?: string };
      if (m.msg && (m.level === 'error' || m.level === 'fatal' || !m.level)) return m.msg;
    } catch { return lines[i]; }
  }
  return undefined;
}

function signalNumber(s: string): number { return (osConstants.signals as Record<string, number>)[s] ?? 0; }
