// Turns Compose files into one validated project model:
//   1. which files: -f (several, in order; "-" is stdin), else COMPOSE_FILE, else compose.yaml,
//      compose.yml, docker-compose.yaml or docker-compose.yml in the working directory or the
//      nearest parent that has one, with its compose.override.yaml (or docker-compose.override.yml)
//   2. the environment: the process's over the .env file (--env-file, else <project dir>/.env)
//   3. each file: parsed (yaml.ts), interpolated (interpolate.ts), validated against the Compose
//      Specification's schema (schema.ts, before anything else looks at it), put in canonical form
//      (canonical.ts), its `include`s loaded as projects of their own and its `extends` resolved,
//      and merged over the files before it (merge.ts)
//   4. the project name: -p, COMPOSE_PROJECT_NAME, the files' `name:`, the project directory's name
//   5. the model (model.ts): defaults, env files, profiles (--profile, COMPOSE_PROFILES), references
// Errors name the file, the path in it and what is wrong.
import { existsSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { ComposeError } from './errors';
import { parseDotenv } from './dotenv';
import { interpolateTree } from './interpolate';
import { parseYaml, positionOf, ParsedFile } from './yaml';
import { validateModel } from './schema';
import { canonicalFile, hostPath } from './canonical';
import { mergeModels, mergeValues, stripMarkers } from './merge';
import { normalizeProject, Project } from './model';

type Dict = Record<string, any>;
const isDict = (v: unknown): v is Dict => !!v && typeof v === 'object' && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;

export interface LoadOptions {
  cwd: string;
  env: Record<string, string | undefined>;
  files?: string[];
  projectName?: string;
  projectDirectory?: string;
  envFiles?: string[];
  profiles?: string[];
  /** Services named on the command line (enabled whatever their profiles). */
  selected?: string[];
  warn?: (msg: string) => void;
  /** Reads "-" (stdin). */
  readStdin?: () => string;
}

export const DEFAULT_FILES = ['compose.yaml', 'compose.yml', 'docker-compose.yaml', 'docker-compose.yml'];
const OVERRIDE_FILES = ['compose.override.yaml', 'compose.override.yml', 'docker-compose.override.yaml', 'docker-compose.override.yml'];

/** The default files of the nearest directory, from `dir` up, that has one. */
export function findDefaultFiles(dir: string, warn?: (m: string) => void): string[] | undefined {
  let d = path.resolve(dir);
  for (;;) {
    const found = DEFAULT_FILES.filter((f) => existsSync(path.join(d, f)));
    if (found.length) {
      if (found.length > 1) warn?.(`Found multiple config files with supported names: ${found.map((f) => path.join(d, f)).join(', ')}\nUsing ${path.join(d, found[0])}`);
      const main = path.join(d, found[0]);
      const override = OVERRIDE_FILES.find((f) => existsSync(path.join(d, f)));
      return override ? [main, path.join(d, override)] : [main];
    }
    const up = path.dirname(d);
    if (up === d) return undefined;
    d = up;
  }
}

/** Compose's NormalizeProjectName: lowercase, only [a-z0-9_-], not starting with _ or -. */
export function normalizeProjectName(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9_-]/g, '').replace(/^[_-]+/, '');
}

const invalidName = (v: string) => new ComposeError(`invalid project name ${JSON.stringify(v)}: must consist only of lowercase alphanumeric characters, hyphens, and underscores as well as start with a letter or number`);

function readEnvFile(file: string, env: Record<string, string | undefined>, required: boolean): Record<string, string> {
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch (e: any) {
    if (e?.code === 'ENOENT' && !required) return {};
    if (e?.code === 'ENOENT') throw new ComposeError(`couldn't find env file: ${file}`);
    throw new ComposeError(`failed to read ${file}: ${e.message}`);
  }
  return Object.fromEntries(parseDotenv(text, file, (k) => env[k]));
}

interface FileContext {
  env: Record<string, string>;
  warn: (m: string) => void;
  warned: Set<string>;
  readStdin?: () => string;
  /** The chain of includes, to name a cycle. */
  including: string[];
}

function readText(file: string, ctx: FileContext): string {
  if (file === '-') return ctx.readStdin ? ctx.readStdin() : readFileSync(0, 'utf8');
  try { return readFileSync(file, 'utf8'); } catch (e: any) {
    if (e?.code === 'ENOENT') throw new ComposeError(`open ${file}: no such file or directory`);
    if (e?.code === 'EISDIR') throw new ComposeError(`${file} is not a file`);
    throw new ComposeError(`failed to read ${file}: ${e.message}`);
  }
}

/** One document of a file: interpolated, validated, canonical (paths against `base`). */
function loadDocument(p: ParsedFile, i: number, base: string, ctx: FileContext): Dict {
  const raw = p.docs[i].value;
  if (!isDict(raw)) throw new ComposeError(`validating ${p.file}: top-level object must be a mapping`);
  for (const k of Object.keys(raw)) {
    if (typeof k !== 'string') throw new ComposeError(`validating ${p.file}: non-string key`);
  }
  const interpolated = interpolateTree(raw, {
    lookup: (k) => ctx.env[k],
    warnUnset: (k) => {
      if (ctx.warned.has(k)) return;
      ctx.warned.add(k);
      ctx.warn(`The "${k}" variable is not set. Defaulting to a blank string.`);
    },
  }) as Dict;
  const err = validateModel(stripMarkers(interpolated));
  if (err) {
    const pos = positionOf(p, i, err.path);
    throw new ComposeError(`validating ${p.file}: ${err.message}${pos ? ` (${pos})` : ''}`);
  }
  if ('version' in interpolated) {
    ctx.warn(`${p.file}: the attribute \`version\` is obsolete, it will be ignored, please remove it to avoid potential confusion`);
    delete interpolated.version;
  }
  return canonicalFile(interpolated, base);
}

/** A whole file (all its documents), with includes and extends applied. */
function loadFile(file: string, base: string, ctx: FileContext, opts: LoadOptions): Dict {
  const p = parseYaml(readText(file, ctx), file);
  // Markers (!reset, !override) stay for the merge with the files before this one.
  let dict: Dict | undefined;
  for (let i = 0; i < p.docs.length; i++) {
    const doc = loadDocument(p, i, base, ctx);
    if (doc.include) applyInclude(doc, file, base, ctx, opts);
    resolveExtends(doc, file, ctx, opts);
    dict = dict ? mergeModels(dict, doc) : doc;
  }
  return dict ?? {};
}

// ---- include ----------------------------------------------------------------------------------

/**
 * Loads each `include` entry as a project of its own (its own project directory and .env) and
 * adds its services, networks, volumes, secrets and configs; the including file may not define
 * one of the same name.
 */
function applyInclude(doc: Dict, file: string, base: string, ctx: FileContext, opts: LoadOptions): void {
  for (const entry of doc.include as unknown[]) {
    const e: Dict = typeof entry === 'string' ? { path: [entry] } : { ...(entry as Dict) };
    const paths = (Array.isArray(e.path) ? e.path : [e.path]).map((x: string) => hostPath(String(x), base));
    for (const pth of paths) {
      if (ctx.including.includes(pth) || pth === file) {
        throw new ComposeError(`include cycle detected:\n${[...ctx.including, file, pth].join('\n include ')}`);
      }
    }
    const dir = e.project_directory ? hostPath(String(e.project_directory), base) : path.dirname(paths[0]);
    const envFiles = e.env_file ? (Array.isArray(e.env_file) ? e.env_file : [e.env_file]).map((x: string) => hostPath(String(x), base)) : [path.join(dir, '.env')];
    let env: Record<string, string> = {};
    for (const f of envFiles) env = { ...env, ...readEnvFile(f, ctx.env, !!e.env_file) };
    const sub: FileContext = { ...ctx, env: { ...env, ...ctx.env }, including: [...ctx.including, file] };
    let included: Dict = {};
    for (const pth of paths) included = mergeModels(included, loadFile(pth, dir, sub, opts));
    for (const kind of ['services', 'networks', 'volumes', 'secrets', 'configs']) {
      const theirs = included[kind];
      if (!isDict(theirs)) continue;
      const ours: Dict = (doc[kind] = isDict(doc[kind]) ? doc[kind] : {});
      for (const [k, v] of Object.entries(theirs)) {
        if (k in ours) {
          if (kind === 'services') throw new ComposeError(`services.${k} conflicts with imported resource`);
          continue;
        }
        ours[k] = v;
      }
    }
  }
  delete doc.include;
}

// ---- extends ----------------------------------------------------------------------------------

const otherFiles = new Map<string, Dict>();

function servicesOfFile(file: string, ctx: FileContext): Dict {
  let d = otherFiles.get(file);
  if (!d) {
    const p = parseYaml(readText(file, ctx), file);
    d = {};
    for (let i = 0; i < p.docs.length; i++) d = mergeModels(d, loadDocument(p, i, path.dirname(file), ctx));
    otherFiles.set(file, d);
  }
  if (!isDict(d.services)) throw new ComposeError(`cannot extend service in ${file}: no services section`);
  return d.services;
}

function resolveExtends(doc: Dict, file: string, ctx: FileContext, opts: LoadOptions): void {
  const services = doc.services;
  if (!isDict(services)) return;
  const resolve = (name: string, svcs: Dict, inFile: string, chain: string[]): Dict => {
    const s = svcs[name];
    if (!isDict(s) || !s.extends) return s;
    const key = `${inFile}:${name}`;
    if (chain.includes(key)) throw new ComposeError(`Circular reference with extends: ${[...chain, key].join(' -> ')}`);
    const ext = s.extends as Dict;
    if (!ext.service) throw new ComposeError(`extends.${name}.service is required`);
    const fromFile = ext.file && ext.file !== inFile ? ext.file : inFile;
    const pool = fromFile === inFile ? svcs : servicesOfFile(fromFile, ctx);
    if (!isDict(pool[ext.service])) throw new ComposeError(`cannot extend service ${JSON.stringify(name)} in ${inFile}: service ${JSON.stringify(ext.service)} not found`);
    const base = resolve(ext.service, pool, fromFile, [...chain, key]);
    const own = { ...s };
    delete own.extends;
    const merged = mergeValues(stripMarkers(base), own, ['services', name]) as Dict;
    delete merged.extends;
    return merged;
  };
  for (const name of Object.keys(services)) services[name] = resolve(name, services, file, []);
  void opts;
}

// ---- the project ------------------------------------------------------------------------------

export interface ResolvedFiles { files: string[]; workingDir: string; dotenv: Record<string, string>; envFiles: string[] }

/** Which files, which project directory, which .env: steps 1 and 2. */
export function resolveFiles(opts: LoadOptions): ResolvedFiles {
  const cwd = opts.cwd;
  const warn = opts.warn ?? (() => {});
  // COMPOSE_FILE may come from a .env of the working directory (or --project-directory).
  const early = opts.envFiles?.length
    ? opts.envFiles.reduce((acc, f) => ({ ...acc, ...readEnvFile(path.resolve(cwd, f), opts.env, true) }), {} as Record<string, string>)
    : readEnvFile(path.join(opts.projectDirectory ? path.resolve(cwd, opts.projectDirectory) : cwd, '.env'), opts.env, false);
  const envOf = (k: string) => opts.env[k] ?? early[k];
  let files: string[];
  if (opts.files?.length) files = opts.files.map((f) => (f === '-' ? '-' : path.resolve(cwd, f)));
  else if (envOf('COMPOSE_FILE')) {
    const sep = envOf('COMPOSE_PATH_SEPARATOR') || ':';
    files = envOf('COMPOSE_FILE')!.split(sep).filter(Boolean).map((f) => path.resolve(opts.projectDirectory ? path.resolve(cwd, opts.projectDirectory) : cwd, f));
  } else {
    const found = findDefaultFiles(opts.projectDirectory ? path.resolve(cwd, opts.projectDirectory) : cwd, warn);
    if (!found) throw new ComposeError('no configuration file provided: not found');
    files = found;
  }
  for (const f of files) {
    if (f === '-') continue;
    let st;
    try { st = statSync(f); } catch { throw new ComposeError(`open ${f}: no such file or directory`); }
    if (st.isDirectory()) throw new ComposeError(`${f} is a directory`);
  }
  const workingDir = opts.projectDirectory ? path.resolve(cwd, opts.projectDirectory) : files[0] === '-' ? cwd : path.dirname(files[0]);
  const envFiles = opts.envFiles?.length ? opts.envFiles.map((f) => path.resolve(cwd, f)) : [path.join(workingDir, '.env')];
  let dotenv: Record<string, string> = {};
  for (const f of envFiles) dotenv = { ...dotenv, ...readEnvFile(f, { ...opts.env, ...dotenv }, !!opts.envFiles?.length) };
  return { files, workingDir, dotenv, envFiles: envFiles.filter((f) => existsSync(f)) };
}

export function loadProject(opts: LoadOptions): Project {
  const warn = opts.warn ?? (() => {});
  const r = resolveFiles(opts);
  const environment: Record<string, string> = { ...r.dotenv };
  for (const [k, v] of Object.entries(opts.env)) if (v !== undefined) environment[k] = v;
  const ctx: FileContext = { env: environment, warn, warned: new Set(), readStdin: opts.readStdin, including: [] };
  otherFiles.clear();
  let dict: Dict = {};
  for (const f of r.files) dict = mergeModels(dict, loadFile(f, r.workingDir, ctx, opts));
  if (!Object.keys(dict).length) throw new ComposeError('empty compose file');

  let name: string;
  if (opts.projectName) {
    if (normalizeProjectName(opts.projectName) !== opts.projectName) throw invalidName(opts.projectName);
    name = opts.projectName;
  } else if (environment.COMPOSE_PROJECT_NAME) {
    if (normalizeProjectName(environment.COMPOSE_PROJECT_NAME) !== environment.COMPOSE_PROJECT_NAME) throw invalidName(environment.COMPOSE_PROJECT_NAME);
    name = environment.COMPOSE_PROJECT_NAME;
  } else if (typeof dict.name === 'string' && dict.name) {
    name = normalizeProjectName(dict.name);
  } else {
    name = normalizeProjectName(path.basename(r.workingDir));
  }
  if (!name) throw new ComposeError('project name must not be empty');
  environment.COMPOSE_PROJECT_NAME ??= name;

  const profiles = opts.profiles?.length ? opts.profiles : (environment.COMPOSE_PROFILES ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  return normalizeProject({
    name, workingDir: r.workingDir, configFiles: r.files, envFiles: r.envFiles, environment, dict, profiles, selected: opts.selected, warn,
  });
}
