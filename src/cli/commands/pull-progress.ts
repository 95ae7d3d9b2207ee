// Pulling with docker's progress display (jsonmessage): one line per layer id, redrawn in place on
// a terminal; plain lines otherwise.
import type { DockerClient, JsonMessage } from '../../client';

/** "busybox" → busybox:latest; "host:5000/a/b:1"; "a@sha256:…". */
export function splitReference(ref: string): { repo: string; tag: string; digest?: string } {
  const at = ref.indexOf('@');
  if (at >= 0) return { repo: ref.slice(0, at), tag: '', digest: ref.slice(at + 1) };
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  if (colon > slash) return { repo: ref.slice(0, colon), tag: ref.slice(colon + 1) };
  return { repo: ref, tag: 'latest' };
}

export class ProgressPrinter {
  private ids: string[] = [];
  constructor(private readonly out: NodeJS.WriteStream, private readonly tty = !!out.isTTY) {}

  line(m: JsonMessage): string {
    let s = '';
    if (m.id) s += `${m.id}: `;
    s += m.status ?? '';
    if (m.progress && this.tty) s += ` ${m.progress}`;
    return s;
  }

  print(m: JsonMessage): void {
    if (m.stream !== undefined) { this.out.write(m.stream); return; }
    if (m.aux) return;
    const text = this.line(m);
    if (!this.tty) {
      // Without a terminal docker skips the in-place progress updates.
      if (m.progressDetail && (m.progressDetail.current ?? 0) > 0 && m.progress) return;
      this.out.write(`${text}\n`);
      return;
    }
    if (!m.id) { this.out.write(`${text}\n`); return; }
    const i = this.ids.indexOf(m.id);
    if (i < 0) { this.ids.push(m.id); this.out.write(`${text}\n`); return; }
    const up = this.ids.length - i;
    this.out.write(`\x1b[${up}A\r\x1b[2K${text}\x1b[${up}B\r`);
  }
}

export async function pullImage(client: DockerClient, image: string, o: { platform?: string; quiet?: boolean; out: NodeJS.WriteStream }): Promise<void> {
  const { repo, tag, digest } = splitReference(image);
  const stream = await client.images.pull(repo, digest ?? tag, { platform: o.platform });
  const p = new ProgressPrinter(o.out);
  for await (const m of stream) if (!o.quiet) p.print(m);
}
