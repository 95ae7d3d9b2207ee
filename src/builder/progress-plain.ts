// `--progress=plain`: the build's text as BuildKit's plain progress prints it, made from the
// legacy builder's text of each stage as it comes (so the steps themselves know nothing of it):
//
//   #3 [build 2/4] RUN make
//   #3 0.512 cc -o app main.c          (seconds since the step started, then a line of its output)
//   #3 DONE 1.2s
//
//   #4 [build 3/4] COPY app /app
//   #4 CACHED
//
// "Step n/m : <instruction>" starts a step (a "vertex", numbered across the build in the order
// steps start, so stages running side by side interleave their lines by number); the legacy
// markers (" ---> Running in", " ---> <id>", "Removing intermediate container") are dropped,
// " ---> Using cache" makes the step CACHED, every other line is the step's output.

export type Emit = (text: string) => void;

/** Numbers vertices across the whole build. */
export class PlainCounter {
  private n = 0;
  next(): number { return ++this.n; }
}

const fmtSecs = (ms: number) => (ms / 1000).toFixed(1);

/** One stage's translator. `label` is the stage's name in brackets ('' for a one-stage build). */
export class PlainStage {
  private vertex = 0;
  private started = 0;
  private cached = false;
  private partial = '';
  private stepInStage = 0;

  constructor(private emit: Emit, private counter: PlainCounter, private label: string, private steps: number) {}

  /** Legacy text of this stage, in pieces as they come. */
  write(text: string): void {
    let s = this.partial + text;
    this.partial = '';
    for (;;) {
      const nl = s.indexOf('\n');
      if (nl < 0) break;
      this.line(s.slice(0, nl));
      s = s.slice(nl + 1);
    }
    // A partial line waits for its end, unless it is output of a running step that is long enough.
    if (s.length > 4096) { this.line(s); s = ''; }
    this.partial = s;
  }

  private line(l: string): void {
    const step = /^Step \d+\/\d+ : ([\s\S]*)$/.exec(l);
    if (step) {
      this.closeVertex();
      this.vertex = this.counter.next();
      this.started = Date.now();
      this.cached = false;
      this.stepInStage++;
      const where = `${this.label ? `${this.label} ` : ''}${this.stepInStage}/${this.steps}`;
      this.emit(`#${this.vertex} [${where}] ${step[1]}\n`);
      return;
    }
    if (!this.vertex) { this.emit(`${l}\n`); return; }
    if (l === ' ---> Using cache') { this.cached = true; return; }
    if (/^ ---> (Running in )?[0-9a-f]{12}$/.test(l) || /^Removing intermediate container [0-9a-f]{12}$/.test(l)) return;
    const t = ((Date.now() - this.started) / 1000).toFixed(3);
    this.emit(`#${this.vertex} ${t} ${l.replace(/^ ---> /, '')}\n`);
  }

  private closeVertex(error?: string, canceled = false): void {
    if (this.partial) { const p = this.partial; this.partial = ''; this.line(p); }
    if (!this.vertex) return;
    if (canceled) this.emit(`#${this.vertex} CANCELED\n\n`);
    else if (error !== undefined) this.emit(`#${this.vertex} ERROR: ${error}\n\n`);
    else if (this.cached) this.emit(`#${this.vertex} CACHED\n\n`);
    else this.emit(`#${this.vertex} DONE ${fmtSecs(Date.now() - this.started)}s\n\n`);
    this.vertex = 0;
  }

  /** The stage ended (with the error that ended it, if any; canceled: stopped for another's failure). */
  close(error?: string, canceled = false): void { this.closeVertex(error, canceled); }
}

/** A vertex made of fixed lines (the internal steps before and after the stages). */
export function plainVertex(counter: PlainCounter, name: string, lines: string[], ms = 0): string {
  const n = counter.next();
  return `#${n} ${name}\n${lines.map((l) => `#${n} ${l}\n`).join('')}#${n} DONE ${fmtSecs(ms)}s\n\n`;
}
