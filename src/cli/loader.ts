// dist/dray.js: starts the CLI bundle (dist/dray-main.js) from a V8 code cache kept beside it.
// Node compiles each function of a script the first time it runs; a dray command runs a few
// hundred of them once, and compiling them is several milliseconds of a ~40 ms run. A cache holds
// the bytecode of what an earlier run of the same command compiled: one file per command, since
// V8 deserializes a whole cache up front and one cache for every command cost each of them ~3 ms
// more (`dray --version` from a 66 KB cache of its own against a 199 KB shared one). Caches are
// best-effort files: missing, stale, rejected by V8 or not writable, the bundle compiles as usual.
import { readFileSync, statSync, writeFileSync, renameSync, unlinkSync, mkdirSync, readdirSync } from 'node:fs';
import { Script } from 'node:vm';
import { join } from 'node:path';
import { WARM_WORKER_ENV } from '../lib/warm-cli';

// The CommonJS loader's Module class, which Node has loaded already; require('node:module') would
// load the public module API on top (ESM loader, source maps: ~1 ms of every command here).
const Module = module.constructor as typeof import('node:module');

const bundle = join(__dirname, 'dray-main.js');
/** scripts/build.mjs empties it: a cache is only good for the bundle it was made from. */
const cacheDir = `${bundle}.caches`;
/** Caches kept at most: a mistyped command gets one too. */
const MAX_CACHES = 64;
const GROUPS = new Set(['builder', 'container', 'image', 'volume', 'network', 'system', 'daemon']);
const VALUE_FLAGS = new Set(['-H', '--host', '-c', '--context', '-l', '--log-level', '--config', '--tlscacert', '--tlscert', '--tlskey']);

/** "ps", "image-ls", "_" for none (--version): the command words, as a file name. */
function commandKey(argv: string[]): string {
  let i = 0;
  while (i < argv.length && argv[i].startsWith('-')) i += VALUE_FLAGS.has(argv[i]) ? 2 : 1;
  const w = argv[i] ?? '';
  const key = GROUPS.has(w) && argv[i + 1] && !argv[i + 1].startsWith('-') ? `${w} ${argv[i + 1]}` : w;
  if (key === '') return '_';
  return /^[a-z][a-z -]{0,40}$/.test(key) ? key.replace(/ /g, '-') : '';
}

function start(): void {
  // The bundle's own module object: build-context.ts requires through module.require.
  const m = new Module(bundle, module);
  m.filename = bundle;
  m.paths = (Module as any)._nodeModulePaths(__dirname);
  const req = (id: string) => m.require(id);
  if (process.env.DRAY_NO_COMPILE_CACHE) { req(bundle); return; }
  let source: string;
  let key: string;
  try {
    const st = statSync(bundle, { bigint: true });
    // V8 checks its own version and flags, and the source only by length: the file's identity
    // keeps a cache from outliving a rebuild of the same size.
    key = `${process.version} ${process.arch} ${st.size} ${st.mtimeNs} ${st.ino}`;
    // The bundle is ASCII (scripts/build.mjs checks), and latin1 decodes it faster than utf8.
    source = readFileSync(bundle, 'latin1');
  } catch { req(bundle); return; }
  // A waiting CLI process (warm-worker.ts) does not know its command yet: it has a cache of its own.
  const cmd = process.env[WARM_WORKER_ENV] ? 'warm' : commandKey(process.argv.slice(2));
  const cacheFile = cmd && join(cacheDir, `${cmd}.cache`);
  let data: Buffer | undefined;
  let existed = false;
  /** The cache file's change time as read: another process may write one meanwhile. */
  let readCtime = -1;
  try {
    readCtime = statSync(cacheFile).ctimeMs;
    const raw = readFileSync(cacheFile);
    existed = true;
    const n = raw.readUInt32LE(0);
    if (raw.subarray(4, 4 + n).toString('utf8') === key) data = raw.subarray(4 + n);
  } catch { /* no cache yet, or no command to keep one for */ }
  const wrapped = `(function (exports, require, module, __filename, __dirname) {${source.startsWith('#!') ? `//${source.slice(2)}` : source}\n})`;
  let script: Script;
  try {
    // No importModuleDynamically: a dynamic import() in the bundle would fail here (and its node
    // 20 option is experimental and lost across the cache), so the CLI uses require() only.
    script = new Script(wrapped, { filename: bundle, cachedData: data });
  } catch { req(bundle); return; }
  if (cacheFile && (!data || script.cachedDataRejected)) {
    // At exit the functions this run compiled are in the script; 'exit' runs on process.exit too.
    // The warm CLI's forked processes share this listener (warm-worker.ts): the first to end
    // writes the cache, with what the zygote and its command compiled, and the rest find it new.
    process.once('exit', () => {
      const tmp = `${cacheFile}.${process.pid}.tmp`;
      try {
        try { if (statSync(cacheFile).ctimeMs !== readCtime) return; } catch { /* none yet */ }
        mkdirSync(cacheDir, { recursive: true });
        if (!existed && readdirSync(cacheDir).length >= MAX_CACHES) return;
        const h = Buffer.from(key);
        const len = Buffer.alloc(4);
        len.writeUInt32LE(h.length, 0);
        writeFileSync(tmp, Buffer.concat([len, h, script.createCachedData()]), { mode: 0o644 });
        renameSync(tmp, cacheFile);
      } catch {
        try { unlinkSync(tmp); } catch { /* never written */ }
      }
    });
  }
  const r = Object.assign(req, { resolve: (id: string) => (Module as any)._resolveFilename(id, m), main: m, cache: (Module as any)._cache });
  script.runInThisContext()(m.exports, r, m, bundle, __dirname);
  m.loaded = true;
}

start();
