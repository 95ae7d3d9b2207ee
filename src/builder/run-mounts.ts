// RUN --mount at execution: what each mount contributes to the step's cache key (`plan`), and the
// container mounts that realise it (`acquire`), released in every outcome:
//   bind    the context (its files written out when needed), or a stage's or image's rootfs
//           mounted for the step; read-only unless rw, and then writes land in a copy (context)
//           or the throw-away overlay of the source (stage, image): discarded either way
//   cache   a directory of CacheMounts, shared, locked or private
//   tmpfs   a fresh tmpfs, `size` bytes at most
//   secret  a file on the build's secrets tmpfs, and/or an environment variable (secrets.ts)
// The key holds each mount's spec, the content hash of a context bind's source and the image ID
// behind `from`; never a cache's content nor a secret's value.
import type { SshAgents } from './ssh-agents';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { Image } from '../engine/types';
import type { HostMount } from '../engine/container-record';
import { invalid, notImplemented, errorMessage, DrayError } from '../lib/errors';
import { run } from '../lib/exec';
import { resolveInRoot } from '../lib/root-path';
import { shortId } from '../lib/ids';
import type { Instruction } from './dockerfile';
import type { BuildContext } from './context';
import { resolveSources, hashSources, SourceItem } from './copy';
import { RunMount, mountTarget, mountKeyText } from './run-options';
import { CacheMounts, HeldCache } from './cache-mounts';
import type { BuildSecrets } from './secrets';
import { BuilderBackend } from './workers';
import { cleanPath } from './dockerignore';

export interface MountDeps {
  be: BuilderBackend;
  ctx: BuildContext;
  cacheMounts: CacheMounts;
  secrets?: BuildSecrets;
  /** dray build --ssh: the agents the CLI forwards for the build's lifetime, by id. */
  ssh?: SshAgents;
  /** The image of a stage (by name or index) or an image by reference; undefined for an empty stage. */
  resolveFrom(name: string): Promise<Image | undefined>;
  /** The --build-context directory named `name` (not a stage), if any. */
  namedDir?(name: string): BuildContext | undefined;
  signal: AbortSignal;
}

interface Planned {
  m: RunMount;
  target: string;
  /** bind/cache from a stage or image. */
  image?: Image;
  /** bind from the context: the source, after following links in the context. */
  item?: SourceItem;
  /** The context `item` is in: the build's, or a --build-context directory. */
  ctx?: BuildContext;
}

export interface MountPlan {
  planned: Planned[];
  /** For the step's cache key. */
  keyText: string;
}

export interface AcquiredMounts {
  mounts: HostMount[];
  tmpfs: Record<string, string>;
  env: string[];
  /** Container paths the runtime may have made as mount points. */
  targets: string[];
  /** Whether a secret is in the step (its container is then always removed). */
  secret: boolean;
  release(): Promise<void>;
}

/** Errors of a mount name the Dockerfile line, as parse errors do. */
export function lineError(ins: Instruction, e: unknown): DrayError {
  const msg = errorMessage(e);
  const text = `Dockerfile line ${ins.line}: ${ins.original.split('\n')[0].slice(0, 120)}: ${msg}`;
  return e instanceof DrayError && e.kind === 'NotImplemented' ? notImplemented(text) : invalid(text);
}

export async function planMounts(mounts: RunMount[], workdir: string, d: MountDeps): Promise<MountPlan> {
  const planned: Planned[] = [];
  const keys: string[] = [];
  const seen = new Set<string>();
  let sshIndex = 0;
  for (const m of mounts) {
    // A secret only in the environment has no target; an agent socket has BuildKit's default one.
    const target = m.type === 'secret' && !m.target ? '' : m.type === 'ssh' && !m.target ? `/run/buildkit/ssh_agent.${sshIndex++}` : mountTarget(m, workdir);
    if (m.type === 'ssh' && m.required && !d.ssh?.has(m.id)) throw invalid(`ssh agent ${m.id}: not forwarded (pass it with dray build --ssh ${m.id === 'default' ? 'default' : `${m.id}=<socket>`})`);
    if (target) {
      if (seen.has(target)) throw invalid(`duplicate mount target ${target}`);
      seen.add(target);
    }
    const p: Planned = { m, target };
    let key = mountKeyText(m, target);
    const dir = m.from ? d.namedDir?.(m.from) : undefined;
    if (dir && m.type === 'cache') throw notImplemented(`from=${m.from}: a cache mount seeded from a local directory build context is not implemented in Dray`);
    if (m.type === 'bind' && dir) {
      const rel = cleanPath('/' + m.source).slice(1);
      const [item] = await resolveSources(dir.tree, [rel || '.'], { what: 'RUN --mount=type=bind', fromContext: true });
      p.item = item;
      p.ctx = dir;
      key += `,context=${m.from},content=${(await hashSources([item])).digest}`;
    } else if ((m.type === 'bind' || m.type === 'cache') && m.from) {
      const image = await d.resolveFrom(m.from).catch((e) => { throw invalid(`from=${m.from}: ${errorMessage(e)}`); });
      if (!image) throw invalid(`from=${m.from}: the stage is empty (FROM scratch with no steps)`);
      p.image = image;
      key += `,image=${image.id}`;
    } else if (m.type === 'bind') {
      const rel = cleanPath('/' + m.source).slice(1);
      const [item] = await resolveSources(d.ctx.tree, [rel || '.'], { what: 'RUN --mount=type=bind', fromContext: true });
      p.item = item;
      key += `,content=${(await hashSources([item])).digest}`;
    } else if (m.type === 'secret' && m.required && !d.secrets?.has(m.id)) {
      throw invalid(`secret ${m.id}: not found (pass it with dray build --secret id=${m.id},src=<file>)`);
    }
    keys.push(key);
    planned.push(p);
  }
  return { planned, keyText: keys.length ? `\nmounts: ${keys.join(' ; ')}` : '' };
}

export async function acquireMounts(plan: MountPlan, d: MountDeps, describe: string): Promise<AcquiredMounts> {
  const undo: (() => Promise<void>)[] = [];
  const release = async () => {
    for (const u of undo.reverse().splice(0)) await u().catch(() => {});
  };
  const out: AcquiredMounts = { mounts: [], tmpfs: {}, env: [], targets: [], secret: false, release };
  try {
    for (const p of plan.planned) {
      const { m, target } = p;
      if (d.signal.aborted) throw invalid('build cancelled: the client went away');
      if (target) out.targets.push(target);
      switch (m.type) {
        case 'bind': {
          let source: string;
          if (p.image) {
            const opened = await d.be.images.openView(p.image);
            undo.push(opened.close);
            source = await resolveInRoot(opened.rootfs, m.source || '/');
            if (!(await exists(source))) throw invalid(`from=${m.from}: source ${m.source || '/'} not found in ${shortId(p.image.id)}`);
          } else {
            const item = p.item!;
            (p.ctx ?? d.ctx).beforeMount();
            await item.tree.materialize(item.path);
            source = item.abs;
            if (!m.readOnly) {
              // Writes go to a copy that is thrown away with the step.
              const copy = await fsp.mkdtemp(path.join(d.ctx.scratch, 'bind-'));
              undo.push(() => fsp.rm(copy, { recursive: true, force: true }));
              const dest = path.join(copy, 'src');
              await run('cp', ['-a', '--', source, dest]);
              source = dest;
            }
          }
          out.mounts.push({ Type: 'bind', Source: source, Target: target, ReadOnly: m.readOnly, BindOptions: { Propagation: 'rprivate' } });
          break;
        }
        case 'cache': {
          let init: ((dir: string) => Promise<void>) | undefined;
          let base = '';
          if (p.image) {
            base = `from=${p.image.id}:${cleanPath('/' + m.source)}`;
            const image = p.image;
            init = async (dir) => {
              const opened = await d.be.images.openView(image);
              try {
                const src = await resolveInRoot(opened.rootfs, m.source || '/');
                const st = await fsp.stat(src).catch(() => undefined);
                if (!st?.isDirectory()) throw invalid(`from=${m.from}: source ${m.source || '/'} is not a directory in ${shortId(image.id)}`);
                if ((await fsp.readdir(src)).length) await run('cp', ['-a', '--', src + '/.', dir + '/']);
              } finally {
                await opened.close();
              }
            };
          }
          if (m.uid !== undefined || m.gid !== undefined || m.mode !== undefined) base += `\nperm=${m.uid ?? 0}:${m.gid ?? 0}:${(m.mode ?? 0o755).toString(8)}`;
          let held: HeldCache;
          try {
            held = await d.cacheMounts.acquire({
              id: m.id, target, sharing: m.sharing, base, mode: m.mode ?? 0o755, uid: m.uid ?? 0, gid: m.gid ?? 0,
              description: `cached mount ${target} from exec ${describe}`.slice(0, 200), init, signal: d.signal,
            });
          } catch (e) { throw invalid(`cache ${m.id}: ${errorMessage(e)}`); }
          undo.push(async () => held.release());
          let source = held.dir;
          // Without from, source is a directory inside the cache.
          if (!p.image && m.source && cleanPath('/' + m.source) !== '/') {
            source = await resolveInRoot(held.dir, m.source);
            await fsp.mkdir(source, { recursive: true, mode: m.mode ?? 0o755 });
          }
          out.mounts.push({ Type: 'bind', Source: source, Target: target, ReadOnly: m.readOnly, BindOptions: { Propagation: 'rprivate' } });
          break;
        }
        case 'tmpfs':
          // exec: BuildKit's tmpfs mounts allow running what is written there (Docker's --tmpfs does not).
          out.tmpfs[target] = ['exec', ...(m.size ? [`size=${m.size}`] : [])].join(',');
          break;
        case 'ssh': {
          if (!d.ssh?.has(m.id)) break; // not required: nothing is mounted
          // Owner and mode as the mount asks (BuildKit: 0600, root).
          const sock = await d.ssh.socket(m.id, m.uid ?? 0, m.gid ?? 0, m.mode ?? 0o600);
          out.mounts.push({ Type: 'bind', Source: sock, Target: target, ReadOnly: false, BindOptions: { Propagation: 'rprivate' } });
          if (!out.env.some((e) => e.startsWith('SSH_AUTH_SOCK='))) out.env.push(`SSH_AUTH_SOCK=${target}`);
          break;
        }
        case 'secret': {
          if (!d.secrets?.has(m.id)) break; // not required: nothing is mounted
          out.secret = true;
          if (m.env) out.env.push(`${m.env}=${d.secrets.value(m.id)!.toString('utf8')}`);
          if (target) {
            const file = await d.secrets.file(m.id, m.mode ?? 0o400, m.uid ?? 0, m.gid ?? 0);
            undo.push(() => fsp.rm(file, { force: true }));
            out.mounts.push({ Type: 'bind', Source: file, Target: target, ReadOnly: true, BindOptions: { Propagation: 'rprivate' } });
          }
          break;
        }
      }
    }
    // Parents before children: a mount inside another one's target is made after it.
    out.mounts.sort((a, b) => depth(a.Target) - depth(b.Target));
    return out;
  } catch (e) {
    await release();
    throw e;
  }
}

const depth = (p: string) => p.split('/').filter(Boolean).length;

async function exists(p: string): Promise<boolean> {
  return fsp.lstat(p).then(() => true, () => false);
}
