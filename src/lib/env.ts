/** Docker's ReplaceOrAppendEnvValues: overrides replace defaults by key; a bare "KEY" unsets it. */
export function mergeEnv(defaults: readonly string[] | null | undefined, overrides: readonly string[] | null | undefined): string[] {
  const out = [...(defaults ?? [])];
  const key = (e: string) => (e.includes('=') ? e.slice(0, e.indexOf('=')) : e);
  for (const e of overrides ?? []) {
    const k = key(e);
    const i = out.findIndex((d) => key(d) === k);
    if (!e.includes('=')) { if (i >= 0) out.splice(i, 1); continue; }
    if (i >= 0) out[i] = e;
    else out.push(e);
  }
  return out;
}
