// A push parser for the build context's tar stream. It exists so the daemon can hash every file
// while the request body streams in, instead of writing the tar, unpacking it with GNU tar and
// reading everything back: the fully cached rebuild of a large context is then one pass over the
// bytes. It reads what clients send and GNU tar reads: ustar, GNU (long names and links, base-256
// numbers, old-style "name/" directories) and pax (path, linkpath, size, mtime, uid, gid; global
// headers too), checks header checksums, stops at the first zero block, and accepts the
// docker CLI's unpadded last block (see `end`). Pure: it never touches the file system.
import { invalid } from '../lib/errors';

export type TarKind = 'file' | 'dir' | 'symlink' | 'hardlink' | 'other';

export interface TarHeader {
  /** The member name as written (no normalisation). */
  name: string;
  kind: TarKind;
  /** Permission bits (& 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Modification time in milliseconds, with the archive's sub-millisecond part (pax). */
  mtimeMs: number;
  linkname: string;
}

export interface TarHandler {
  /** A member starts; its data (header.size bytes, for files) starts at stream offset `pos`. */
  entry(h: TarHeader, pos: number): void;
  /** Data of the current file member, in order. */
  data(chunk: Buffer): void;
  /** The current file member's data is complete. */
  endEntry(): void;
}

const BLOCK = 512;
/** Bound on pax and GNU long-name payloads, which are held in memory. */
const MAX_META = 1 << 20;

type State = 'header' | 'data' | 'meta' | 'pad' | 'eof';

export class TarReader {
  private state: State = 'header';
  /** Stream offset of the next byte pushed. */
  private offset = 0;
  private head = Buffer.alloc(BLOCK);
  private headFill = 0;
  private left = 0;
  private padLeft = 0;
  private meta: Buffer[] = [];
  private metaKind = '';
  private metaSize = 0;
  private pax: Record<string, string> = {};
  private globalPax: Record<string, string> = {};
  private longName?: string;
  private longLink?: string;
  private members = 0;

  constructor(private h: TarHandler) {}

  /** Bytes seen so far. */
  get position(): number { return this.offset; }

  push(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      switch (this.state) {
        case 'eof':
          this.offset += chunk.length - i;
          return;
        case 'header': {
          const n = Math.min(BLOCK - this.headFill, chunk.length - i);
          chunk.copy(this.head, this.headFill, i, i + n);
          this.headFill += n;
          i += n;
          this.offset += n;
          if (this.headFill === BLOCK) { this.headFill = 0; this.header(this.head); }
          break;
        }
        case 'data': {
          const n = Math.min(this.left, chunk.length - i);
          this.h.data(chunk.subarray(i, i + n));
          i += n;
          this.offset += n;
          this.left -= n;
          if (this.left === 0) { this.h.endEntry(); this.state = this.padLeft ? 'pad' : 'header'; }
          break;
        }
        case 'meta': {
          const n = Math.min(this.left, chunk.length - i);
          this.meta.push(Buffer.from(chunk.subarray(i, i + n)));
          i += n;
          this.offset += n;
          this.left -= n;
          if (this.left === 0) { this.endMeta(); this.state = this.padLeft ? 'pad' : 'header'; }
          break;
        }
        case 'pad': {
          const n = Math.min(this.padLeft, chunk.length - i);
          i += n;
          this.offset += n;
          this.padLeft -= n;
          if (this.padLeft === 0) this.state = 'header';
          break;
        }
      }
    }
  }

  /**
   * The stream ended. Complete means: at the end-of-archive marker, between members, or in the
   * padding after the last member's data — the docker CLI leaves that padding and the marker out
   * when -f names a Dockerfile outside the context (Docker's reader accepts it; so does this one).
   */
  end(): void {
    if (this.state === 'eof' || this.state === 'pad') return;
    if (this.state === 'header' && this.headFill === 0) {
      if (this.members === 0) throw invalid('failed to read the build context: the archive is empty');
      return;
    }
    throw invalid('failed to read the build context: Unexpected EOF in archive');
  }

  private header(b: Buffer): void {
    if (isZero(b)) { this.state = 'eof'; return; }
    if (!checksumOk(b)) throw invalid(`failed to read the build context: ${this.members ? 'Skipping to next header: a header is corrupt' : 'This does not look like a tar archive'}`);
    const type = String.fromCharCode(b[156] || 0x30);
    const size = num(b, 124, 12);
    if (type === 'x' || type === 'g' || type === 'L' || type === 'K') {
      if (size > MAX_META) throw invalid('failed to read the build context: an extended header is too large');
      this.metaKind = type;
      this.metaSize = size;
      this.meta = [];
      this.startData(size, 'meta');
      if (size === 0) this.endMeta();
      return;
    }
    const ustar = b.toString('latin1', 257, 263) === 'ustar\0';
    let name = cstr(b, 0, 100);
    if (ustar) { const prefix = cstr(b, 345, 155); if (prefix) name = `${prefix}/${name}`; }
    const p = { ...this.globalPax, ...this.pax };
    if (this.longName !== undefined) name = this.longName;
    if (p.path !== undefined) name = p.path;
    let linkname = this.longLink ?? cstr(b, 157, 100);
    if (p.linkpath !== undefined) linkname = p.linkpath;
    let kind: TarKind;
    switch (type) {
      case '0': case '7': kind = name.endsWith('/') ? 'dir' : 'file'; break;
      case '1': kind = 'hardlink'; break;
      case '2': kind = 'symlink'; break;
      case '5': kind = 'dir'; break;
      case '3': case '4': case '6': kind = 'other'; break;
      // GNU tar extracts members of unknown types as regular files.
      default: kind = 'file';
    }
    const hdr: TarHeader = {
      name,
      kind,
      mode: num(b, 100, 8) & 0o7777,
      uid: p.uid !== undefined ? Number(p.uid) : num(b, 108, 8),
      gid: p.gid !== undefined ? Number(p.gid) : num(b, 116, 8),
      size: p.size !== undefined ? Number(p.size) : size,
      mtimeMs: p.mtime !== undefined ? paxTimeMs(p.mtime) : num(b, 136, 12) * 1000,
      linkname,
    };
    if (!Number.isSafeInteger(hdr.size) || hdr.size < 0) throw invalid(`failed to read the build context: ${name}: bad size`);
    this.pax = {};
    this.longName = undefined;
    this.longLink = undefined;
    this.members++;
    // As Go's archive/tar: links, directories and devices have no data whatever their size says.
    const dataSize = hdr.kind === 'file' ? hdr.size : 0;
    this.h.entry(hdr, this.offset);
    if (hdr.kind === 'file') {
      this.startData(dataSize, 'data');
      if (dataSize === 0) this.h.endEntry();
    } else {
      this.left = 0;
      this.padLeft = pad(dataSize) + dataSize;
      this.state = this.padLeft ? 'pad' : 'header';
    }
  }

  private startData(size: number, state: 'data' | 'meta'): void {
    this.left = size;
    this.padLeft = pad(size);
    this.state = size ? state : this.padLeft ? 'pad' : 'header';
  }

  private endMeta(): void {
    const body = Buffer.concat(this.meta, this.metaSize);
    this.meta = [];
    if (this.metaKind === 'L') this.longName = cstr(body, 0, body.length);
    else if (this.metaKind === 'K') this.longLink = cstr(body, 0, body.length);
    else Object.assign(this.metaKind === 'g' ? this.globalPax : this.pax, parsePax(body));
  }
}

const pad = (n: number) => (BLOCK - (n % BLOCK)) % BLOCK;

function isZero(b: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (b[i] !== 0) return false;
  return true;
}

function checksumOk(b: Buffer): boolean {
  const want = num(b, 148, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : b[i];
    unsigned += c;
    signed += c > 127 ? c - 256 : c;
  }
  return want === unsigned || want === signed;
}

/** A NUL-terminated field (names are UTF-8, as Node's file system calls take them). */
function cstr(b: Buffer, off: number, len: number): string {
  let end = off;
  while (end < off + len && b[end] !== 0) end++;
  return b.toString('utf8', off, end);
}

/** Octal (space or NUL terminated), or GNU base-256 when the high bit of the first byte is set. */
function num(b: Buffer, off: number, len: number): number {
  if (b[off] & 0x80) {
    // Two's complement, big-endian, the marker bit aside; negative values only occur in times.
    const negative = (b[off] & 0x40) !== 0;
    let v = 0;
    for (let i = off; i < off + len; i++) {
      const byte = i === off ? b[i] & 0x7f : b[i];
      v = v * 256 + (negative ? (~byte & (i === off ? 0x7f : 0xff)) : byte);
    }
    return negative ? -(v + 1) : v;
  }
  const s = b.toString('latin1', off, off + len).replace(/\0.*$/s, '').trim();
  return s ? parseInt(s, 8) || 0 : 0;
}

/**
 * pax "mtime" ("1700000000.123456789") in milliseconds, computed as Node computes a stat's
 * mtimeMs from seconds and nanoseconds, so that times round exactly as they would after GNU tar
 * had set them on disk.
 */
function paxTimeMs(v: string): number {
  const m = /^(-?)(\d+)(?:\.(\d*))?$/.exec(v.trim());
  if (!m) return 0;
  const ms = Number(m[2]) * 1e3 + Number(((m[3] ?? '') + '000000000').slice(0, 9)) / 1e6;
  return m[1] ? -ms : ms;
}

function parsePax(body: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < body.length) {
    const sp = body.indexOf(0x20, i);
    if (sp < 0) break;
    const len = parseInt(body.toString('latin1', i, sp), 10);
    if (!len || i + len > body.length) break;
    const rec = body.toString('utf8', sp + 1, i + len - 1);
    const eq = rec.indexOf('=');
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    i += len;
  }
  return out;
}
