// Progress of compose operations, drawn as Docker Compose v2 draws it. On a terminal: a header
// "[+] Running 3/4" and one line per resource (network, volume, container, image), redrawn in
// place, with a spinner while it works, ✔ when done and its time:
//    ✔ Network demo_default  Created                                    0.1s
//    ⠿ Container demo-db-1   Waiting                                    1.2s
// Off a terminal (or --progress plain): one line per event, " Container demo-db-1  Started".
// A dry run puts "DRY-RUN MODE - " before each resource, as Docker Compose does.
export type Status = 'working' | 'done' | 'warning' | 'error';

interface Task { id: string; text: string; status: Status; details: string; start: number; end?: number }

export type ProgressMode = 'auto' | 'tty' | 'plain' | 'quiet' | 'json';

export interface Out { write(s: string): unknown; isTTY?: boolean; columns?: number }

const SPIN = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const green = (s: string) => `\x1b[32m${s}\x1b[0m`;
const red = (s: string) => `\x1b[31m${s}\x1b[0m`;
const yellow = (s: string) => `\x1b[33m${s}\x1b[0m`;
const dim = (s: string) => `\x1b[34m${s}\x1b[0m`;

export class Progress {
  private tasks = new Map<string, Task>();
  private order: string[] = [];
  private lines = 0;
  private timer?: NodeJS.Timeout;
  private frame = 0;
  private readonly mode: 'tty' | 'plain' | 'quiet' | 'json';
  private stopped = false;

  constructor(private readonly out: Out, mode: ProgressMode, private title = 'Running', private readonly prefix = '') {
    this.mode = mode === 'auto' ? (out.isTTY ? 'tty' : 'plain') : mode;
  }

  /** A resource's new state; `id` is "Container demo-web-1", "Network demo_default"… */
  event(id: string, text: string, status: Status = 'working', details = ''): void {
    if (this.stopped) return;
    let t = this.tasks.get(id);
    const now = Date.now();
    if (!t) {
      t = { id, text, status, details, start: now };
      this.tasks.set(id, t);
      this.order.push(id);
    } else {
      if (t.status !== 'working' && status === 'working') { t.start = now; t.end = undefined; }
      t.text = text; t.status = status; t.details = details;
    }
    if (status !== 'working') t.end ??= now;
    if (this.mode === 'plain') this.out.write(`${this.prefix} ${id} ${text}${details ? ` ${details}` : ''}\n`);
    else if (this.mode === 'json') this.out.write(`${JSON.stringify({ ...(this.prefix ? { dry_run: true } : {}), id, text, status, details })}\n`);
    else if (this.mode === 'tty') this.schedule();
  }

  done(id: string, text: string, details = ''): void { this.event(id, text, 'done', details); }
  fail(id: string, text: string, details = ''): void { this.event(id, text, 'error', details); }

  private schedule(): void {
    if (this.timer) return;
    this.draw();
    this.timer = setInterval(() => this.draw(), 100);
  }

  private draw(): void {
    if (!this.order.length) return;
    const width = Math.max(40, (this.out.columns ?? 80));
    const tasks = this.order.map((i) => this.tasks.get(i)!);
    const finished = tasks.filter((t) => t.status !== 'working').length;
    const idW = Math.max(...tasks.map((t) => t.id.length));
    const textW = Math.max(...tasks.map((t) => t.text.length));
    this.frame = (this.frame + 1) % SPIN.length;
    let s = this.lines ? `\x1b[${this.lines}A\r` : '';
    s += `\x1b[?25l[+] ${this.title} ${finished}/${tasks.length}\x1b[K\n`;
    for (const t of tasks) {
      const secs = `${(((t.end ?? Date.now()) - t.start) / 1000).toFixed(1)}s`;
      const mark = t.status === 'done' ? green('✔') : t.status === 'error' ? red('✘') : t.status === 'warning' ? yellow('!') : SPIN[this.frame];
      const text = t.status === 'done' ? green(t.text.padEnd(textW)) : t.status === 'error' ? red(t.text.padEnd(textW)) : t.text.padEnd(textW);
      const left = ` ${mark} ${this.prefix}${t.id.padEnd(idW)} ${text}${t.details ? ` ${t.details}` : ''}`;
      const visible = 4 + this.prefix.length + idW + 1 + textW + (t.details ? t.details.length + 1 : 0);
      const pad = Math.max(1, width - visible - secs.length - 1);
      s += `${left}${' '.repeat(pad)}${dim(secs)}\x1b[K\n`;
    }
    s += '\x1b[?25h';
    this.lines = tasks.length + 1;
    this.out.write(s);
  }

  /** Draws the final state (on a terminal) and stops redrawing. */
  stop(): void {
    if (this.timer) { clearInterval(this.timer); this.timer = undefined; }
    if (this.mode === 'tty' && this.order.length && !this.stopped) this.draw();
    this.stopped = true;
  }

  /** A new section with another title ("Stopping" after "Running"), keeping what was drawn. */
  section(title: string): void {
    this.stop();
    this.tasks.clear();
    this.order = [];
    this.lines = 0;
    this.stopped = false;
    this.title = title;
  }
}
