// Tar archives made in memory for tests (layers, cp bodies, build contexts), with tar-stream.
import * as tarStream from 'tar-stream';

export interface TarEntry {
  name: string;
  /** 'link' is a hard link to `linkname`. */
  type?: 'file' | 'directory' | 'symlink' | 'link';
  body?: string | Buffer;
  mode?: number;
  linkname?: string;
  mtime?: Date;
}

/** The archive of `entries`, in order; files default to mode 0644, directories and links to 0755, times to the epoch. */
export function tarOf(entries: TarEntry[]): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    pack.on('data', (c: unknown) => { chunks.push(c as Buffer); });
    pack.on('end', () => resolve(Buffer.concat(chunks)));
    pack.on('error', reject);
  });
  for (const e of entries) {
    const type = e.type ?? 'file';
    const mtime = e.mtime ?? new Date(0);
    if (type === 'file') pack.entry({ name: e.name, mode: e.mode ?? 0o644, mtime }, e.body ?? '');
    else pack.entry({ name: e.name, type, mode: e.mode ?? 0o755, linkname: e.linkname, mtime });
  }
  pack.finalize();
  return done;
}
