// dray compose: the command table's entry. Compose's code, with its YAML parser and the compiled
// Compose Specification schema, is a bundle of its own (dist/dray-compose.js, ~0.6 MB) that only
// `dray compose` loads, so no other command pays to read it. It runs from a V8 code cache kept
// beside it (like dray-main.js, src/cli/loader.ts): compiling its functions anew, the schema's
// validator above all, cost a no-op `up` ~15 ms.
import type { Command, Ctx } from '../command';
import type { FlagValues } from '../flags';
import { boolFlag, intFlag, listFlag, strFlag } from '../flags';

const globalFlags = [
  strFlag('ansi', undefined, 'Control when to print ANSI control characters ("never"|"always"|"auto")', 'auto'),
  boolFlag('compatibility', undefined, 'Run compose in backward compatibility mode'),
  boolFlag('dry-run', undefined, 'Execute command in dry run mode'),
  listFlag('env-file', undefined, 'Specify an alternate environment file', 'stringArray'),
  listFlag('file', 'f', 'Compose configuration files', 'stringArray'),
  intFlag('parallel', undefined, 'Control max parallelism, -1 for unlimited', -1),
  listFlag('profile', undefined, 'Specify a profile to enable', 'stringArray'),
  strFlag('progress', undefined, 'Set type of progress output (auto, tty, plain, json, quiet)'),
  strFlag('project-directory', undefined, 'Specify an alternate working directory\n(default: the path of the, first specified, Compose file)'),
  strFlag('project-name', 'p', 'Project name'),
];

type ComposeMain = { main(ctx: Ctx, globals: FlagValues, argv: string[]): Promise<number>; commandList(): string };

/** Runs dist/dray-compose.js through a code cache; under tsx (no bundle beside us), the sources. */
function loadCompose(): ComposeMain {
  const path = require('node:path') as typeof import('node:path');
  const fs = require('node:fs') as typeof import('node:fs');
  const bundle = path.join(__dirname, 'dray-compose.js');
  // A computed name: esbuild must not pull the sources into this bundle.
  const req = module.require.bind(module);
  if (!fs.existsSync(bundle)) return req(['..', '..', 'compose', 'cli', 'main'].join('/'));
  const { Script } = require('node:vm') as typeof import('node:vm');
  const Module = module.constructor as any;
  const m = new Module(bundle, module);
  m.filename = bundle;
  m.paths = Module._nodeModulePaths(__dirname);
  // V8 takes a cache only from a process with the same flags: the warm CLI's (single-threaded,
  // expose-gc…) and a plain node's each keep their own, or they would overwrite each other's.
  const flags = process.execArgv.join(' ');
  const cacheFile = `${bundle}.${flags ? require('node:crypto').createHash('sha256').update(flags).digest('hex').slice(0, 8) : 'plain'}.cache`;
  let key = '';
  let source: string;
  try {
    const st = fs.statSync(bundle, { bigint: true });
    key = `${process.version} ${process.arch} ${st.size} ${st.mtimeNs} ${st.ino}`;
    source = fs.readFileSync(bundle, 'utf8');
  } catch { return m.require(bundle); }
  let cached: Buffer | undefined;
  try {
    const raw = fs.readFileSync(cacheFile);
    const n = raw.readUInt32LE(0);
    if (raw.subarray(4, 4 + n).toString('utf8') === key) cached = raw.subarray(4 + n);
  } catch { /* none yet */ }
  const wrapped = `(function (exports, require, module, __filename, __dirname) {${source.startsWith('#!') ? `//${source.slice(2)}` : source}\n})`;
  const script = new Script(wrapped, { filename: bundle, cachedData: cached });
  if (!cached || script.cachedDataRejected) {
    // Written at exit, with the functions this run compiled (the warm CLI reports the status first).
    process.once('exit', () => {
      const tmp = `${cacheFile}.${process.pid}.tmp`;
      try {
        const h = Buffer.from(key);
        const len = Buffer.alloc(4);
        len.writeUInt32LE(h.length, 0);
        fs.writeFileSync(tmp, Buffer.concat([len, h, script.createCachedData()]), { mode: 0o644 });
        fs.renameSync(tmp, cacheFile);
      } catch { try { fs.unlinkSync(tmp); } catch { /* never written */ } }
    });
  }
  const r = Object.assign((id: string) => m.require(id), { resolve: (id: string) => Module._resolveFilename(id, m), main: m, cache: Module._cache });
  script.runInThisContext()(m.exports, r, m, bundle, path.dirname(bundle));
  m.loaded = true;
  return m.exports as ComposeMain;
}

export const compose: Command = {
  usage: '[OPTIONS] COMMAND',
  description: `Define and run multi-container applications (the Compose Specification)

Commands:
  build, config, cp, create, down, events, exec, images, kill, logs, ls, pause, port, ps, pull,
  push, restart, rm, run, start, stop, top, unpause, up, version, wait, watch

Run 'dray compose COMMAND --help' for more information on a command.`,
  flags: globalFlags,
  interspersed: false,
  async run(ctx, f, args) {
    const t0 = process.env.DRAY_COMPOSE_TRACE ? performance.now() : 0;
    const c = loadCompose();
    if (t0) process.stderr.write(`[trace] bundle loaded in ${(performance.now() - t0).toFixed(1)} ms (process at ${performance.now().toFixed(1)} ms)\n`);
    return c.main(ctx, f, args);
  },
};
