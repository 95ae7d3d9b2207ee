// Image commands.
import { createReadStream, createWriteStream } from 'node:fs';
import { readAll } from '../../client/transport';
import { pipeline } from 'node:stream/promises';
import type { Command } from '../command';
import { StatusError } from '../command';
import { boolFlag, strFlag, listFlag } from '../flags';
import { renderList, printInspect } from '../format';
import { humanSize, humanSizeWithPrecision, timeAgo } from '../../lib/units';
import { filterFlag, formatFlag, parseFilterArgs, forEachArg, confirm, shortId, ellipsis, goTimeString, inspectFormatFlag } from './common';
import { ApiError } from '../../client';
import type { ImageSummary, HistoryItem } from '../../client/types';
import { pullImage, splitReference, ProgressPrinter, authFor } from './pull-progress';
import { configDir, serverKey, getCredentials, storeCredentials, eraseCredentials, CredentialError, DEFAULT_SERVER } from '../credentials';

class ImageContext {
  constructor(private readonly i: ImageSummary, readonly Repository: string, readonly Tag: string, readonly Digest: string, private readonly trunc: boolean) {}
  get ID() { return this.trunc ? shortId(this.i.Id) : this.i.Id; }
  get CreatedSince() { return timeAgo(this.i.Created); }
  get CreatedAt() { return goTimeString(this.i.Created); }
  get Size() { return humanSizeWithPrecision(this.i.Size, 3); }
  get VirtualSize() { return humanSize(this.i.VirtualSize ?? this.i.Size); }
  get SharedSize() { return this.i.SharedSize < 0 ? 'N/A' : humanSizeWithPrecision(this.i.SharedSize, 3); }
  get UniqueSize() { return this.i.SharedSize < 0 ? 'N/A' : humanSizeWithPrecision(this.i.Size - this.i.SharedSize, 3); }
  get Containers() { return this.i.Containers < 0 ? 'N/A' : String(this.i.Containers); }
  toJSON() {
    const o: Record<string, unknown> = {};
    for (const k of ['Containers', 'CreatedAt', 'CreatedSince', 'Digest', 'ID', 'Repository', 'SharedSize', 'Size', 'Tag', 'UniqueSize', 'VirtualSize']) o[k] = (this as any)[k];
    return o;
  }
}

/** One row per repo:tag, as docker images shows them (digest rows for untagged digests). */
function imageRows(list: ImageSummary[], trunc: boolean, digests: boolean): ImageContext[] {
  const rows: ImageContext[] = [];
  const sorted = [...list].sort((a, b) => b.Created - a.Created);
  for (const i of sorted) {
    const tags = (i.RepoTags ?? []).filter((t) => t !== '<none>:<none>');
    const digestsOf = (repo: string) => (i.RepoDigests ?? []).filter((d) => d.startsWith(`${repo}@`)).map((d) => d.slice(d.indexOf('@') + 1));
    if (!tags.length) {
      const d = (i.RepoDigests ?? []).filter((x) => x !== '<none>@<none>');
      if (d.length) for (const x of d) rows.push(new ImageContext(i, x.slice(0, x.indexOf('@')), '<none>', x.slice(x.indexOf('@') + 1), trunc));
      else rows.push(new ImageContext(i, '<none>', '<none>', '<none>', trunc));
      continue;
    }
    for (const t of tags) {
      const colon = t.lastIndexOf(':');
      const repo = t.slice(0, colon);
      const tag = t.slice(colon + 1);
      const ds = digestsOf(repo);
      if (digests && ds.length) for (const d of ds) rows.push(new ImageContext(i, repo, tag, d, trunc));
      else rows.push(new ImageContext(i, repo, tag, ds[0] ?? '<none>', trunc));
    }
  }
  return rows;
}

const imageHeaders = { Repository: 'REPOSITORY', Tag: 'TAG', Digest: 'DIGEST', ID: 'IMAGE ID', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT', Size: 'SIZE', Containers: 'CONTAINERS', SharedSize: 'SHARED SIZE', UniqueSize: 'UNIQUE SIZE', VirtualSize: 'VIRTUAL SIZE' };

export const images: Command = {
  usage: '[OPTIONS] [REPOSITORY[:TAG]]',
  description: 'List images',
  aliases: ['dray image ls', 'dray image list', 'dray images'],
  flags: [
    boolFlag('all', 'a', 'Show all images (default hides intermediate images)'),
    boolFlag('digests', undefined, 'Show digests'),
    filterFlag(),
    formatFlag(),
    boolFlag('no-trunc', undefined, "Don't truncate output"),
    boolFlag('quiet', 'q', 'Only show image IDs'),
    boolFlag('tree', undefined, 'List multi-platform images as a tree (EXPERIMENTAL)'),
  ],
  args: { max: 1 },
  async run(ctx, f, args) {
    const filters = parseFilterArgs(f.filter);
    if (args[0]) (filters.reference ??= []).push(args[0]);
    const list = await ctx.client().images.list({ all: f.all, filters });
    const trunc = !f['no-trunc'];
    if (f.quiet && !f.format) {
      const seen = new Set<string>();
      for (const r of imageRows(list, trunc, false)) if (!seen.has(r.ID)) { seen.add(r.ID); process.stdout.write(`${r.ID}\n`); }
      return;
    }
    const def = `{{.Repository}}\t{{.Tag}}\t${f.digests ? '{{.Digest}}\t' : ''}{{.ID}}\t{{.CreatedSince}}\t{{.Size}}`;
    process.stdout.write(renderList(f.format, imageRows(list, trunc, !!f.digests || /\.Digest\b/.test(f.format ?? '')), { defaultTable: def, headers: imageHeaders }));
  },
};

export const inspect: Command = {
  usage: '[OPTIONS] IMAGE [IMAGE...]',
  description: 'Display detailed information on one or more images',
  flags: [inspectFormatFlag(), strFlag('platform', undefined, 'Inspect a specific platform of the multi-platform image.')],
  args: { min: 1 },
  async run(ctx, f, args) {
    const found: unknown[] = [];
    const errors: string[] = [];
    for (const a of args) {
      try { found.push(await ctx.client().images.inspect(a)); } catch (e: any) {
        if (e instanceof ApiError && e.status === 404) errors.push(`Error response from daemon: ${e.message}`); else throw e;
      }
    }
    printInspect(found, f.format);
    if (errors.length) { process.stderr.write(errors.map((e) => `${e}\n`).join('')); return 1; }
    return 0;
  },
};

export const history: Command = {
  usage: '[OPTIONS] IMAGE',
  description: 'Show the history of an image',
  aliases: ['dray image history', 'dray history'],
  flags: [formatFlag(), boolFlag('human', 'H', 'Print sizes and dates in human readable format', true), boolFlag('no-trunc', undefined, "Don't truncate output"), boolFlag('quiet', 'q', 'Only show image IDs'), strFlag('platform', undefined, 'Show history for the given platform.')],
  args: { exact: 1 },
  async run(ctx, f, args) {
    const h = await ctx.client().images.history(args[0]);
    const trunc = !f['no-trunc'];
    const rows = h.map((x: HistoryItem) => ({
      ID: x.Id === '<missing>' || !x.Id ? '<missing>' : trunc ? shortId(x.Id) : x.Id,
      CreatedSince: f.human ? timeAgo(x.Created) : new Date(x.Created * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      CreatedAt: new Date(x.Created * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      CreatedBy: trunc ? ellipsis(x.CreatedBy.replace(/\t/g, ' '), 45) : x.CreatedBy.replace(/\t/g, ' '),
      Size: f.human ? humanSizeWithPrecision(x.Size, 3) : String(x.Size),
      Comment: x.Comment,
    }));
    if (f.quiet && !f.format) { for (const r of rows) process.stdout.write(`${r.ID}\n`); return; }
    process.stdout.write(renderList(f.format, rows, { defaultTable: f.human ? '{{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}' : '{{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}', headers: { ID: 'IMAGE', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT', CreatedBy: 'CREATED BY', Size: 'SIZE', Comment: 'COMMENT' } }));
  },
};

export const tag: Command = {
  usage: 'SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]',
  description: 'Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE',
  aliases: ['dray image tag', 'dray tag'],
  flags: [],
  args: { exact: 2 },
  async run(ctx, _f, args) {
    const { repo, tag } = splitReference(args[1]);
    if (/[A-Z]/.test(repo)) throw new StatusError(1, `Error parsing reference: "${args[1]}" is not a valid repository/tag: invalid reference format: repository name (${repo.includes('/') ? repo : `library/${repo}`}) must be lowercase`);
    await ctx.client().images.tag(args[0], repo, tag);
  },
};

export const rmi: Command = {
  usage: '[OPTIONS] IMAGE [IMAGE...]',
  description: 'Remove one or more images',
  aliases: ['dray image rm', 'dray image remove', 'dray rmi'],
  flags: [boolFlag('force', 'f', 'Force removal of the image'), boolFlag('no-prune', undefined, 'Do not delete untagged parents'), listFlag('platform', undefined, 'Remove only the given platform variant.')],
  args: { min: 1 },
  async run(ctx, f, args) {
    return forEachArg(args, async (a) => {
      let r;
      try { r = await ctx.client().images.remove(a, { force: f.force, noprune: f['no-prune'] }); } catch (e) {
        // -f: a missing image is reported but does not fail the command.
        if (f.force && e instanceof ApiError && e.status === 404) { process.stderr.write(`Error response from daemon: ${e.message}\n`); return; }
        throw e;
      }
      for (const d of r ?? []) process.stdout.write(d.Untagged ? `Untagged: ${d.Untagged}\n` : `Deleted: ${d.Deleted}\n`);
    });
  },
};

export const prune: Command = {
  usage: '[OPTIONS]',
  description: 'Remove unused images',
  flags: [boolFlag('all', 'a', 'Remove all unused images, not just dangling ones'), { ...filterFlag(), short: undefined, usage: 'Provide filter values (e.g. "until=<timestamp>")' }, boolFlag('force', 'f', 'Do not prompt for confirmation')],
  args: { exact: 0 },
  async run(ctx, f) {
    const warning = f.all ? 'WARNING! This will remove all images without at least one container associated to them.' : 'WARNING! This will remove all dangling images.';
    if (!f.force && !(await confirm(`${warning}\nAre you sure you want to continue? [y/N] `))) return 0;
    const filters = parseFilterArgs(f.filter);
    filters.dangling = [f.all ? 'false' : 'true'];
    const r = await ctx.client().images.prune(filters);
    let s = '';
    if (r.ImagesDeleted?.length) s += 'Deleted Images:\n' + r.ImagesDeleted.map((d) => (d.Untagged ? `untagged: ${d.Untagged}\n` : `deleted: ${d.Deleted}\n`)).join('') + '\n';
    s += `Total reclaimed space: ${humanSize(r.SpaceReclaimed ?? 0)}\n`;
    process.stdout.write(s);
  },
};

export const pull: Command = {
  usage: '[OPTIONS] NAME[:TAG|@DIGEST]',
  description: 'Download an image from a registry',
  aliases: ['dray image pull', 'dray pull'],
  flags: [boolFlag('all-tags', 'a', 'Download all tagged images in the repository'), boolFlag('disable-content-trust', undefined, 'Skip image verification', true), strFlag('platform', undefined, 'Set platform if server is multi-platform capable'), boolFlag('quiet', 'q', 'Suppress verbose output')],
  args: { exact: 1 },
  async run(ctx, f, args) {
    const ref = args[0];
    const { repo, tag, digest } = splitReference(ref);
    const explicitTag = ref.indexOf(':', ref.lastIndexOf('/') + 1) >= 0 || !!digest;
    if (f['all-tags'] && explicitTag) throw new StatusError(1, 'tag can\'t be used with --all-tags/-a');
    if (!f['all-tags'] && !explicitTag && !f.quiet) process.stdout.write(`Using default tag: ${tag}\n`);
    await pullImage(ctx.client(), ref, { platform: f.platform, quiet: f.quiet, out: process.stdout, config: ctx.globals.config, allTags: f['all-tags'] });
    process.stdout.write(`${normalizeName(repo)}${f['all-tags'] ? '' : digest ? `@${digest}` : `:${tag}`}\n`);
  },
};

export const push: Command = {
  usage: '[OPTIONS] NAME[:TAG]',
  description: 'Upload an image to a registry',
  aliases: ['dray image push', 'dray push'],
  flags: [boolFlag('all-tags', 'a', 'Push all tags of an image to the repository'), boolFlag('disable-content-trust', undefined, 'Skip image signing', true), strFlag('platform', undefined, 'Push a platform-specific manifest as a single-platform image to the registry.'), boolFlag('quiet', 'q', 'Suppress verbose output')],
  args: { exact: 1 },
  async run(ctx, f, args) {
    const { repo, tag, digest } = splitReference(args[0]);
    if (digest) throw new StatusError(1, `invalid reference format: cannot push a digest reference`);
    const explicitTag = args[0].slice(args[0].lastIndexOf('/') + 1).includes(':');
    if (f['all-tags'] && explicitTag) throw new StatusError(1, 'tag can\'t be used with --all-tags/-a');
    if (f.platform) throw new StatusError(1, 'dray push --platform: not implemented (Dray stores single-platform images)');
    if (!f['all-tags'] && !explicitTag && !f.quiet) process.stdout.write(`Using default tag: ${tag}\n`);
    const s = await ctx.client().images.push(normalizeName(repo), f['all-tags'] ? undefined : tag, authFor(args[0], ctx.globals.config));
    const p = new ProgressPrinter(process.stdout);
    for await (const m of s) if (!f.quiet) p.print(m);
    if (f.quiet) process.stdout.write(`${args[0]}\n`);
  },
};

export const save: Command = {
  usage: '[OPTIONS] IMAGE [IMAGE...]',
  description: 'Save one or more images to a tar archive (streamed to STDOUT by default)',
  aliases: ['dray image save', 'dray save'],
  flags: [strFlag('output', 'o', 'Write to a file, instead of STDOUT'), listFlag('platform', undefined, 'Save only the given platform(s).')],
  args: { min: 1 },
  async run(ctx, f, args) {
    if (!f.output && process.stdout.isTTY) throw new StatusError(1, 'cowardly refusing to save to a terminal. Use the -o flag or redirect');
    const res = await ctx.client().images.save(args);
    await pipeline(res, f.output ? createWriteStream(f.output) : process.stdout);
  },
};

export const load: Command = {
  usage: '[OPTIONS]',
  description: 'Load an image from a tar archive or STDIN',
  aliases: ['dray image load', 'dray load'],
  flags: [strFlag('input', 'i', 'Read from tar archive file, instead of STDIN'), boolFlag('quiet', 'q', 'Suppress the load output'), listFlag('platform', undefined, 'Load only the given platform(s).')],
  args: { exact: 0 },
  async run(ctx, f) {
    if (!f.input && process.stdin.isTTY) throw new StatusError(1, 'requested load from stdin, but stdin is empty');
    const src = f.input ? createReadStream(f.input) : process.stdin;
    const s = await ctx.client().images.load(src, !!f.quiet);
    const p = new ProgressPrinter(process.stdout);
    for await (const m of s) if (!f.quiet || m.stream) p.print(m);
  },
};

export const importCmd: Command = {
  usage: '[OPTIONS] file|URL|- [REPOSITORY[:TAG]]',
  description: 'Import the contents from a tarball to create a filesystem image',
  aliases: ['dray image import', 'dray import'],
  flags: [listFlag('change', 'c', 'Apply Dockerfile instruction to the created image'), strFlag('message', 'm', 'Set commit message for imported image'), strFlag('platform', undefined, 'Set platform if server is multi-platform capable')],
  args: { min: 1, max: 2 },
  async run(ctx, f, args) {
    const [src, ref] = args;
    let repo: string | undefined;
    let tag: string | undefined;
    if (ref) ({ repo, tag } = splitReference(ref));
    // A URL is fetched by drayd, as dockerd does.
    const body = /^https?:\/\//.test(src) ? src : src === '-' ? process.stdin : createReadStream(src);
    const s = await ctx.client().images.import(body, { repo, tag, message: f.message, changes: f.change.length ? f.change : undefined, platform: f.platform });
    // The download's lines and bar, as the docker CLI draws them; the last line is the image ID.
    const p = new ProgressPrinter(process.stdout);
    for await (const m of s) p.print(m);
  },
};

export const bootstrap: Command = {
  usage: 'NAME',
  description: 'Make a base image locally without a registry (Dray extension; available: busybox)',
  flags: [],
  args: { exact: 1 },
  async run(ctx, _f, args) {
    const r = await ctx.client().images.bootstrap(args[0]);
    for (const t of r.RepoTags ?? []) process.stdout.write(`Tagged: ${t}\n`);
    process.stdout.write(`${r.Id}\n`);
  },
};

/** Docker's fully qualified form: busybox → docker.io/library/busybox. */
export function normalizeName(repo: string): string {
  const first = repo.split('/')[0];
  const hasDomain = repo.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (hasDomain) return repo;
  return `docker.io/${repo.includes('/') ? repo : `library/${repo}`}`;
}

export const login: Command = {
  usage: '[OPTIONS] [SERVER]',
  description: `Authenticate to a registry.
Defaults to Docker Hub if no server is specified.`,
  flags: [strFlag('password', 'p', 'Password or Personal Access Token (PAT)'), boolFlag('password-stdin', undefined, 'Take the Password or Personal Access Token (PAT) from stdin'), strFlag('username', 'u', 'Username')],
  args: { max: 1 },
  async run(ctx, f, args) {
    const dir = configDir(ctx.globals.config);
    const server = serverKey(args[0] ?? DEFAULT_SERVER);
    let password: string | undefined = f.password;
    let username: string | undefined = f.username;
    if (f['password-stdin']) {
      if (f.password) throw new StatusError(1, '--password and --password-stdin are mutually exclusive');
      if (!f.username) throw new StatusError(1, 'Must provide --username with --password-stdin');
      password = (await readAll(process.stdin)).toString().replace(/\r?\n$/, '');
    } else if (password) process.stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
    const client = ctx.client();
    // No credentials given: those already stored, if they still work (as docker login does).
    if (!username && password === undefined) {
      const stored = safe(() => getCredentials(dir, server));
      if (stored) {
        try {
          const r = await client.system.auth({ username: stored.username, password: stored.password, identitytoken: stored.identitytoken, serveraddress: server });
          process.stdout.write('Authenticating with existing credentials...\n');
          process.stdout.write(`${r.Status || 'Login Succeeded'}\n`);
          return;
        } catch { /* ask again */ }
      }
    }
    if (!username || password === undefined) {
      if (!process.stdin.isTTY) throw new StatusError(1, 'Error: Cannot perform an interactive login from a non TTY device');
      if (!username) username = (await prompt(`Username${stored(dir, server) ? ` (${stored(dir, server)})` : ''}: `, false)) || stored(dir, server);
      if (!username) throw new StatusError(1, 'Error: Non-null Username Required');
      if (password === undefined) password = await prompt('Password: ', true);
      if (!password) throw new StatusError(1, 'Error: Password Required');
    }
    const r = await client.system.auth({ username, password, serveraddress: server });
    let where;
    try { where = storeCredentials(dir, server, { username, password, identitytoken: r.IdentityToken || undefined }); } catch (e) {
      if (e instanceof CredentialError) throw new StatusError(1, `Error saving credentials: ${e.message}`);
      throw e;
    }
    if (!where.helper) process.stderr.write(`\nWARNING! Your credentials are stored unencrypted in '${where.file}'.\nConfigure a credential helper to remove this warning. See\nhttps://docs.docker.com/go/credential-store/\n\n`);
    process.stdout.write(`${r.Status || 'Login Succeeded'}\n`);
  },
};

export const logout: Command = {
  usage: '[SERVER]',
  description: `Log out from a registry.
If no server is specified, the default is defined by the daemon.`,
  flags: [],
  args: { max: 1 },
  async run(ctx, _f, args) {
    const server = serverKey(args[0] ?? DEFAULT_SERVER);
    process.stdout.write(`Removing login credentials for ${server}\n`);
    try { eraseCredentials(configDir(ctx.globals.config), server); } catch (e) {
      process.stderr.write(`WARNING: could not erase credentials: ${server}: ${(e as Error).message}\n`);
    }
  },
};

function safe<T>(fn: () => T): T | undefined { try { return fn(); } catch { return undefined; } }
const stored = (dir: string, server: string) => safe(() => getCredentials(dir, server))?.username ?? '';

/** A line from the terminal; `hidden` echoes nothing (a password). */
function prompt(question: string, hidden: boolean): Promise<string> {
  return new Promise((resolve) => {
    process.stdout.write(question);
    const stdin = process.stdin;
    const wasRaw = stdin.isRaw;
    if (hidden) stdin.setRawMode(true);
    let buf = '';
    const onData = (b: Buffer) => {
      for (const ch of b.toString('utf8')) {
        if (ch === '\r' || ch === '\n') { done(); return; }
        if (ch === '\u0003') { done(); process.exit(130); }
        if (ch === '\u007f' || ch === '\b') buf = buf.slice(0, -1);
        else buf += ch;
      }
    };
    const done = () => {
      stdin.off('data', onData);
      if (hidden) { stdin.setRawMode(wasRaw); process.stdout.write('\n'); }
      stdin.pause();
      resolve(buf.trim());
    };
    stdin.on('data', onData);
    stdin.resume();
  });
}

export const search: Command = {
  usage: '[OPTIONS] TERM', description: 'Search Docker Hub for images', flags: [], interspersed: false,
  async run() { throw new StatusError(1, "dray search: not implemented in Dray (it needs Docker Hub's search index)"); },
};
