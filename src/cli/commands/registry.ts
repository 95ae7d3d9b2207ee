// dray registry serve|gc|scrub (Dray extension): an OCI Distribution registry server. Its code
// lives in a bundle of its own (dist/dray-registry.js, from src/registry/distribution/main.ts),
// required here at run time through a path the bundler cannot follow, so every other command
// starts without it. It needs no drayd.
import * as path from 'node:path';
import { existsSync } from 'node:fs';
import type { Command } from '../command';
import { StatusError } from '../command';
import { strFlag, boolFlag } from '../flags';

type RegistryModule = typeof import('../../registry/distribution/main');

function registryModule(): RegistryModule {
  const bundled = path.join(__dirname, 'dray-registry.js');
  // from the sources (tsx) the bundle is not beside us: the module itself is
  const file = existsSync(bundled) ? bundled : path.join(__dirname, '..', '..', 'registry', 'distribution', 'main');
  return require(file) as RegistryModule;
}

const storageFlags = [
  strFlag('config', undefined, 'Configuration file (YAML or JSON; flags override it)'),
  strFlag('storage', undefined, 'Store everything in this directory (filesystem storage)'),
  boolFlag('debug', 'D', 'Debug logging'),
];

function common(f: Record<string, any>) {
  return { config: f.config, storage: f.storage, debug: f.debug };
}

/** Configuration mistakes are the user's: their message, exit 1, no stack. */
async function guarded(fn: () => Promise<number>): Promise<number> {
  try { return await fn(); } catch (e: any) {
    if (e?.constructor?.name === 'ConfigError' || e?.code === 'EADDRINUSE' || e?.code === 'EACCES' || e?.code === 'ENOENT') {
      throw new StatusError(1, `dray registry: ${e.message}`);
    }
    throw e;
  }
}

export const serve: Command = {
  usage: '[OPTIONS]',
  description: 'Run an OCI Distribution registry in the foreground (Dray extension)',
  flags: [
    ...storageFlags,
    strFlag('listen', undefined, 'Address to listen on, HOST:PORT (default "127.0.0.1:5000")'),
    strFlag('tls-cert', undefined, 'TLS certificate (PEM); with --tls-key, serve HTTPS'),
    strFlag('tls-key', undefined, 'TLS private key (PEM)'),
    strFlag('htpasswd', undefined, 'Require basic auth against this htpasswd file (bcrypt entries)'),
    strFlag('proxy', undefined, 'Pull-through cache of this upstream registry URL'),
    strFlag('gc-interval', undefined, 'Collect garbage this often while serving, 0 for never (default "24h")'),
    strFlag('gc-delay', undefined, 'Keep unreferenced blobs this young (default "1h")'),
    strFlag('scrub-interval', undefined, 'Re-verify every blob this often, 0 for never (default "168h")'),
    strFlag('upload-timeout', undefined, 'Purge uploads idle this long (default "1h")'),
  ],
  args: { exact: 0 },
  async run(_ctx, f) {
    return guarded(() => registryModule().serve({
      ...common(f), listen: f.listen, tlsCert: f['tls-cert'], tlsKey: f['tls-key'], htpasswd: f.htpasswd, proxy: f.proxy,
      gcInterval: f['gc-interval'], gcDelay: f['gc-delay'], scrubInterval: f['scrub-interval'], uploadTimeout: f['upload-timeout'],
    }));
  },
};

export const gc: Command = {
  usage: '[OPTIONS]',
  description: 'Delete blobs no manifest references; safe while the registry serves (Dray extension)',
  flags: [
    ...storageFlags,
    boolFlag('dry-run', 'd', 'Only list what would be deleted'),
    boolFlag('delete-untagged', 'm', 'Also delete manifests no tag reaches'),
    strFlag('delay', undefined, 'Keep unreferenced blobs written or used this recently (default: the config\'s gc.delay, "1h")'),
    boolFlag('json', undefined, 'Print the report as JSON'),
  ],
  args: { exact: 0 },
  async run(ctx, f) {
    return guarded(() => registryModule().gc({ ...common(f), dryRun: f['dry-run'], deleteUntagged: f['delete-untagged'] || undefined, delay: f.delay, json: f.json }, ctx.out));
  },
};

export const scrub: Command = {
  usage: '[OPTIONS]',
  description: 'Check every stored blob against its digest; exit 1 on corruption (Dray extension)',
  flags: [
    ...storageFlags,
    strFlag('rate', undefined, 'Read at most this much per second, e.g. "100MB" (default: unlimited)'),
    boolFlag('json', undefined, 'Print the report as JSON'),
  ],
  args: { exact: 0 },
  async run(ctx, f) {
    return guarded(() => registryModule().scrubCommand({ ...common(f), rate: f.rate, json: f.json }, ctx.out));
  },
};
