// Request/response helpers shared by every router: JSON bodies, Docker's query conventions, filters.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { invalid } from '../lib/errors';

export interface Req {
  raw: IncomingMessage;
  res: ServerResponse;
  method: string;
  path: string;
  params: Record<string, string>;
  query: URLSearchParams;
  /** API version the client asked for (from /v1.NN/ or the default). */
  version: number;
  /** Set when the client asked to hijack the connection (Upgrade: tcp). */
  upgrade?: { socket: import('node:net').Socket; head: Buffer };
  /** The connection, once hijack() took it over: an error after that can only close it. */
  hijacked?: import('node:stream').Duplex;
}

export type Handler = (req: Req) => Promise<void> | void;

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) });
  res.end(data);
}

export function sendNoContent(res: ServerResponse, status = 204): void {
  res.writeHead(status);
  res.end();
}

// Bodies of hijacked (Upgrade) requests are read by the server before dispatch.
const preRead = new WeakMap<IncomingMessage, Buffer>();
export function setPreReadBody(req: IncomingMessage, body: Buffer): void { preRead.set(req, body); }

export async function readBody(req: IncomingMessage, limit = 64 * 1024 * 1024): Promise<Buffer> {
  const pre = preRead.get(req);
  if (pre) return pre;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > limit) throw invalid('request body too large');
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

/** JSON bodies of the Engine API are kilobytes; one of megabytes is an attack or a mistake. */
const JSON_BODY_LIMIT = 4 * 1024 * 1024;
/** Nesting that deep exists in no Engine API body; deeper, later recursion (a record's JSON) would overflow the stack. */
const JSON_MAX_DEPTH = 200;

export async function readJsonBody<T = any>(req: IncomingMessage): Promise<T> {
  const buf = await readBody(req, JSON_BODY_LIMIT);
  if (buf.length === 0) return {} as T;
  if (nestingOver(buf, JSON_MAX_DEPTH)) throw invalid(`invalid JSON: exceeded max depth (${JSON_MAX_DEPTH})`);
  try {
    return JSON.parse(buf.toString('utf8')) as T;
  } catch (e: any) {
    throw invalid(`invalid JSON: ${e.message}`);
  }
}

/** Whether `buf` (JSON text) nests objects and arrays deeper than `max`; strings are skipped. */
function nestingOver(buf: Buffer, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i];
    if (inString) {
      if (b === 0x5c) i++; // backslash: the next byte is escaped
      else if (b === 0x22) inString = false;
    } else if (b === 0x22) inString = true;
    else if (b === 0x7b || b === 0x5b) { if (++depth > max) return true; }
    else if (b === 0x7d || b === 0x5d) depth--;
  }
  return false;
}

/** Docker's boolean query values: "1", "true", "True" are true; absent, "0", "false" are false. */
export function qBool(q: URLSearchParams, name: string, def = false): boolean {
  const v = q.get(name);
  if (v === null || v === '') return def;
  return !(v === '0' || v.toLowerCase() === 'false');
}

export function qInt(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw invalid(`invalid value for ${name}: ${v}`);
  return n;
}

/** Filters arrive as JSON: {"key": ["v1", "v2"]} or the old {"key": {"v1": true}}. */
export type Filters = Map<string, string[]>;

export function parseFilters(raw: string | null): Filters {
  const out: Filters = new Map();
  if (!raw) return out;
  let obj: any;
  try { obj = JSON.parse(raw); } catch { throw invalid(`invalid filter '${raw}'`); }
  // Docker's two forms: {"key": {"value": true}}, and the older {"key": ["value"]}. Anything else
  // is refused with its Go decoder's complaint about the newer form.
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw invalid(`invalid filter: json: cannot unmarshal ${Array.isArray(obj) ? 'array' : typeof obj === 'boolean' ? 'bool' : typeof obj} into Go value of type map[string]map[string]bool`);
  for (const [k, v] of Object.entries(obj)) {
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) out.set(k, v);
    else if (v && typeof v === 'object' && !Array.isArray(v)) {
      const bad = Object.values(v).find((x) => x !== null && typeof x !== 'boolean');
      if (bad !== undefined) throw invalid(`invalid filter: json: cannot unmarshal ${Array.isArray(bad) ? 'array' : typeof bad === 'object' ? 'object' : typeof bad} into Go value of type bool`);
      out.set(k, Object.keys(v).filter((x) => (v as Record<string, boolean>)[x]));
    } else throw invalid(`invalid filter: json: cannot unmarshal ${v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v} into Go value of type map[string]bool`);
  }
  return out;
}

export function checkFilterKeys(f: Filters, allowed: string[]): void {
  for (const k of f.keys()) if (!allowed.includes(k)) throw invalid(`invalid filter '${k}'`);
}

/** Writes one JSON object per line, as /build, /images/create and /events stream. */
export function startJsonStream(res: ServerResponse): (obj: unknown) => void {
  res.writeHead(200, { 'Content-Type': 'application/json' });
  return (obj) => { res.write(JSON.stringify(obj) + '\r\n'); };
}

/**
 * Takes over the connection for a raw bidirectional stream (attach, exec start). With an Upgrade
 * request the answer is "101 UPGRADED"; without one (older clients), a 200 whose body is the stream.
 */
export function hijack(req: Req, tty: boolean): import('node:stream').Duplex {
  const contentType = tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream';
  if (req.upgrade) {
    const { socket, head } = req.upgrade;
    req.res.detachSocket(socket);
    socket.write(`HTTP/1.1 101 UPGRADED\r\nContent-Type: ${contentType}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`);
    if (head.length) socket.unshift(head);
    socket.setNoDelay(true);
    req.hijacked = socket;
    return socket;
  }
  const socket = req.raw.socket;
  req.res.detachSocket(socket);
  socket.write(`HTTP/1.1 200 OK\r\nContent-Type: ${contentType}\r\nConnection: close\r\n\r\n`);
  socket.setNoDelay(true);
  req.hijacked = socket;
  return socket;
}
