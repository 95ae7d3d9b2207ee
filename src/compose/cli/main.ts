// dray compose: the entry of the compose bundle (dist/dray-compose.js, loaded by
// src/cli/commands/compose.ts only when `dray compose` runs). Looks up the subcommand, parses its
// flags with Docker's grammar, runs it, and prints errors as Docker Compose does.
import type { Ctx } from '../../cli/command';
import { StatusError } from '../../cli/command';
import { parseFlags, FlagError, FlagValues, formatFlagHelp } from '../../cli/flags';
import { ComposeError } from '../errors';
import { ComposeContext, ComposeCommand } from './context';
import * as up from './up';
import * as life from './lifecycle';
import * as info from './info';
import * as imgs from './images';
import * as inter from './interactive';
import { config } from './config';
import { watch } from './watch';

export const COMMANDS: Record<string, ComposeCommand> = {
  build: imgs.build,
  config,
  cp: inter.cp,
  create: up.create,
  down: life.down,
  events: info.events,
  exec: inter.exec,
  images: info.images,
  kill: life.kill,
  logs: imgs.logs,
  ls: info.ls,
  pause: life.pause,
  port: info.port,
  ps: info.ps,
  pull: imgs.pull,
  push: imgs.push,
  restart: life.restart,
  rm: life.rm,
  run: inter.run,
  start: life.start,
  stop: life.stop,
  top: info.top,
  unpause: life.unpause,
  up: up.up,
  version: info.version,
  wait: life.wait,
  watch,
  attach: inter.attach,
  stats: info.stats,
  scale: up.scale,
};

export function commandList(): string {
  return Object.keys(COMMANDS).sort().map((k) => `  ${k.padEnd(11)} ${COMMANDS[k].description}`).join('\n');
}

function help(name: string, c: ComposeCommand): string {
  return `Usage:  dray compose ${name} ${c.usage}\n\n${c.description}\n\nOptions:\n${formatFlagHelp(c.flags)}\n`;
}

/** Runs `dray compose [global flags] COMMAND …`; returns the exit status. */
export async function main(ctx: Ctx, globals: FlagValues, argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const cmd = name ? COMMANDS[name] : undefined;
  if (!cmd) {
    if (!name) { process.stdout.write(`Usage:  dray compose [OPTIONS] COMMAND\n\nDefine and run multi-container applications with Docker\n\nCommands:\n${commandList()}\n\nRun 'dray compose COMMAND --help' for more information on a command.\n`); return 0; }
    process.stderr.write(`unknown docker command: "compose ${name}"\n`);
    return 1;
  }
  let parsed;
  try { parsed = parseFlags(rest, cmd.flags, { interspersed: cmd.interspersed }); } catch (e) {
    if (e instanceof FlagError) { process.stderr.write(`${e.message}\n`); return 1; }
    throw e;
  }
  if (parsed.help) { process.stdout.write(help(name, cmd)); return 0; }
  const a = cmd.args;
  if (a?.min !== undefined && parsed.args.length < a.min) { process.stderr.write(`'dray compose ${name}' requires at least ${a.min} argument${a.min === 1 ? '' : 's'}\n\n${help(name, cmd)}`); return 1; }
  if (a?.max !== undefined && parsed.args.length > a.max) { process.stderr.write(`'dray compose ${name}' requires at most ${a.max} argument${a.max === 1 ? '' : 's'}\n\n${help(name, cmd)}`); return 1; }
  const cc = new ComposeContext(ctx, globals);
  try {
    const code = await cmd.run(cc, parsed.values, parsed.args, parsed.changed);
    return typeof code === 'number' ? code : 0;
  } catch (e: any) {
    if (e instanceof ComposeError) { process.stderr.write(`${e.message}\n`); return e.status; }
    if (e instanceof StatusError) { if (e.message) process.stderr.write(`${e.message}\n`); return e.status; }
    if (e?.name === 'ApiError') { process.stderr.write(`Error response from daemon: ${e.message}\n`); return 1; }
    if (e?.name === 'ConnectionError') { process.stderr.write(`${e.message}\n`); return 1; }
    process.stderr.write(`${process.env.DRAY_DEBUG ? e?.stack ?? e : e?.message ?? e}\n`);
    return 1;
  }
}
