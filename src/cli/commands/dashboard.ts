// dray dashboard (Dray extension): the URL of drayd's web dashboard, with its access token, on the
// first line of stdout, and a browser opened on it where the desktop has one (xdg-open).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import type { Command } from '../command';
import { boolFlag } from '../flags';

function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (!dir) continue;
    const f = path.join(dir, name);
    if (existsSync(f)) return f;
  }
  return undefined;
}

export const dashboard: Command = {
  usage: '[OPTIONS]',
  description: "Open drayd's web dashboard (prints its URL, with the access token, first)",
  flags: [boolFlag('no-open', undefined, 'Only print the URL; do not open a browser')],
  args: { exact: 0 },
  async run(ctx, f) {
    const { URL: url } = await ctx.client().transport.json<{ URL: string }>('GET', '/dray/dashboard');
    process.stdout.write(`${url}\n`);
    if (f['no-open']) return 0;
    // A graphical session only: xdg-open without one may start a text browser on this terminal.
    const opener = findOnPath('xdg-open');
    if (!opener || !(process.env.DISPLAY || process.env.WAYLAND_DISPLAY)) {
      process.stderr.write('No browser to open here (xdg-open and a graphical session are needed): open the URL above yourself. The token in it gives control of containers; keep it to yourself.\n');
      return 0;
    }
    const child = spawn(opener, [url], { detached: true, stdio: 'ignore' });
    child.on('error', (e) => process.stderr.write(`could not start ${opener}: ${e.message}\n`));
    child.unref();
    return 0;
  },
};
