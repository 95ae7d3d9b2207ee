// Reading a big file through fresh buffers costs more in page faults than in reading: here a
// 50 MB build context took 170 ms through createReadStream's new 1 MiB buffers (each page
// touched for the first time faults, ~10 µs in a VM) and 11 ms through one reused buffer. A
// recycled reader reads into a few buffers that come back once the socket has written them.
//
// The hand-back is by identity: a consumer that writes a chunk to a socket or a file calls
// `recycleAfterWrite(chunk)` as its write's callback (recyclingWriteStream does it for a file).
// Only a buffer this module lent, written whole, comes back; one that was copied or sliced on its
// way is never returned (it is garbage-collected as any buffer), so no buffer is reused while
// anything may still read it.
import { Readable } from 'node:stream';
import { constants, promises as fsp, WriteStream } from 'node:fs';

const lent = new WeakMap<Buffer, Buffer[]>();

/** Gives `chunk` back to the reader that lent it, if it is one of those: call once it is written. */
export function recycleAfterWrite(chunk: Buffer): void {
  const free = lent.get(chunk);
  if (!free) return;
  lent.delete(chunk);
  free.push(chunk);
}

/**
 * `size` bytes of the regular file at `file`, as chunks of `chunkBytes` (the last one shorter, in
 * a buffer of its own that is never lent). The caller found it a regular file by lstat: a symlink
 * in its place by the time it is opened is not followed (ELOOP), and a file that changed size
 * while read is an error, as tar's "file changed as we read it".
 */
export function recycledFileStream(file: string, size: number, chunkBytes = 1 << 20, onOpenError?: (e: NodeJS.ErrnoException) => Error): Readable {
  const free: Buffer[] = [];
  let fh: fsp.FileHandle | undefined;
  let pos = 0;
  return new Readable({
    highWaterMark: 2,
    objectMode: true,
    async read() {
      try {
        fh ??= await fsp.open(file, constants.O_RDONLY | constants.O_NOFOLLOW).catch((e) => { throw onOpenError ? onOpenError(e) : e; });
        if (pos >= size) {
          const { bytesRead } = await fh.read(Buffer.allocUnsafe(1), 0, 1, pos);
          if (bytesRead) throw new Error(`${file}: file changed as we read it`);
          this.push(null);
          return;
        }
        const want = Math.min(chunkBytes, size - pos);
        const buf = want === chunkBytes ? (free.pop() ?? Buffer.allocUnsafeSlow(chunkBytes)) : Buffer.allocUnsafe(want);
        let got = 0;
        while (got < want) {
          const { bytesRead } = await fh.read(buf, got, want - got, pos + got);
          if (!bytesRead) throw new Error(`${file}: file changed as we read it`);
          got += bytesRead;
        }
        pos += want;
        if (want === chunkBytes) lent.set(buf, free);
        this.push(buf);
      } catch (e) {
        this.destroy(e as Error);
      }
    },
    destroy(err, cb) {
      const h = fh;
      fh = undefined;
      if (!h) { cb(err); return; }
      h.close().then(() => cb(err), () => cb(err));
    },
  });
}

/** fs.WriteStream that hands each chunk back (recycleAfterWrite) once it is in the file. */
class RecyclingWriteStream extends WriteStream {
  override _write(chunk: Buffer, encoding: BufferEncoding, cb: (e?: Error | null) => void): void {
    super._write(chunk, encoding, (e?: Error | null) => { recycleAfterWrite(chunk); cb(e); });
  }

  override _writev(chunks: { chunk: Buffer; encoding: BufferEncoding }[], cb: (e?: Error | null) => void): void {
    super._writev!(chunks, (e?: Error | null) => { for (const c of chunks) recycleAfterWrite(c.chunk); cb(e); });
  }
}

/** createWriteStream, for a writer whose chunks may come from recycledFileStream. */
export function recyclingWriteStream(file: string, opts: { flags?: string; highWaterMark?: number }): WriteStream {
  return new (RecyclingWriteStream as unknown as new (f: string, o: object) => WriteStream)(file, opts);
}
