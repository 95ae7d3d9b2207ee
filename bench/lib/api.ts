// A minimal Engine API client over a Unix socket, for setup and clean-up (never for what is timed:
// timed operations go through the CLIs).
import * as http from 'node:http';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';

export interface ApiResult { status: number; body: string; json: any }

export function api(socket: string, method: string, path: string, body?: unknown, timeoutMs = 60_000): Promise<ApiResult> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = http.request({
      socketPath: socket, method, path,
      headers: data ? { 'Content-Type': 'application/json', 'Content-Length': String(data.length) } : {},
      timeout: timeoutMs,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json: any;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode ?? 0, body: text, json });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(data);
  });
}

/** api() that throws unless the status is 2xx (or in `okStatus`). */
export async function apiOk(socket: string, method: string, path: string, body?: unknown, okStatus: number[] = [], timeoutMs?: number): Promise<ApiResult> {
  const r = await api(socket, method, path, body, timeoutMs);
  if ((r.status < 200 || r.status > 299) && !okStatus.includes(r.status)) {
    throw new Error(`${method} ${path}: HTTP ${r.status} ${(r.json?.message ?? r.body).toString().trim().slice(0, 300)}`);
  }
  return r;
}

/** Streams a GET response body to a file (e.g. /images/get). */
export function apiDownload(socket: string, path: string, file: string, timeoutMs = 120_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: socket, method: 'GET', path, timeout: timeoutMs }, (res) => {
      if (res.statusCode !== 200) {
        let b = '';
        res.on('data', (c) => { b += c; });
        res.on('end', () => reject(new Error(`GET ${path}: HTTP ${res.statusCode} ${b.slice(0, 300)}`)));
        return;
      }
      pipeline(res, createWriteStream(file)).then(resolve, reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}

export async function ping(socket: string): Promise<boolean> {
  try { return (await api(socket, 'GET', '/_ping', undefined, 2000)).status === 200; } catch { return false; }
}
