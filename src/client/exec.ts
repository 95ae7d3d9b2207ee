// /containers/{id}/exec and /exec/* endpoints.
import type { Socket } from 'node:net';
import { Transport } from './transport';
import type { ExecCreateBody, ExecInspect } from './types';

export class ExecApi {
  constructor(private readonly t: Transport) {}

  create(container: string, body: ExecCreateBody): Promise<{ Id: string }> {
    return this.t.json('POST', `/containers/${encodeURIComponent(container)}/exec`, { body });
  }

  /** Detached start: returns once the process runs. */
  startDetached(id: string, tty = false): Promise<void> {
    return this.t.json('POST', `/exec/${id}/start`, { body: { Detach: true, Tty: tty } });
  }

  /** Attached start: a hijacked duplex stream. */
  start(id: string, o: { tty?: boolean; consoleSize?: [number, number] } = {}): Promise<{ socket: Socket }> {
    return this.t.hijack('POST', `/exec/${id}/start`, { body: { Detach: false, Tty: !!o.tty, ConsoleSize: o.consoleSize } });
  }

  inspect(id: string): Promise<ExecInspect> { return this.t.json('GET', `/exec/${id}/json`); }

  resize(id: string, h: number, w: number): Promise<void> {
    return this.t.json('POST', `/exec/${id}/resize`, { query: { h, w } });
  }
}
