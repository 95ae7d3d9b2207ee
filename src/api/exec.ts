// /containers/{id}/exec and /exec/*.
import { Router } from './router';
import { sendJson, readJsonBody, qInt, hijack } from './http';
import { wire, captureInput, detachKeysOf } from './containers';
import type { ExecService } from '../engine/exec';
import { frame } from '../engine/logs';
import { errorMessage } from '../lib/errors';

export function registerExecRoutes(r: Router, execs: ExecService): void {
  r.post('/containers/:id/exec', async (req) => {
    const body = await readJsonBody(req.raw);
    if (body?.DetachKeys) detachKeysOf(body.DetachKeys);
    const id = execs.create(req.params.id, body);
    sendJson(req.res, 201, { Id: id });
  });

  r.get('/exec/:id/json', async (req) => sendJson(req.res, 200, execs.inspect(req.params.id)));

  r.post('/exec/:id/resize', async (req) => {
    await execs.resize(req.params.id, qInt(req.query, 'h') ?? 0, qInt(req.query, 'w') ?? 0);
    req.res.writeHead(200, { 'Content-Length': 0 });
    req.res.end();
  });

  r.post('/exec/:id/start', async (req) => {
    const body = await readJsonBody(req.raw);
    const s = execs.get(req.params.id);
    if (body.Detach) {
      const { finished } = await execs.start(s.id, { detach: true, tty: body.Tty });
      await Promise.race([finished.catch(() => {}), new Promise((r2) => setTimeout(r2, 50))]);
      req.res.writeHead(200, { 'Content-Type': 'application/json' });
      req.res.end();
      return;
    }
    const tty = body.Tty ?? !!s.config.Tty;
    // Validate before hijacking, so refusals are ordinary HTTP errors.
    execs.get(s.id);
    const sock = hijack(req, tty);
    const input = s.config.AttachStdin ? captureInput(sock) : undefined;
    if (!input) sock.resume();
    const fail = (e: unknown) => {
      const msg = Buffer.from(`OCI runtime exec failed: exec failed: unable to start container process: ${errorMessage(e)}: unknown\r\n`);
      if (!sock.destroyed) sock.end(tty ? msg : frame(1, msg));
    };
    let started;
    try {
      started = await execs.start(s.id, { detach: false, tty, consoleSize: body.ConsoleSize });
    } catch (e) {
      fail(e);
      return;
    }
    const { conn, finished } = started;
    finished.catch(fail);
    if (!conn) { await finished.catch(() => {}); sock.end(); return; }
    wire(sock, conn, {
      input,
      stdinOnce: true,
      out: (st, b) => {
        if ((st === 1 && !s.config.AttachStdout) || (st === 2 && !s.config.AttachStderr) || sock.destroyed) return;
        sock.write(tty ? b : frame(st, b));
      },
      endAfter: finished,
      detachKeys: tty && s.config.AttachStdin ? detachKeysOf(s.config.DetachKeys) : undefined,
    });
  });
}
