// Progress of pulls, pushes and loads as the docker CLI draws it (pkg/jsonmessage
// DisplayJSONMessagesStream): on a terminal, one line per layer id, redrawn in place with a bar
// drawn at the terminal's width from progressDetail; elsewhere, plain lines, the byte counts left
// out. Credentials for the image's registry go along as X-Registry-Auth.
import type { DockerClient, JsonMessage } from '../../client';
import { progressBar } from '../../lib/jsonprogress';
import { configDir, getCredentials, registryAuthHeader, registryKey, registryOfImage } from '../credentials';

/** "busybox" → busybox:latest; "host:5000/a/b:1"; "a@sha256:…". */
export function splitReference(ref: string): { repo: string; tag: string; digest?: string } {
  const at = ref.indexOf('@');
  if (at >= 0) return { repo: ref.slice(0, at), tag: '', digest: ref.slice(at + 1) };
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  if (colon > slash) return { repo: ref.slice(0, colon), tag: ref.slice(colon + 1) };
  return { repo: ref, tag: 'latest' };
}

const ESC = '\x1b[';

export class ProgressPrinter {
  /** Line of each id above the cursor (the region docker keeps for layer lines). */
  private ids = new Map<string, number>();

  constructor(private readonly out: NodeJS.WriteStream, private readonly tty = !!out.isTTY) {}

  private width(): number { return this.out.columns || 200; }

  /** One message the way jsonmessage.Display writes it. */
  private display(m: JsonMessage): void {
    const hasProgress = m.progressDetail !== undefined && m.progressDetail !== null;
    let endl = '';
    let s = '';
    if (this.tty && m.stream === undefined && hasProgress) { s += `${ESC}2K\r`; endl = '\r'; }
    if (m.id) s += `${m.id}: `;
    const d = m.progressDetail ?? {};
    if (hasProgress && this.tty) s += `${m.status ?? ''} ${progressBar(d.current ?? 0, d.total ?? 0, this.width())}${endl}`;
    else if (m.progress) s += `${m.status ?? ''} ${m.progress}${endl}`;
    else if (m.stream !== undefined) s += `${m.stream}${endl}`;
    else s += `${m.status ?? ''}${endl}\n`;
    this.out.write(s);
  }

  print(m: JsonMessage): void {
    if (m.aux) return;
    if (m.stream !== undefined && !m.id) { this.out.write(m.stream); return; }
    const hasProgress = m.progressDetail !== undefined && m.progressDetail !== null;
    const d = m.progressDetail ?? {};
    if (!this.tty) {
      // Without a terminal the updates that carry counts are left out, as docker does.
      if (hasProgress && progressBar(d.current ?? 0, d.total ?? 0) !== '') return;
      this.display({ ...m, progress: undefined });
      return;
    }
    let diff = 0;
    if (m.id && (hasProgress || m.progress)) {
      let line = this.ids.get(m.id);
      if (line === undefined) {
        line = this.ids.size;
        this.ids.set(m.id, line);
        this.out.write('\n');
      }
      diff = this.ids.size - line;
      if (diff > 0) this.out.write(`${ESC}${diff}A`);
    } else {
      // Something that is not a layer line ends the region (pull -a: the next tag's layers start afresh).
      this.ids.clear();
    }
    this.display(m);
    if (m.id && diff > 0) this.out.write(`${ESC}${diff}B`);
  }
}

/** The X-Registry-Auth for an image from the CLI's stored credentials (none: "e30="). */
export function authFor(image: string, globalConfig?: string): string {
  try {
    return registryAuthHeader(getCredentials(configDir(globalConfig), registryKey(registryOfImage(image))));
  } catch (e) {
    // A broken helper must not stop an anonymous pull; say why once.
    process.stderr.write(`WARNING: ${(e as Error).message}\n`);
    return 'e30=';
  }
}

export async function pullImage(client: DockerClient, image: string, o: { platform?: string; quiet?: boolean; out: NodeJS.WriteStream; config?: string; allTags?: boolean }): Promise<void> {
  const { repo, tag, digest } = splitReference(image);
  const stream = await client.images.pull(repo, o.allTags ? undefined : digest ?? tag, { platform: o.platform, auth: authFor(image, o.config) });
  const p = new ProgressPrinter(o.out);
  for await (const m of stream) if (!o.quiet) p.print(m);
}
