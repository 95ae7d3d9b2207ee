// config: the project model as the loader resolved it (interpolated, merged, canonical), in YAML
// or JSON; or parts of it (--services, --volumes, --images, --profiles, --hash).
import { writeFileSync } from 'node:fs';
import * as Y from 'yaml';
import { boolFlag, strFlag } from '../../cli/flags';
import { ComposeError } from '../errors';
import { serviceHash } from '../hash';
import { imageName } from '../convert';
import type { Project, Service } from '../model';
import type { ComposeCommand } from './context';

const isEmpty = (v: unknown) => (Array.isArray(v) && !v.length) || (!!v && typeof v === 'object' && !Array.isArray(v) && !Object.keys(v).length);

function sortedClean(v: unknown): unknown {
  if (Array.isArray(v)) return v.map((x) => sortedClean(x));
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x === undefined || isEmpty(x)) continue;
      out[k] = sortedClean(x);
    }
    return out;
  }
  return v;
}

function printableService(s: Service): Record<string, unknown> {
  const { name: _n, ...rest } = s;
  const out = sortedClean(rest) as Record<string, unknown>;
  // A service's networks keep their null entries (`default: null`), as Docker Compose prints them.
  if (s.networks && Object.keys(s.networks).length) out.networks = Object.fromEntries(Object.keys(s.networks).sort().map((k) => [k, s.networks[k] ? sortedClean(s.networks[k]) : null]));
  return out;
}

/** The model as `config` prints it. */
export function printableModel(p: Project): Record<string, unknown> {
  const out: Record<string, unknown> = { name: p.name, services: Object.fromEntries(Object.keys(p.services).sort().map((n) => [n, printableService(p.services[n])])) };
  const usedNets = new Set(Object.values(p.services).flatMap((s) => Object.keys(s.networks)));
  const nets = Object.keys(p.networks).filter((k) => usedNets.has(k) || k !== 'default').sort();
  if (nets.length) out.networks = Object.fromEntries(nets.map((k) => [k, sortedClean(p.networks[k])]));
  for (const kind of ['volumes', 'secrets', 'configs'] as const) {
    const keys = Object.keys(p[kind]).sort();
    if (keys.length) out[kind] = Object.fromEntries(keys.map((k) => [k, sortedClean(p[kind][k])]));
  }
  for (const [k, v] of Object.entries(p.extensions)) out[k] = v;
  return out;
}

export const config: ComposeCommand = {
  usage: '[OPTIONS] [SERVICE...]',
  description: 'Parse, resolve and render compose file in canonical format',
  flags: [
    strFlag('format', undefined, 'Format the output. Values: [yaml | json]', 'yaml'),
    strFlag('hash', undefined, 'Print the service config hash, one per line.'),
    boolFlag('images', undefined, 'Print the image names, one per line.'),
    boolFlag('no-interpolate', undefined, "Don't interpolate environment variables"),
    boolFlag('no-normalize', undefined, "Don't normalize compose model"),
    boolFlag('no-path-resolution', undefined, "Don't resolve file paths"),
    strFlag('output', 'o', 'Save to file (default to stdout)'),
    boolFlag('profiles', undefined, 'Print the profile names, one per line.'),
    boolFlag('quiet', 'q', 'Only validate the configuration, don\'t print anything'),
    boolFlag('resolve-image-digests', undefined, 'Pin image tags to digests'),
    boolFlag('services', undefined, 'Print the service names, one per line.'),
    boolFlag('volumes', undefined, 'Print the volume names, one per line.'),
    boolFlag('networks', undefined, 'Print the network names, one per line.'),
  ],
  async run(cc, f, args) {
    if (f['no-interpolate'] || f['no-normalize'] || f['no-path-resolution'] || f['resolve-image-digests']) {
      const which = ['no-interpolate', 'no-normalize', 'no-path-resolution', 'resolve-image-digests'].find((k) => f[k]);
      throw new ComposeError(`config --${which}: not implemented in dray compose`);
    }
    const p = cc.project(args);
    if (args.length) {
      const keep = new Set(require('../planner').selectServices(p, args) as string[]);
      for (const n of Object.keys(p.services)) if (!keep.has(n)) delete p.services[n];
    }
    const write = (s: string) => { if (f.output) writeFileSync(f.output, s); else process.stdout.write(s); };
    if (f.quiet) return 0;
    if (f.services) { write(Object.keys(p.services).map((n) => `${n}\n`).join('')); return 0; }
    if (f.volumes) { write(Object.keys(p.volumes).sort().map((n) => `${n}\n`).join('')); return 0; }
    if (f.networks) { write(Object.keys(p.networks).sort().map((n) => `${n}\n`).join('')); return 0; }
    if (f.images) { write(Object.values(p.services).map((s) => `${imageName(p, s)}\n`).join('')); return 0; }
    if (f.profiles) {
      const all = new Set([...Object.values(p.services), ...Object.values(p.disabled)].flatMap((s) => s.profiles ?? []));
      write([...all].sort().map((n) => `${n}\n`).join(''));
      return 0;
    }
    if (f.hash !== undefined) {
      const names = f.hash === '*' ? Object.keys(p.services) : String(f.hash).split(',').map((s) => s.trim()).filter(Boolean);
      let out = '';
      for (const n of names) {
        const s = p.services[n];
        if (!s) throw new ComposeError(`no such service: ${n}`);
        out += `${n} ${serviceHash(s)}\n`;
      }
      write(out);
      return 0;
    }
    const model = printableModel(p);
    if (f.format === 'json') write(`${JSON.stringify(model, null, 2)}\n`);
    else if (f.format === 'yaml') write(Y.stringify(model, { lineWidth: 0, aliasDuplicateObjects: false }));
    else throw new ComposeError(`unsupported format ${JSON.stringify(f.format)}`);
    return 0;
  },
};
