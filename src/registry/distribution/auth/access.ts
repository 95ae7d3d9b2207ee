// What a request needs (Docker's token scopes: "repository:<name>:pull,push", "registry:catalog:*")
// and what an account is granted (auth.access rules in the config, or the default: a signed-in user
// may do anything, an anonymous one nothing).
import type { AccessRule } from '../config';

export interface Access {
  type: string;
  name: string;
  actions: string[];
}

export const CATALOG: Access = { type: 'registry', name: 'catalog', actions: ['*'] };

/** "repository:library/busybox:pull,push" → its parts; names may not hold ":" but a type may carry a class. */
export function parseScope(s: string): Access | undefined {
  const first = s.indexOf(':');
  const last = s.lastIndexOf(':');
  if (first <= 0 || last === first) return undefined;
  return { type: s.slice(0, first).replace(/\(.*\)$/, ''), name: s.slice(first + 1, last), actions: s.slice(last + 1).split(',').filter(Boolean) };
}

export const scopeText = (a: Access) => `${a.type}:${a.name}:${a.actions.join(',')}`;

function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return re.test(name);
}

export class AccessPolicy {
  constructor(private rules: AccessRule[] | undefined) {}

  /** The actions `user` (undefined: anonymous) may take on a resource. */
  granted(user: string | undefined, type: string, name: string): Set<string> {
    const out = new Set<string>();
    if (type === 'registry' && name === 'catalog') {
      // The catalog is filtered by what the caller may pull: anyone who may pull anything may ask.
      if (user !== undefined || this.rules?.some((r) => r.account === 'anonymous')) out.add('*');
      return out;
    }
    if (type !== 'repository') return out;
    if (!this.rules) {
      if (user !== undefined) for (const a of ['pull', 'push', 'delete']) out.add(a);
      return out;
    }
    for (const r of this.rules) {
      const who = r.account === 'anonymous' ? user === undefined : r.account === '*' ? user !== undefined : r.account === user;
      if (!who || !globMatch(r.repository, name)) continue;
      for (const a of r.actions) {
        if (a === '*') ['pull', 'push', 'delete'].forEach((x) => out.add(x));
        else out.add(a);
      }
    }
    return out;
  }

  allows(user: string | undefined, need: Access): boolean {
    const g = this.granted(user, need.type, need.name);
    return need.actions.every((a) => g.has(a) || g.has('*'));
  }
}
