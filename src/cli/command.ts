// What a command is, the context it runs in, and the errors that decide exit codes and messages.
import type { DockerClient } from '../client';
import type { FlagDef, FlagValues } from './flags';

export interface ArgsRule { min?: number; max?: number; exact?: number }

export interface Command {
  /** Usage after the command path: "[OPTIONS] CONTAINER [CONTAINER...]". */
  usage: string;
  description: string;
  aliases?: string[];
  flags: FlagDef[];
  /** false for run/create/exec: the first positional ends the flags. */
  interspersed?: boolean;
  args?: ArgsRule;
  /** Exit status for daemon errors (125 for run/create). */
  errorStatus?: number;
  run(ctx: Ctx, flags: FlagValues, args: string[], changed: Set<string>): Promise<number | void>;
}

export interface Ctx {
  /** The client, created on first use (commands that need no daemon never connect). */
  client(): DockerClient;
  /** "dray run", "dray container ls": as invoked, for messages. */
  path: string;
  /** The daemon address as given (for daemon start/stop). */
  hostFlag?: string;
  globals: Record<string, any>;
  out: NodeJS.WriteStream;
  err: NodeJS.WriteStream;
}

/** Exit with `status`, printing `message` (if any) on stderr. */
export class StatusError extends Error {
  constructor(readonly status: number, message = '') { super(message); }
}

/** Wrong number of arguments: Docker prints usage and exits 1. */
export class UsageError extends Error {}

export const out = (s: string) => process.stdout.write(s);
export const err = (s: string) => process.stderr.write(s);
