// dray build: docker's legacy builder client (DOCKER_BUILDKIT=0 docker build). The context is tarred
// here with .dockerignore applied, uploaded behind "Sending build context to Docker daemon", and the
// daemon's JSON lines are shown as docker shows them.
import { configDir, registryConfigHeader } from '../credentials';
import { promises as fsp, statSync } from 'node:fs';
import { PassThrough, Readable, Transform } from 'node:stream';
import type { Command } from '../command';
import { StatusError } from '../command';
import { boolFlag, strFlag, listFlag, FlagDef } from '../flags';
import { humanSize } from '../../lib/units';
import { readAll } from '../../client/transport';
import { jsonLines, JsonMessage } from '../../client/stream';
import { ProgressPrinter } from './pull-progress';
import {
  ContextError, contextFilter, incrementalContext, dockerfileOnlyTar, isArchive, localContext, randomDockerfileName, readDockerignore, tarContext, ExtraDockerfile,
} from '../build-context';
import { frame } from '../../builder/named-contexts';
import { SshSpec, parseSshSpec, forwardSsh } from '../build-ssh';
import { CacheFromSpec, CacheToSpec, parseCacheFrom, parseCacheTo, importCache, exportCache, importRegistryCache, exportRegistryCache, describeCacheTo } from '../build-cache';
import { OutputSpec, parseOutputSpec, checkOutput, writeOutput, toStdout, pushOutput } from '../build-output';

/** docker's opts.ValidateEnv: "K" takes K's value from the environment when it is set. */
export function validateBuildArg(v: string): string {
  const eq = v.indexOf('=');
  const k = eq < 0 ? v : v.slice(0, eq);
  if (!k) throw new Error(`invalid environment variable: ${v}`);
  if (eq >= 0) return v;
  const env = process.env[k];
  return env !== undefined ? `${k}=${env}` : v;
}

/** "K=V" → K: V, "K" → K: null (opts.ConvertKVStringsToMapWithNil). */
export function buildArgsMap(list: string[]): Record<string, string | null> {
  const m: Record<string, string | null> = {};
  for (const s of list) {
    const eq = s.indexOf('=');
    if (eq < 0) m[s] = null; else m[s.slice(0, eq)] = s.slice(eq + 1);
  }
  return m;
}

/** "K=V" → K: V, "K" → K: "" (opts.ConvertKVStringsToMap). */
export function labelsMap(list: string[]): Record<string, string> {
  const m: Record<string, string> = {};
  for (const s of list) {
    const eq = s.indexOf('=');
    if (eq < 0) m[s] = ''; else m[s.slice(0, eq)] = s.slice(eq + 1);
  }
  return m;
}

const refRe = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?(?::[0-9]+)?\/)?[a-zA-Z0-9]+(?:(?:[._]|__|-+)[a-zA-Z0-9]+)*(?:\/[a-zA-Z0-9]+(?:(?:[._]|__|-+)[a-zA-Z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@[a-z0-9]+:[a-f0-9]{32,})?$/;

/** docker's validateTag (reference.ParseNormalizedNamed). */
export function validateTag(v: string): string {
  if (!refRe.test(v)) throw new Error('invalid reference format');
  let name = v.replace(/@.*$/, '');
  const slash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  if (colon > slash) name = name.slice(0, colon);
  if (/[A-Z]/.test(name)) {
    const first = name.split('/')[0];
    const hasDomain = name.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
    const path = hasDomain ? name.slice(first.length + 1) : name.includes('/') ? name : `library/${name}`;
    if (/[A-Z]/.test(path)) throw new Error(`invalid reference format: repository name (${path}) must be lowercase`);
  }
  return v;
}

const withParse = (d: FlagDef, parse: (v: string) => unknown): FlagDef => ({ ...d, parse });

export interface SecretSpec { id: string; file?: string; env?: string }

/**
 * buildx's --secret grammar: `id=x,src=file` (or source=), `id=x,env=VAR`, `type=file|env`; with
 * neither src nor env, the environment variable named like the id when it is set, else the file
 * of that name.
 */
export function parseSecretSpec(v: string): SecretSpec {
  const spec: SecretSpec = { id: '' };
  let type = '';
  for (const field of v.split(',')) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    const value = eq < 0 ? '' : field.slice(eq + 1);
    if (eq < 0) throw new Error(`invalid field '${field}' must be a key=value pair`);
    switch (key) {
      case 'type':
        if (value !== 'file' && value !== 'env') throw new Error(`unsupported secret type "${value}"`);
        type = value;
        break;
      case 'id': spec.id = value; break;
      case 'source': case 'src': spec.file = value; break;
      case 'env': spec.env = value; break;
      default: throw new Error(`unexpected key '${key}' in '${field}'`);
    }
  }
  if (type === 'env' && !spec.env) { spec.env = spec.file; spec.file = undefined; }
  if (!spec.id) {
    // buildx takes the id from the file's name or the variable's.
    spec.id = spec.env ?? (spec.file ? spec.file.split('/').pop()! : '');
  }
  if (!spec.id) throw new Error(`secret ID missing in ${v}`);
  if (!/^[A-Za-z0-9_.-]+$/.test(spec.id)) throw new Error(`invalid secret ID ${JSON.stringify(spec.id)}`);
  if (!spec.file && !spec.env) {
    if (process.env[spec.id] !== undefined) spec.env = spec.id; else spec.file = spec.id;
  }
  return spec;
}

/** The secrets' values, read here: drayd gets the bytes, never a path of this machine. */
async function readSecrets(specs: SecretSpec[]): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const s of specs) {
    if (s.env !== undefined) {
      const v = process.env[s.env];
      if (v === undefined) throw new StatusError(1, `secret ${s.id}: environment variable ${s.env} is not set`);
      out.set(s.id, Buffer.from(v));
    } else {
      try { out.set(s.id, await fsp.readFile(s.file!)); } catch (e: any) {
        throw new StatusError(1, `secret ${s.id}: failed to read ${s.file}: ${e.code === 'ENOENT' ? 'no such file or directory' : e.message}`);
      }
    }
  }
  return out;
}

export type BuildContextSpec = { name: string; dir: string } | { name: string; image: string };

/**
 * buildx's --build-context name=VALUE: docker-image://REF, a directory, or (Dray, as the brief
 * of a bare value that is no directory) an image reference. Other sources are refused here.
 */
export function parseBuildContextSpec(v: string): BuildContextSpec {
  const eq = v.indexOf('=');
  if (eq <= 0) throw new Error(`invalid context value: ${v}, expected key=value`);
  const name = v.slice(0, eq);
  const value = v.slice(eq + 1);
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.\-/:]*$/.test(name)) throw new Error(`invalid context name ${JSON.stringify(name)}`);
  if (!value) throw new Error(`invalid context value for ${name}: empty`);
  if (value.startsWith('docker-image://')) {
    const ref = value.slice('docker-image://'.length);
    validateTag(ref);
    return { name, image: ref };
  }
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(value) ?? (/^(git@|target:)/.exec(value));
  if (scheme) throw new Error(`context ${name}=${value}: ${scheme[1]} build contexts are not implemented in Dray (a directory or docker-image://ref)`);
  let isDir = false;
  try { isDir = statSync(value).isDirectory(); } catch { /* not a path: an image reference then */ }
  if (isDir) return { name, dir: value };
  try { validateTag(value); } catch { throw new Error(`context ${name}=${value}: no such directory, and not an image reference`); }
  if (value.startsWith('.') || value.startsWith('/')) throw new Error(`context ${name}=${value}: no such directory`);
  return { name, image: value };
}

const buildFlags: FlagDef[] = [
  listFlag('add-host', undefined, 'Add a custom host-to-IP mapping (host:ip)'),
  withParse(listFlag('build-arg', undefined, 'Set build-time variables'), validateBuildArg),
  withParse(listFlag('build-context', undefined, 'Additional build contexts (e.g., name=path, name=docker-image://ref)'), parseBuildContextSpec),
  withParse(listFlag('cache-from', undefined, 'External cache sources (type=local,src=DIR or type=registry,ref=REF; an image name is taken and not used: a warning)'), parseCacheFrom),
  withParse(strFlag('cache-to', undefined, 'Cache export destination (type=local,dest=DIR or type=registry,ref=REF, with [,mode=min|max])'), parseCacheTo),
  boolFlag('disable-content-trust', undefined, 'Skip image verification', true),
  boolFlag('explain-cache', undefined, 'Explain why each step used the cache or not (Dray extension)'),
  strFlag('file', 'f', 'Name of the Dockerfile (Default is "PATH/Dockerfile")'),
  boolFlag('force-rm', undefined, 'Always remove intermediate containers'),
  strFlag('iidfile', undefined, 'Write the image ID to the file'),
  listFlag('label', undefined, 'Set metadata for an image'),
  strFlag('network', undefined, 'Set the networking mode for the RUN instructions during build', 'default'),
  boolFlag('load', undefined, 'Shorthand for "--output=type=docker" (the image is in the image store already)'),
  boolFlag('no-cache', undefined, 'Do not use cache when building the image'),
  withParse(strFlag('output', 'o', 'Output destination (format: "type=local,dest=path"; types local, tar, oci, docker; type=image[,name=REF[,push=true]] and type=registry,name=REF)'), parseOutputSpec),
  strFlag('platform', undefined, 'Set platform if server is multi-platform capable', process.env.DOCKER_DEFAULT_PLATFORM || undefined),
  strFlag('progress', undefined, 'Set type of progress output ("auto", "plain", "tty", "quiet"). Use plain to show container output with BuildKit\'s numbered lines', 'auto'),
  boolFlag('pull', undefined, 'Always attempt to pull a newer version of the image'),
  boolFlag('push', undefined, 'Shorthand for "--output=type=registry": push the -t tags after the build'),
  boolFlag('quiet', 'q', 'Suppress the build output and print image ID on success'),
  boolFlag('rm', undefined, 'Remove intermediate containers after a successful build', true),
  withParse(listFlag('secret', undefined, 'Secret to expose to the build (format: "id=mysecret[,src=/local/secret]" or "id=mysecret,env=VAR")'), parseSecretSpec),
  withParse(listFlag('ssh', undefined, 'SSH agent socket or keys to expose to the build (format: default|<id>[=<socket>|<key>[,<key>]])'), parseSshSpec),
  withParse(listFlag('tag', 't', 'Name and optionally a tag in the "name:tag" format'), validateTag),
  strFlag('target', undefined, 'Set the target build stage to build.'),
];

const isUrl = (s: string) => /^https?:\/\//i.test(s) || /^git(@|:\/\/)/.test(s) || /^github\.com\//.test(s);

/** Collects text instead of writing it (docker's progBuff/buildBuff with -q). */
class TextSink {
  text = '';
  readonly isTTY = false;
  write(s: string | Buffer): boolean { this.text += s.toString(); return true; }
}

/**
 * Counts the bytes of the upload and writes docker's progress line: on a terminal an update every
 * 512kB (at most every 100ms); always the final "Sending build context to Docker daemon  6.656kB\r\r\n".
 */
/** `contextSize`: what the last line reports instead of the bytes sent (an incremental context's whole size). */
function uploadProgress(out: { write(s: string): unknown }, tty: boolean, contextSize?: number): Transform {
  const action = 'Sending build context to Docker daemon';
  const line = (n: number) => `${action} ${humanSize(n).padStart(8)}\r`;
  let current = 0;
  let lastUpdate = 0;
  let lastPrint = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      current += chunk.length;
      if (tty && current - lastUpdate > 512 * 1024) {
        lastUpdate = current;
        const now = Date.now();
        if (!lastPrint || now - lastPrint >= 100) { lastPrint = now; out.write(line(current)); }
      }
      cb(null, chunk);
    },
    flush(cb) { out.write(`${line(contextSize ?? current)}\r\n`); cb(); },
  });
}

/** Reads stdin up to `n` bytes (or its end) and returns them with a stream of the whole input. */
async function peekStdin(n: number): Promise<{ head: Buffer; stream: Readable }> {
  const stdin = process.stdin;
  const chunks: Buffer[] = [];
  let len = 0;
  let ended = false;
  await new Promise<void>((resolve, reject) => {
    const onData = (c: Buffer) => { chunks.push(c); len += c.length; if (len >= n) done(); };
    const onEnd = () => { ended = true; done(); };
    const done = () => { stdin.off('data', onData); stdin.off('end', onEnd); stdin.off('error', reject); stdin.pause(); resolve(); };
    stdin.on('data', onData);
    stdin.once('end', onEnd);
    stdin.once('error', reject);
  });
  const head = Buffer.concat(chunks);
  const stream = new PassThrough();
  stream.write(head);
  if (ended) stream.end(); else { stdin.pipe(stream); stdin.resume(); }
  return { head, stream };
}

export const build: Command = {
  usage: '[OPTIONS] PATH | URL | -',
  description: 'Build an image from a Dockerfile',
  aliases: ['dray image build', 'dray build'],
  flags: buildFlags,
  args: { exact: 1 },
  async run(ctx, f, args) {
    const specified = args[0];
    const progressMode = String(f.progress ?? 'auto');
    if (!['auto', 'plain', 'tty', 'quiet'].includes(progressMode)) throw new StatusError(1, `invalid progress mode "${progressMode}": dray build knows auto, plain, tty and quiet (rawjson is not implemented)`);
    const quiet = !!f.quiet || progressMode === 'quiet';
    // plain: BuildKit's numbered lines on stderr, as docker buildx prints them; no upload line.
    const plain = progressMode === 'plain' && !quiet;
    let output = f.output as OutputSpec | undefined;
    // buildx's shorthands: --push is type=registry (push=true on a type=image output); --load is
    // type=docker, which changes nothing here: every build's image is in drayd's store.
    if (f.push && f.load) throw new StatusError(1, 'push and load may not be set together at the moment');
    if (f.push) {
      if (!output) output = { type: 'image', names: [], push: true };
      else if (output.type === 'image' || output.type === 'registry') output = { ...output, push: true };
      else throw new StatusError(1, `push and "${output.type}" output can't be used together`);
    }
    if (f.load && output && output.type !== 'docker') throw new StatusError(1, `load and "${output.type}" output can't be used together`);
    if (output) {
      try { await checkOutput(output); } catch (e: any) { throw new StatusError(1, `invalid argument for "--output" flag: ${e.message}`); }
    }
    // type=image|registry: the names are tags of the build; a push with no name pushes the -t ones.
    const outputNames = output?.names ?? [];
    for (const n of outputNames) {
      try { validateTag(n); } catch (e: any) { throw new StatusError(1, `invalid argument for "--output" flag: name ${n}: ${e.message}`); }
      if (n.includes('@')) throw new StatusError(1, `invalid argument for "--output" flag: name ${n}: a digest reference cannot be a tag`);
    }
    const tags = [...new Set([...f.tag, ...outputNames])];
    const pushNames = output?.push ? (outputNames.length ? outputNames : f.tag) : [];
    if (output?.push && !pushNames.length) throw new StatusError(1, f.output ? 'invalid argument for "--output" flag: tag is needed when pushing to registry: name=REF, or -t' : '--push: tag is needed when pushing to registry: -t NAME');
    // An archive on stdout: every other word goes to stderr.
    const textOut = toStdout(output) ? process.stderr : process.stdout;
    const progBuff = quiet || plain ? new TextSink() : textOut;
    const buildBuff = quiet ? new TextSink() : plain ? process.stderr : textOut;
    const dockerfileFromStdin = f.file === '-';
    if (f.iidfile) {
      try { await fsp.rm(f.iidfile); } catch (e: any) { if (e?.code !== 'ENOENT') throw new StatusError(1, `Removing image ID file: ${e.message}`); }
    }

    let body: { pipe<T extends NodeJS.WritableStream>(d: T): T; on(ev: 'error', cb: (e: Error) => void): unknown };
    let dockerfileParam: string | undefined;
    let drayContext: string | undefined;
    let contextSize: number | undefined;
    try {
      if (specified === '-') {
        if (dockerfileFromStdin) throw new ContextError('invalid argument: can\'t use stdin for both build context and dockerfile');
        const { head, stream } = await peekStdin(512);
        if (isArchive(head)) { body = stream; dockerfileParam = f.file || undefined; } else {
          if (f.file === '-') throw new ContextError('unable to prepare context: build context is not an archive');
          body = dockerfileOnlyTar(await readAll(stream)) as any;
          dockerfileParam = 'Dockerfile';
        }
      } else if (isUrl(specified)) {
        throw new ContextError(`unable to prepare context: remote build contexts are not supported by dray build: ${specified}`);
      } else {
        const lc = await localContext(specified, f.file);
        let extra: ExtraDockerfile | undefined;
        if (dockerfileFromStdin) extra = { name: randomDockerfileName(), content: await readAll(process.stdin) };
        else if (lc.outsideDockerfile) {
          try { extra = { name: randomDockerfileName(), content: await fsp.readFile(lc.outsideDockerfile) }; } catch (e: any) {
            throw new ContextError(`unable to open Dockerfile: ${e.message}`);
          }
        }
        const filter = contextFilter(await readDockerignore(lc.contextDir), lc.relDockerfile, dockerfileFromStdin);
        // drayd keeps the context's files between builds and is sent the changed ones alone; a
        // daemon that cannot (Docker) gets the whole tar.
        const inc = extra ? undefined : await incrementalContext(lc.contextDir, filter, async (key, m) => (await ctx.client().images.buildContextNeed(key, m)).need).catch(() => undefined);
        drayContext = inc?.key;
        contextSize = inc?.size;
        body = inc ? inc.body : tarContext(lc.contextDir, filter, extra) as any;
        dockerfileParam = extra ? extra.name : lc.relDockerfile.split('\\').join('/');
      }
    } catch (e) {
      if (e instanceof ContextError) throw new StatusError(1, e.message);
      throw e;
    }

    const cacheFrom = f['cache-from'] as CacheFromSpec[];
    const cacheFromImages = cacheFrom.flatMap((c) => ('image' in c ? [c.image] : []));
    const cacheTo = f['cache-to'] as CacheToSpec | undefined;
    for (const c of cacheFrom) {
      if ('registry' in c) {
        // As BuildKit: a cache that cannot come is a warning, and the build runs cold.
        const why = await importRegistryCache(ctx.client(), c.registry, { out: buildBuff, config: ctx.globals.config });
        if (why) process.stderr.write(`WARNING: --cache-from type=registry,ref=${c.registry}: ${why}; building without it\n`);
        continue;
      }
      if (!('src' in c)) continue;
      try { await importCache(ctx.client(), c); } catch (e: any) { throw new StatusError(1, `--cache-from type=local,src=${c.src}: ${e.message}`); }
    }
    const named = namedContexts(f['build-context'] as BuildContextSpec[]);
    const query = {
      t: tags.length ? tags : undefined,
      q: quiet || undefined,
      nocache: f['no-cache'] || undefined,
      rm: !!f.rm,
      forcerm: f['force-rm'] || undefined,
      pull: f.pull || undefined,
      networkmode: f.network,
      extrahosts: f['add-host'].length ? f['add-host'] : undefined,
      cachefrom: cacheFromImages.length ? JSON.stringify(cacheFromImages) : undefined,
      draystages: cacheTo?.mode === 'max' || undefined,
      dockerfile: dockerfileParam,
      draycontext: drayContext,
      target: f.target || undefined,
      buildargs: buildArgsMap(f['build-arg']),
      labels: labelsMap(f.label),
      platform: f.platform ? String(f.platform).toLowerCase() : undefined,
      explaincache: f['explain-cache'] || undefined,
      progress: plain ? 'plain' : undefined,
      namedcontexts: named.param,
    };
    const secrets = await readSecrets(f.secret as SecretSpec[]);
    const counted = body.pipe(uploadProgress(progBuff, !quiet && !!process.stdout.isTTY, contextSize));
    body.on('error', (e) => counted.destroy(e));

    // The agent sockets are served until the build's answer and its outputs are done.
    let ssh;
    try { ssh = f.ssh.length ? await forwardSsh(f.ssh as SshSpec[]) : undefined; } catch (e: any) { throw new StatusError(1, `--ssh ${e.message}`); }
    if (ssh) (query as Record<string, unknown>).sshsockets = JSON.stringify(ssh.sockets);
    try {
      let res;
      try {
        res = await ctx.client().images.build(counted, query, registryConfigFor(ctx.globals.config), secrets, await namedContextBodies(named.dirs));
      } catch (e: any) {
        if (quiet) process.stderr.write((progBuff as TextSink).text);
        if (e instanceof ContextError) throw new StatusError(1, e.message);
        throw e;
      }

      let imageId = '';
      let stages: string[] = [];
      const printer = new ProgressPrinter(buildBuff as NodeJS.WriteStream);
      for await (const m of jsonLines<JsonMessage>(res)) {
        if (m.errorDetail || m.error) {
          if (quiet) process.stderr.write(`${(progBuff as TextSink).text}${(buildBuff as TextSink).text}`);
          const code = m.errorDetail?.code || 1;
          throw new StatusError(code, m.errorDetail?.message ?? m.error ?? 'unknown error');
        }
        if (m.aux !== undefined) { if (m.aux?.ID) imageId = m.aux.ID; if (Array.isArray(m.aux?.DrayStages)) stages = m.aux.DrayStages; continue; }
        printer.print(m);
      }
      // With -q the daemon's only output is the ID line; docker prints (and writes) it as received.
      if (quiet) { imageId = (buildBuff as TextSink).text; textOut.write(imageId); }
      if (f.iidfile) {
        if (!imageId) throw new StatusError(1, `Server did not provide an image ID. Cannot write ${f.iidfile}`);
        await fsp.writeFile(f.iidfile, imageId, { mode: 0o666 });
      }
      if (cacheTo) {
        const id = imageId.trim();
        const tips = [...new Set([id, ...stages])].filter(Boolean);
        try {
          if (cacheTo.type === 'local') await exportCache(ctx.client(), cacheTo, tips);
          else await exportRegistryCache(ctx.client(), cacheTo, tips, { out: buildBuff, config: ctx.globals.config });
        } catch (e: any) {
          const message = `--cache-to ${describeCacheTo(cacheTo)}: ${e.message}`;
          if (cacheTo.type !== 'registry' || !cacheTo.ignoreError) throw new StatusError(1, message);
          process.stderr.write(`WARNING: ${message} (ignore-error=true: the build stands)\n`);
        }
      }
      if (output) {
        const id = imageId.trim();
        if (!id) throw new StatusError(1, 'Server did not provide an image ID: no output written');
        const client = ctx.client();
        // The archive names the image by its tags (docker load tags it so), else by ID only.
        const archive = () => (output.type === 'local' || output.type === 'tar' ? client.images.buildRootfs(id) : client.images.save(f.tag.length ? f.tag : [id]));
        try {
          await writeOutput(output, archive);
          if (pushNames.length) await pushOutput(client, pushNames, { out: buildBuff as NodeJS.WritableStream, config: ctx.globals.config });
        } catch (e: any) { throw new StatusError(1, `${f.output ? `--output type=${output.type}` : '--push'}: ${e.message}`); }
      }
    } finally {
      await ssh?.close();
    }
    return 0;
  },
};

/**
 * The namedcontexts parameter (each name to its image, or to a directory sent in the body; a later
 * flag of a name wins) and the directories in the order drayd reads them: the parameter's keys'
 * order, in which a JS object puts integer-like names first.
 */
function namedContexts(specs: BuildContextSpec[]): { param?: string; dirs: { name: string; dir: string }[] } {
  if (!specs.length) return { dirs: [] };
  const m: Record<string, { local: true } | { image: string }> = {};
  const byName = new Map<string, BuildContextSpec>();
  for (const s of specs) { byName.set(s.name, s); m[s.name] = 'dir' in s ? { local: true } : { image: s.image }; }
  const dirs = Object.keys(m).map((n) => byName.get(n)!).filter((s): s is { name: string; dir: string } => 'dir' in s);
  return { param: JSON.stringify(m), dirs };
}

/** The directories' tars, framed. */
async function namedContextBodies(dirs: { name: string; dir: string }[]): Promise<AsyncIterable<Buffer>[]> {
  const out: AsyncIterable<Buffer>[] = [];
  for (const s of dirs) out.push(frame(tarContext(s.dir, contextFilter(await readDockerignore(s.dir), 'Dockerfile')) as unknown as AsyncIterable<Buffer>));
  return out;
}

/** X-Registry-Config from the stored credentials, for FROM images the daemon has to pull. */
function registryConfigFor(dir?: string): string | undefined {
  try { return registryConfigHeader(configDir(dir)); } catch { return undefined; }
}
