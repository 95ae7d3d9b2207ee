// The S3 driver: driver paths are object keys under an optional prefix in one bucket, for any
// S3-compatible store. S3 has no directories, no rename and no append, so:
// - a directory is any common prefix (stat and list ask ListObjectsV2 with a delimiter);
// - move is CopyObject then DeleteObject (a multipart copy beyond 5 GiB);
// - a writer is a multipart upload completed by close() or commit() (one PutObject when the file is
//   smaller than a part), and appending to an existing object starts a new multipart upload whose
//   first parts copy the old object server-side (UploadPartCopy), or re-send it where the store
//   lacks that call; an object smaller than the minimum part is read back into the first part.
//   Uploads of registry clients arrive in one PATCH almost always, so the copy is rare.
// Blob downloads may be redirected to a presigned GET URL, so the bytes go from S3 to the client.
// Tested against s3rver (npm), which does not check request signatures: signing is the AWS SDK's.
import {
  S3Client, GetObjectCommand, PutObjectCommand, HeadObjectCommand, ListObjectsV2Command,
  CopyObjectCommand, DeleteObjectCommand, DeleteObjectsCommand, CreateMultipartUploadCommand,
  UploadPartCommand, UploadPartCopyCommand, CompleteMultipartUploadCommand, AbortMultipartUploadCommand,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { Readable } from 'node:stream';
import { FileInfo, FileWriter, InvalidOffsetError, PathNotFoundError, StorageDriver, StorageError } from './driver';

const NAME = 's3';
const MIN_PART = 5 << 20;
/** Largest piece of one UploadPartCopy and of one CopyObject. */
const MAX_COPY = 5 * 1024 ** 3;
/** Copy pieces when a multipart copy is needed: a short tail then still fits in the last piece. */
const COPY_PIECE = 4 * 1024 ** 3;

export interface S3Options {
  bucket: string;
  region?: string;
  /** For S3-compatible stores (MinIO, Ceph, s3rver): "http://127.0.0.1:9000". */
  endpoint?: string;
  accessKey?: string;
  secretKey?: string;
  /** bucket in the path rather than the host name; the default when an endpoint is given. */
  forcePathStyle?: boolean;
  /** Key prefix everything is stored under. */
  rootDirectory?: string;
  /** Multipart part size in bytes (≥ 5 MiB; default 10 MiB). */
  chunkSize?: number;
  /** Redirect blob GETs to presigned URLs. */
  redirect?: boolean;
  /** Lifetime of a presigned URL in seconds (default 1200). */
  redirectExpiry?: number;
}

const statusOf = (e: any): number | undefined => e?.$metadata?.httpStatusCode;
const notFoundError = (e: any) => e?.name === 'NoSuchKey' || e?.name === 'NotFound' || statusOf(e) === 404;

export class S3Driver implements StorageDriver {
  readonly name = NAME;
  readonly client: S3Client;
  private prefix: string;
  readonly partSize: number;
  /** Set once the store answered NotImplemented to UploadPartCopy (s3rver does). */
  private noPartCopy = false;

  constructor(readonly opts: S3Options) {
    if (!opts.bucket) throw new StorageError(NAME, 'a bucket is required');
    this.prefix = (opts.rootDirectory ?? '').replace(/^\/+|\/+$/g, '');
    this.partSize = Math.max(MIN_PART, opts.chunkSize ?? 10 << 20);
    this.client = new S3Client({
      region: opts.region ?? 'us-east-1',
      endpoint: opts.endpoint,
      forcePathStyle: opts.forcePathStyle ?? !!opts.endpoint,
      credentials: opts.accessKey ? { accessKeyId: opts.accessKey, secretAccessKey: opts.secretKey ?? '' } : undefined,
      // Checksums only where S3 requires them: the default (CRC32 on every upload, sent as an
      // aws-chunked trailer) is not understood by every S3-compatible store, and every blob is
      // verified against its digest by the registry anyway.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  key(p: string): string { return this.prefix ? `${this.prefix}${p}` : p.slice(1); }
  private pathOf(key: string): string { return this.prefix ? key.slice(this.prefix.length) : `/${key}`; }
  /** The key prefix under which a directory's children lie. */
  private dirPrefix(p: string): string { return p === '/' ? (this.prefix ? `${this.prefix}/` : '') : `${this.key(p)}/`; }

  async getContent(p: string): Promise<Buffer> {
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.opts.bucket, Key: this.key(p) }));
      return Buffer.from(await r.Body!.transformToByteArray());
    } catch (e) {
      if (notFoundError(e)) throw new PathNotFoundError(NAME, p);
      throw e;
    }
  }

  async putContent(p: string, data: Uint8Array | string): Promise<void> {
    const body = typeof data === 'string' ? Buffer.from(data) : data;
    await this.client.send(new PutObjectCommand({ Bucket: this.opts.bucket, Key: this.key(p), Body: body, ContentLength: body.length }));
  }

  async reader(p: string, offset: number): Promise<Readable> {
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.opts.bucket, Key: this.key(p), Range: offset > 0 ? `bytes=${offset}-` : undefined }));
      return r.Body as Readable;
    } catch (e: any) {
      if (notFoundError(e)) throw new PathNotFoundError(NAME, p);
      if (statusOf(e) === 416 || e?.name === 'InvalidRange') {
        // S3 refuses a range that starts at the end; at exactly the end the answer is nothing.
        const st = await this.stat(p);
        if (offset === st.size) return Readable.from([]);
        throw new InvalidOffsetError(NAME, p, offset);
      }
      throw e;
    }
  }

  async writer(p: string, append: boolean): Promise<FileWriter> {
    const w = new S3Writer(this, this.key(p));
    if (!append) return w;
    let size: number;
    try { size = (await this.stat(p)).size; } catch (e) {
      if (e instanceof PathNotFoundError) return w;
      throw e;
    }
    if (size < MIN_PART) {
      await w.write(await this.getContent(p));
      return w;
    }
    await w.carryOver(p, size);
    return w;
  }

  /** The existing object as the first parts of `w`'s upload: copied where the store can. */
  async copyInto(w: S3Writer, p: string, size: number): Promise<void> {
    if (!this.noPartCopy) {
      try {
        for (let start = 0; start < size;) {
          let end = Math.min(size, start + COPY_PIECE);
          if (size - end < MIN_PART) end = size;
          await w.copyPart(`${this.opts.bucket}/${this.key(p)}`, start, end - 1);
          start = end;
        }
        return;
      } catch (e: any) {
        if (e?.name !== 'NotImplemented' && statusOf(e) !== 501) throw e;
        this.noPartCopy = true;
        await w.abortParts();
      }
    }
    for await (const c of await this.reader(p, 0)) await w.write(c as Buffer);
  }

  async stat(p: string): Promise<FileInfo> {
    if (p !== '/') {
      try {
        const h = await this.client.send(new HeadObjectCommand({ Bucket: this.opts.bucket, Key: this.key(p) }));
        return { path: p, size: Number(h.ContentLength ?? 0), modTime: h.LastModified ?? new Date(0), isDir: false };
      } catch (e) {
        if (!notFoundError(e)) throw e;
      }
    }
    const l = await this.client.send(new ListObjectsV2Command({ Bucket: this.opts.bucket, Prefix: this.dirPrefix(p), MaxKeys: 1 }));
    if ((l.KeyCount ?? l.Contents?.length ?? 0) > 0 || p === '/') return { path: p, size: 0, modTime: new Date(0), isDir: true };
    throw new PathNotFoundError(NAME, p);
  }

  /**
   * Direct children, read from a listing without a delimiter: after each child found, the listing
   * jumps past its subtree (StartAfter), so a directory of many deep entries costs about one
   * request per child beyond the first page. (A Delimiter listing would do it in one, but
   * S3-compatible stores differ there; s3rver drops common prefixes more than one level deep.)
   */
  async list(p: string): Promise<string[]> {
    const prefix = this.dirPrefix(p);
    const out: string[] = [];
    let after: string | undefined;
    for (;;) {
      const l = await this.client.send(new ListObjectsV2Command({ Bucket: this.opts.bucket, Prefix: prefix, StartAfter: after, MaxKeys: 1000 }));
      const keys = (l.Contents ?? []).map((o) => o.Key!).filter((k) => k && k !== prefix);
      if (!keys.length) break;
      let last = '';
      for (const k of keys) {
        const rest = k.slice(prefix.length);
        const slash = rest.indexOf('/');
        const child = slash < 0 ? rest : rest.slice(0, slash);
        if (child && child !== last) { out.push(this.pathOf(prefix + child)); last = child; }
      }
      const tail = keys[keys.length - 1].slice(prefix.length);
      // "~" sorts after every character a driver path may hold: past the whole subtree of `last`
      after = tail.includes('/') ? `${prefix}${last}/~` : keys[keys.length - 1];
      if (!l.IsTruncated) break;
    }
    const uniq = [...new Set(out)];
    if (!uniq.length && p !== '/') throw new PathNotFoundError(NAME, p);
    return uniq;
  }

  async move(src: string, dst: string): Promise<void> {
    const st = await this.stat(src);
    if (st.isDir) throw new StorageError(NAME, `move of a directory: ${src}`);
    const source = `${this.opts.bucket}/${this.key(src)}`;
    if (st.size <= MAX_COPY) {
      try {
        await this.client.send(new CopyObjectCommand({ Bucket: this.opts.bucket, Key: this.key(dst), CopySource: source }));
      } catch (e) {
        if (notFoundError(e)) throw new PathNotFoundError(NAME, src);
        throw e;
      }
    } else {
      const w = new S3Writer(this, this.key(dst));
      await this.copyInto(w, src, st.size);
      await w.commit();
    }
    await this.client.send(new DeleteObjectCommand({ Bucket: this.opts.bucket, Key: this.key(src) }));
  }

  async delete(p: string): Promise<void> {
    const keys: string[] = [];
    for await (const f of this.walk(p)) keys.push(this.key(f.path));
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.opts.bucket, Key: this.key(p) }));
      keys.push(this.key(p));
    } catch (e) {
      if (!notFoundError(e)) throw e;
    }
    if (!keys.length) throw new PathNotFoundError(NAME, p);
    for (let i = 0; i < keys.length; i += 1000) {
      const r = await this.client.send(new DeleteObjectsCommand({
        Bucket: this.opts.bucket,
        Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true },
      }));
      const bad = (r.Errors ?? []).filter((x) => x.Code !== 'NoSuchKey');
      if (bad.length) throw new StorageError(NAME, `delete ${p}: ${bad[0].Key}: ${bad[0].Code} ${bad[0].Message ?? ''}`);
    }
  }

  async *walk(p: string): AsyncIterable<FileInfo> {
    const prefix = this.dirPrefix(p);
    let token: string | undefined;
    do {
      const l = await this.client.send(new ListObjectsV2Command({ Bucket: this.opts.bucket, Prefix: prefix, ContinuationToken: token }));
      for (const o of l.Contents ?? []) {
        if (!o.Key || o.Key.endsWith('/')) continue;
        yield { path: this.pathOf(o.Key), size: Number(o.Size ?? 0), modTime: o.LastModified ?? new Date(0), isDir: false };
      }
      token = l.IsTruncated ? l.NextContinuationToken : undefined;
    } while (token);
  }

  async redirectURL(p: string, o: { method: 'GET' | 'HEAD' }): Promise<string | undefined> {
    if (!this.opts.redirect || o.method !== 'GET') return undefined;
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.opts.bucket, Key: this.key(p) }), { expiresIn: this.opts.redirectExpiry ?? 1200 });
  }

  async close(): Promise<void> { this.client.destroy(); }
}

/**
 * One multipart upload, started when the first full part is ready; a file smaller than a part is
 * sent with one PutObject when the writer closes. One part is in flight while the next fills,
 * which keeps the client's data flowing without holding more than two parts in memory.
 */
class S3Writer implements FileWriter {
  size = 0;
  private buf: Buffer[] = [];
  private bufBytes = 0;
  private uploadId?: string;
  private parts: CompletedPart[] = [];
  private inFlight?: Promise<void>;
  private done = false;

  constructor(private d: S3Driver, private key: string) {}

  private get bucket() { return this.d.opts.bucket; }

  async carryOver(p: string, size: number): Promise<void> {
    await this.d.copyInto(this, p, size);
  }

  private async start(): Promise<string> {
    if (!this.uploadId) {
      const r = await this.d.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: this.key }));
      this.uploadId = r.UploadId!;
    }
    return this.uploadId;
  }

  async copyPart(source: string, first: number, last: number): Promise<void> {
    await this.drain();
    const UploadId = await this.start();
    const PartNumber = this.parts.length + 1;
    const r = await this.d.client.send(new UploadPartCopyCommand({ Bucket: this.bucket, Key: this.key, UploadId, PartNumber, CopySource: source, CopySourceRange: `bytes=${first}-${last}` }));
    this.parts.push({ PartNumber, ETag: r.CopyPartResult?.ETag });
    this.size += last - first + 1;
  }

  /** Drops copied parts after a failed copy (the caller re-sends the data). */
  async abortParts(): Promise<void> {
    if (this.uploadId) {
      await this.d.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: this.key, UploadId: this.uploadId })).catch(() => {});
    }
    this.uploadId = undefined;
    this.parts = [];
    this.size = this.bufBytes;
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.done) throw new StorageError(NAME, `write to a closed writer: ${this.key}`);
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.buf.push(b);
    this.bufBytes += b.length;
    this.size += b.length;
    while (this.bufBytes >= this.d.partSize) {
      const all = Buffer.concat(this.buf);
      const part = all.subarray(0, this.d.partSize);
      const rest = all.subarray(this.d.partSize);
      this.buf = rest.length ? [rest] : [];
      this.bufBytes = rest.length;
      await this.drain();
      this.inFlight = this.sendPart(part);
    }
  }

  private async drain(): Promise<void> {
    const p = this.inFlight;
    this.inFlight = undefined;
    if (p) await p;
  }

  private async sendPart(body: Buffer): Promise<void> {
    const UploadId = await this.start();
    const PartNumber = this.parts.length + 1;
    const slot: CompletedPart = { PartNumber };
    this.parts.push(slot);
    const r = await this.d.client.send(new UploadPartCommand({ Bucket: this.bucket, Key: this.key, UploadId, PartNumber, Body: body, ContentLength: body.length }));
    slot.ETag = r.ETag;
  }

  private async finish(): Promise<void> {
    if (this.done) return;
    this.done = true;
    try {
      await this.drain();
      const rest = Buffer.concat(this.buf);
      this.buf = [];
      if (!this.uploadId) {
        await this.d.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.key, Body: rest, ContentLength: rest.length }));
        return;
      }
      if (rest.length) await this.sendPart(rest);
      await this.d.client.send(new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key: this.key, UploadId: this.uploadId, MultipartUpload: { Parts: this.parts } }));
    } catch (e) {
      await this.abortParts();
      throw e;
    }
  }

  close(): Promise<void> { return this.finish(); }
  commit(): Promise<void> { return this.finish(); }

  async cancel(): Promise<void> {
    this.done = true;
    this.buf = [];
    await this.drain().catch(() => {});
    await this.abortParts();
    await this.d.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.key })).catch(() => {});
  }
}
