// GNU tar on the client's side (dray cp, dray build --output): it makes and unpacks local archives
// as docker's CLI does with its own tar code (owners, links, special files, names of any length).
import type { Readable } from 'node:stream';
import { spawnChild } from '../lib/spawn';
import { StatusError } from './command';

/**
 * GNU tar with `input` (if any) streamed into it; `output` is its stdout. `done` resolves with
 * the bytes fed in once tar exits 0, and fails with tar's own message otherwise.
 */
export function streamTar(args: string[], input?: Readable): { output: Readable; done: Promise<number> } {
  const child = spawnChild('tar', args, { stdio: [input ? 'pipe' : 'ignore', input ? 'ignore' : 'pipe', 'pipe'] });
  let err = '';
  let fed = 0;
  child.stderr!.on('data', (b: Buffer) => { err += b; });
  if (input) {
    input.on('data', (b: Buffer) => { fed += b.length; });
    // A source that fails mid-way (a dropped connection) ends tar's input: tar then says what it lacks.
    input.on('error', () => child.stdin!.destroy());
    child.stdin!.on('error', () => { /* tar exited early: its status says why */ });
    input.pipe(child.stdin!);
  }
  const done = new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code: number | null) => (code === 0 ? resolve(fed) : reject(new StatusError(1, err.trim() || `tar exited with ${code}`))));
  });
  return { output: child.stdout!, done };
}
