// Compose files as YAML 1.2 documents (the `yaml` package): anchors, aliases and `<<` merge keys
// resolved, Compose's `!reset` and `!override` tags turned into markers the merge understands, and
// parse errors reported with the file, line and column. The Document is kept so a schema error
// can point at the line of the value it names.
import * as Y from 'yaml';
import { ComposeError } from './errors';

/** `!reset`: the key is removed from what earlier files said. */
export const RESET = Object.freeze({ composeReset: true });
/** `!override`: the value replaces what earlier files said instead of merging with it. */
export interface Override { override: unknown }
export const isReset = (v: unknown): boolean => v === RESET;
export const isOverride = (v: unknown): v is Override => !!v && typeof v === 'object' && !Array.isArray(v) && Object.getPrototypeOf(v) === OverrideProto;
const OverrideProto = { kind: 'override' };
export const makeOverride = (v: unknown): Override => Object.assign(Object.create(OverrideProto), { override: v });

export interface ParsedFile {
  file: string;
  docs: Array<{ value: unknown; doc: Y.Document.Parsed }>;
  lines: Y.LineCounter;
}

/** Where a path of a parsed document is ("line 4, column 7"), if it can be found. */
export function positionOf(p: ParsedFile, docIndex: number, path: Array<string | number>): string | undefined {
  const d = p.docs[docIndex]?.doc;
  if (!d) return undefined;
  // The longest prefix of the path that exists: a missing key points at its parent.
  for (let n = path.length; n >= 1; n--) {
    // A key names its own line (the key, not its value: "foo:" of an unknown key).
    const parent: any = n > 1 ? d.getIn(path.slice(0, n - 1), true) : d.contents;
    const pair = Y.isMap(parent) ? parent.items.find((it: any) => String(it.key?.value ?? it.key) === String(path[n - 1])) : undefined;
    const node: any = (pair as any)?.key ?? d.getIn(path.slice(0, n), true);
    if (node && Array.isArray(node.range)) {
      const { line, col } = p.lines.linePos(node.range[0]);
      return `line ${line}, column ${col}`;
    }
  }
  return undefined;
}

export function parseYaml(text: string, file: string): ParsedFile {
  const lines = new Y.LineCounter();
  const docs = Y.parseAllDocuments(text, { lineCounter: lines, merge: true, uniqueKeys: true, prettyErrors: false, version: '1.2' });
  const list = Array.isArray(docs) ? docs : [docs as unknown as Y.Document.Parsed];
  const out: ParsedFile = { file, docs: [], lines };
  for (const doc of list) {
    const e = doc.errors[0];
    if (e) {
      const pos = e.linePos?.[0] ?? lines.linePos(e.pos[0]);
      throw new ComposeError(`failed to parse ${file}: line ${pos.line}, column ${pos.col}: ${e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}`);
    }
    Y.visit(doc, {
      Node(_k, node) {
        const tag = (node as any).tag as string | undefined;
        if (tag === '!reset') return new Y.Scalar(RESET);
        if (tag === '!override') {
          (node as any).tag = undefined;
          return new Y.Scalar(makeOverride((node as any).toJS(doc, { maxAliasCount: 10_000 })));
        }
        return undefined;
      },
    });
    let value: unknown;
    try { value = doc.toJS({ maxAliasCount: 10_000 }); } catch (err: any) {
      throw new ComposeError(`failed to parse ${file}: ${err.message}`);
    }
    if (value === null || value === undefined) continue;
    out.docs.push({ value, doc });
  }
  return out;
}
