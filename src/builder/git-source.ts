// ADD <git url>: a repository at a ref, cloned by drayd. BuildKit's URL forms:
//   https://host/path/repo.git[#ref[:subdir]]   git://host/path[#…]   git@host:path[#…]   ssh://…
// The ref is resolved to a commit first (git ls-remote): that commit, the subdirectory and
// --keep-git-dir are the step's cache key, so a cached step clones nothing. A miss fetches that
// one commit (depth 1; a server that refuses a bare commit gets a full fetch). `.git` is removed
// unless --keep-git-dir=true. Git never prompts: a repository that wants credentials fails.
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { invalid } from '../lib/errors';
import { run, ExecError } from '../lib/exec';

export interface GitSource { url: string; ref: string; subdir: string }

/** Whether an ADD source is a git repository (rather than a file URL or a context path). */
export function isGitUrl(s: string): boolean {
  if (/^git@[^:]+:/.test(s) || /^(git|ssh):\/\//i.test(s)) return true;
  const noFrag = s.split('#')[0];
  return /^https?:\/\//i.test(s) && /\.git\/?$/.test(noFrag);
}

export function parseGitUrl(s: string): GitSource {
  const hash = s.indexOf('#');
  const url = hash < 0 ? s : s.slice(0, hash);
  const frag = hash < 0 ? '' : s.slice(hash + 1);
  const colon = frag.indexOf(':');
  const ref = colon < 0 ? frag : frag.slice(0, colon);
  const subdir = colon < 0 ? '' : frag.slice(colon + 1);
  if (ref.startsWith('-') || /[\s~^?*[\\]|\.\.|@\{/.test(ref)) throw invalid(`invalid git ref ${JSON.stringify(ref)} in ${s}`);
  if (subdir.split('/').includes('..')) throw invalid(`invalid git subdirectory ${JSON.stringify(subdir)} in ${s}`);
  return { url, ref, subdir: subdir.replace(/^\/+|\/+$/g, '') };
}

const GIT_ENV = { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: '/bin/false', SSH_ASKPASS: '/bin/false', GIT_SSH_COMMAND: 'ssh -o BatchMode=yes', GIT_CONFIG_NOSYSTEM: '1', HOME: '/nonexistent' };
const TIMEOUT = 10 * 60_000;

async function git(args: string[], cwd?: string): Promise<string> {
  try {
    return (await run('git', ['-c', 'protocol.file.allow=never', ...args], { env: GIT_ENV, cwd, timeoutMs: TIMEOUT })).stdout;
  } catch (e) {
    const msg = e instanceof ExecError ? (e.result.stderr || e.result.stdout).trim().split('\n').filter((l) => !/^hint:/.test(l)).join('; ') : String((e as Error).message);
    throw invalid(msg || `git ${args[0]} failed`);
  }
}

/** The commit `src.ref` names (HEAD without one). */
export async function resolveCommit(src: GitSource): Promise<string> {
  if (/^[0-9a-f]{40}$/.test(src.ref)) return src.ref;
  const want = src.ref || 'HEAD';
  let out: string;
  try { out = await git(['ls-remote', '--', src.url, want]); } catch (e) {
    throw invalid(`failed to fetch git repository ${src.url}: ${(e as Error).message}`);
  }
  const lines = out.split('\n').filter(Boolean).map((l) => l.split('\t'));
  // A tag's peeled commit (^{}) over the tag object; a branch over a tag of the same name, as git does.
  const pick = (name: string) => lines.find((l) => l[1] === `${name}^{}`) ?? lines.find((l) => l[1] === name);
  const hit = want === 'HEAD' ? pick('HEAD') : pick(`refs/heads/${want}`) ?? pick(`refs/tags/${want}`) ?? pick(want);
  if (!hit) throw invalid(`git repository ${src.url}: ref ${JSON.stringify(want)} not found`);
  return hit[0];
}

/** Clones `commit` of `src` into `dir` (made empty); the subdirectory's path, `.git` gone unless kept. */
export async function fetchCommit(src: GitSource, commit: string, dir: string, keepGitDir: boolean): Promise<string> {
  await fsp.mkdir(dir, { recursive: true });
  await git(['init', '-q', dir]);
  await git(['remote', 'add', 'origin', src.url], dir);
  // A named ref is fetched by name (every server gives that); a commit by its hash, which a server
  // without uploadpack.allowReachableSHA1InWant refuses: then the whole history.
  const first = !src.ref ? 'HEAD' : /^[0-9a-f]{40}$/.test(src.ref) ? commit : src.ref;
  try {
    await git(['fetch', '-q', '--depth', '1', 'origin', first], dir);
  } catch {
    await git(['fetch', '-q', '--tags', 'origin'], dir).catch((e) => { throw invalid(`failed to fetch git repository ${src.url}: ${(e as Error).message}`); });
  }
  await git(['-c', 'advice.detachedHead=false', 'checkout', '-q', commit], dir).catch((e) => { throw invalid(`git repository ${src.url}: cannot check out ${commit}: ${(e as Error).message}`); });
  if (!keepGitDir) await fsp.rm(path.join(dir, '.git'), { recursive: true, force: true });
  if (!src.subdir) return dir;
  const sub = path.join(dir, src.subdir);
  const real = await fsp.realpath(sub).catch(() => undefined);
  const root = await fsp.realpath(dir);
  if (!real || (real !== root && !real.startsWith(root + '/'))) throw invalid(`git repository ${src.url}: subdirectory ${src.subdir} not found at ${commit.slice(0, 12)}`);
  if (!(await fsp.stat(real)).isDirectory()) throw invalid(`git repository ${src.url}: ${src.subdir} is not a directory`);
  return real;
}
