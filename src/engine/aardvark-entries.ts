// aardvark-dns's records, written the way netavark 1.4 writes them, for endpoints Dray plugs in
// itself (bridge-keeper.ts plugVeth). netavark keeps one file per DNS network in
// <config>/aardvark-dns/<network>: a first line with the gateway, then a line per endpoint,
// "<container id> <IPv4s> <IPv6s> <names>", and SIGHUPs the aardvark-dns whose pid is in
// aardvark.pid to make it read them again. For a container on a network whose bridge and rules
// exist (a keeper holds them), that is all its setup changes besides the veth; its ~25 iptables
// checks cost ~35 ms, the file and the signal well under one.
//
// Only the network's own lock orders writers: its file is written by this module or by netavark
// for that network, both under it; other networks' files are other files.
import { existsSync, promises as fsp, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { writeDerivedFile } from '../lib/atomic';

export interface AardvarkEntry { containerId: string; ipv4: string; ipv6?: string; names: string[] }

/** netavark 1.4's line for an endpoint with no DNS servers of its own. */
export const entryLine = (e: AardvarkEntry): string => `${e.containerId} ${e.ipv4} ${e.ipv6 ?? ''} ${e.names.join(',')}\n`;

export class AardvarkEntries {
  private dir: string;
  /** `configDir`: netavark's --config directory. */
  constructor(private configDir: string) { this.dir = path.join(configDir, 'aardvark-dns'); }

  private file(network: string): string { return path.join(this.dir, network); }

  /** The pid of a live aardvark-dns of this config, if there is one. */
  livePid(): number | undefined {
    let pid: number;
    try { pid = Number(readFileSync(path.join(this.dir, 'aardvark.pid'), 'utf8').trim()); } catch { return undefined; }
    if (!Number.isInteger(pid) || pid <= 1) return undefined;
    // A pid file outlives its process, and the number may be another's now.
    try { return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'aardvark-dns' ? pid : undefined; } catch { return undefined; }
  }

  /** Whether netavark made the network's file (its first endpoint's setup does). */
  has(network: string): boolean { return existsSync(this.file(network)); }

  /** One write with O_APPEND: a reader sees the line whole or not at all. */
  async add(network: string, e: AardvarkEntry): Promise<void> {
    const fh = await fsp.open(this.file(network), 'a');
    try { await fh.write(entryLine(e)); } finally { await fh.close(); }
  }

  /**
   * The network's file without the container's lines, replaced whole (its temp file outside:
   * aardvark reads every file of its directory). False, and nothing written, when the file has
   * none (or there is no file).
   */
  async remove(network: string, containerId: string): Promise<boolean> {
    let text: string;
    try { text = await fsp.readFile(this.file(network), 'utf8'); } catch { return false; }
    const lines = text.split('\n');
    const entries = lines.slice(1).filter((l) => l.trim());
    const kept = entries.filter((l) => l.split(' ')[0] !== containerId);
    if (kept.length === entries.length) return false;
    await writeDerivedFile(this.file(network), [lines[0], ...kept].join('\n') + '\n', 0o644, this.configDir);
    return true;
  }

  /** Makes aardvark-dns read its files again; false when none runs. */
  notify(): boolean {
    const pid = this.livePid();
    if (!pid) return false;
    try { process.kill(pid, 'SIGHUP'); return true; } catch { return false; }
  }
}
