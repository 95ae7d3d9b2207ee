// Bundles each entry point into one file so the CLI starts without loading TypeScript or many modules.
import { build } from 'esbuild';
import { chmodSync } from 'node:fs';

const entries = { dray: 'src/cli/main.ts', drayd: 'src/daemon/main.ts' };
await Promise.all(Object.entries(entries).map(async ([name, entry]) => {
  const outfile = `dist/${name}.js`;
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    sourcemap: 'linked',
    minifyWhitespace: false,
    banner: { js: '#!/usr/bin/env node' },
    // native addon: loaded from node_modules at run time
    external: ['node-unix-socket'],
    logLevel: 'warning',
  });
  chmodSync(outfile, 0o755);
}));
