// Detach keys, as Docker reads them on the input of a TTY attach or exec: a comma-separated list
// of keys ("ctrl-p,ctrl-q", the default; "a,ctrl-@"). Once the whole sequence is typed, the client
// is detached and the container runs on; a sequence broken midway is passed on as it was typed.

export const DEFAULT_DETACH_KEYS = Buffer.from([16, 17]); // ctrl-p, ctrl-q

/** The bytes of a detach-keys string; throws on a key Docker does not know (its wording). */
export function parseDetachKeys(s: string): Buffer {
  const out: number[] = [];
  for (const k of s.split(',')) {
    const m = /^ctrl-(.)$/i.exec(k);
    if (m) {
      const c = m[1].toLowerCase();
      const code = c === '@' ? 0 : c === '[' ? 27 : c === '\\' ? 28 : c === ']' ? 29 : c === '^' ? 30 : c === '_' ? 31 : c.charCodeAt(0) - 96;
      if (code < 0 || code > 31) throw new Error(`Unknown character: '${k}'`);
      out.push(code);
    } else if (k.length === 1) out.push(k.charCodeAt(0));
    else throw new Error(`Unknown character: '${k}'`);
  }
  return Buffer.from(out);
}

/**
 * Watches input for the sequence. push() returns what is to be passed on now (bytes that may
 * begin the sequence are held back until it is clear they do not) and whether the sequence is
 * complete; what follows it in the chunk is dropped, as the client is gone.
 */
export class DetachWatcher {
  private matched = 0;
  constructor(private readonly keys: Buffer) {}

  push(chunk: Buffer): { data: Buffer; detach: boolean } {
    if (!this.keys.length) return { data: chunk, detach: false };
    const out: number[] = [];
    for (const b of chunk) {
      if (b !== this.keys[this.matched] && this.matched > 0) {
        // Broken: the held bytes go on as typed, and this byte may start the sequence anew.
        for (let i = 0; i < this.matched; i++) out.push(this.keys[i]);
        this.matched = 0;
      }
      if (b === this.keys[this.matched]) {
        this.matched++;
        if (this.matched === this.keys.length) return { data: Buffer.from(out), detach: true };
        continue;
      }
      out.push(b);
    }
    return { data: Buffer.from(out), detach: false };
  }
}
