// Log read-back: a container writes 100 MB (100-byte lines) and exits; time `logs > /dev/null`.
import { newRow } from '../model';
import { Scenario, abRounds, cliOk, removeAllContainers, reps, timed } from '../scenario';
import type { Engine } from '../engines';
import { spawn } from 'node:child_process';
import { DOCKER_CLI, DRAY_CLI, nodeEnv } from '../engines';

const BYTES = 100_000_000;
const LINE = 'x'.repeat(99); // `yes LINE` writes LINE + '\n': 100 bytes a line, 1,000,000 lines

/** Bytes a `logs` command writes to stdout when stdout is a pipe (counted, not kept). */
function countLogs(e: Engine, id: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const [cmd, args, env] = e.side === 'dray'
      ? [DRAY_CLI, ['-H', e.host, 'logs', id], nodeEnv({ DOCKER_HOST: e.host, DRAY_CLI_SOCKET: `${e.root}/run/cli.sock` })]
      : [DOCKER_CLI, ['logs', id], { ...process.env, DOCKER_HOST: e.host, DOCKER_CONFIG: '/tmp/bench-cli/docker-config' }];
    const c = spawn(cmd as string, args as string[], { env: env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'ignore'] });
    let n = 0;
    c.stdout.on('data', (b: Buffer) => { n += b.length; });
    const t = setTimeout(() => c.kill('SIGKILL'), 300_000);
    c.on('error', reject);
    c.on('close', (code) => { clearTimeout(t); code === 0 ? resolve(n) : reject(new Error(`logs exited ${code}`)); });
  });
}

export const logs100mb: Scenario = {
  id: 'logs-100mb',
  title: 'logs of 100 MB of output',
  async run(ctx) {
    const rounds = reps(ctx, 3, 1);
    const row = newRow('logs-100mb', 'logs > /dev/null, 100 MB in 1M lines', 'ms', [{ kind: 'ratio', max: 0.5 }]);
    const write = newRow('logs-100mb-write', '  (info) container writing 100 MB, run -d → exited', 'ms');
    const counted: Record<string, number> = {};
    await abRounds(ctx, [row, write], rounds, async (e) => {
      try {
        const t0 = process.hrtime.bigint();
        const id = (await cliOk(e, ['run', '-d', 'busybox', 'sh', '-c', `yes ${LINE} | head -c ${BYTES}`])).stdout.trim();
        const w = await cliOk(e, ['wait', id], { timeoutMs: 600_000 });
        const writeMs = Number(process.hrtime.bigint() - t0) / 1e6;
        if (w.stdout.trim() !== '0') throw new Error(`writer exited ${w.stdout.trim()}`);
        if (counted[e.side] === undefined) {
          counted[e.side] = await countLogs(e, id); // also the warm-up
          if (counted[e.side] !== BYTES) ctx.log(`  ${e.title}: logs into a pipe gave ${counted[e.side]} bytes, expected ${BYTES}`);
        }
        const ms = await timed(e.cli(['logs', id], { stdout: 'devnull', timeoutMs: 600_000 }), `${e.side} logs`);
        return { [row.id]: ms, [write.id]: writeMs };
      } finally {
        await removeAllContainers(e).catch(() => undefined);
      }
    });
    row.extra = { bytesFromLogs: counted };
    if (Object.values(counted).some((b) => b !== BYTES)) row.note = `bytes from logs into a pipe: ${JSON.stringify(counted)} (expected ${BYTES}; the timed run writes to /dev/null)`;
    return [row, write];
  },
};
