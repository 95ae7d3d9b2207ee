// /containers/* and /commit: parse, call the engine, encode. Streams (attach, logs) are framed here.
import type { Duplex } from 'node:stream';
import { Router } from './router';
import { Req, sendJson, sendNoContent, readJsonBody, qBool, qInt, parseFilters, checkFilterKeys, hijack, Filters } from './http';
import type { ContainerService } from '../engine/containers';
import type { ImageService } from '../engine/images';
import type { ContainerRecord } from '../engine/container-record';
import { readLogs, dockerTime, frame } from '../engine/logs';
import { invalid, conflict, systemError, notImplemented, notFound } from '../lib/errors';
import { readable, NOT_READABLE } from '../engine/log-drivers';
import { DetachWatcher, parseDetachKeys, DEFAULT_DETACH_KEYS } from '../lib/detach-keys';
import { acceptWebSocket, checkWebSocketRequest } from './websocket';
import { versionNumber } from './version';
import { run } from '../lib/exec';
import { timeOrDurationAgo } from '../lib/units';
import { cgroupPids, containerCgroupPath } from '../runtime/cgroups';
import type { AttachConnection } from '../runtime/attach';
import { containerStats } from '../engine/stats';
import { HEALTH_FILTER_VALUES } from '../engine/health';
import { archiveStat, getArchive, putArchive, exportRootfs, withCopyRoot } from '../engine/archive';
import { resolveUser } from '../runtime/user';
import { checkObject, createRequest, updateConfig, containerConfig } from './shapes';
import { checkResourceRanges } from '../engine/container-config';
import { into, outOf } from '../lib/idmap';

export function registerContainerRoutes(r: Router, containers: ContainerService, images: ImageService): void {
  r.post('/containers/create', async (req) => {
    const body = await readJsonBody(req.raw);
    checkObject(body, createRequest);
    const name = req.query.get('name') ?? undefined;
    const out = await containers.create(body, name);
    sendJson(req.res, 201, out);
  });

  r.get('/containers/json', async (req) => {
    const all = qBool(req.query, 'all');
    const limit = qInt(req.query, 'limit') ?? -1;
    const size = qBool(req.query, 'size');
    const filters = parseFilters(req.query.get('filters'));
    checkFilterKeys(filters, ['id', 'name', 'label', 'status', 'exited', 'ancestor', 'before', 'since', 'volume', 'network', 'health', 'is-task', 'publish', 'expose']);
    let list = containers.list().sort((a, b) => Date.parse(b.Created) - Date.parse(a.Created) || (b.Id < a.Id ? -1 : 1));
    if (!all && limit <= 0 && !filters.has('status') && !filters.has('exited')) list = list.filter((c) => c.State.Running || c.State.Restarting);
    list = await applyFilters(list, filters, containers, images);
    if (limit > 0) list = list.slice(0, limit);
    const out = [];
    for (const c of list) {
      const s = containers.summary(c, size);
      if (size) { const z = await containers.sizes(c); s.SizeRw = z.rw; s.SizeRootFs = z.rootfs; }
      out.push(s);
    }
    sendJson(req.res, 200, out);
  });

  r.get('/containers/:id/json', async (req) => {
    const c = containers.get(req.params.id);
    const out: Record<string, unknown> = { ...containers.inspect(c) };
    if (qBool(req.query, 'size')) { const z = await containers.sizes(c); out.SizeRw = z.rw; out.SizeRootFs = z.rootfs; }
    sendJson(req.res, 200, out);
  });

  r.post('/containers/:id/start', async (req) => {
    await containers.start(req.params.id);
    sendNoContent(req.res);
  });

  r.post('/containers/:id/stop', async (req) => {
    await containers.stop(req.params.id, qInt(req.query, 't'), req.query.get('signal') || undefined);
    sendNoContent(req.res);
  });

  r.post('/containers/:id/restart', async (req) => {
    await containers.restart(req.params.id, qInt(req.query, 't'), req.query.get('signal') || undefined);
    sendNoContent(req.res);
  });

  r.post('/containers/:id/kill', async (req) => {
    await containers.kill(req.params.id, req.query.get('signal') || 'SIGKILL');
    sendNoContent(req.res);
  });

  r.post('/containers/:id/pause', async (req) => { await containers.pause(req.params.id); sendNoContent(req.res); });
  r.post('/containers/:id/unpause', async (req) => { await containers.unpause(req.params.id); sendNoContent(req.res); });

  r.post('/containers/:id/rename', async (req) => {
    await containers.rename(req.params.id, req.query.get('name') ?? '');
    sendNoContent(req.res);
  });

  r.delete('/containers/:id', async (req) => {
    if (qBool(req.query, 'link')) await containers.removeLink(req.params.id);
    else await containers.remove(req.params.id, { force: qBool(req.query, 'force'), volumes: qBool(req.query, 'v') });
    sendNoContent(req.res);
  });

  // `docker rm --link /parent/alias`: the link's name has a slash of its own.
  r.delete('/containers/*link', async (req) => {
    if (!qBool(req.query, 'link')) throw notFound(`No such container: ${req.params.link}`);
    await containers.removeLink(req.params.link);
    sendNoContent(req.res);
  });

  r.post('/containers/:id/wait', async (req) => {
    const c = containers.get(req.params.id);
    const condition = req.query.get('condition') ?? 'not-running';
    if (!['', 'not-running', 'next-exit', 'removed'].includes(condition)) throw invalid(`invalid condition: "${condition}"`);
    // Headers go out at once: the docker CLI takes them as the sign that the wait is registered.
    req.res.writeHead(200, { 'Content-Type': 'application/json' });
    req.res.flushHeaders();
    const result = await containers.wait(c.Id, condition);
    req.res.end(JSON.stringify(result) + '\n');
  });

  r.post('/containers/:id/resize', async (req) => {
    const h = qInt(req.query, 'h') ?? 0;
    const w = qInt(req.query, 'w') ?? 0;
    await containers.resize(req.params.id, h, w);
    req.res.writeHead(200, { 'Content-Length': 0 });
    req.res.end();
  });

  r.post('/containers/:id/attach', async (req) => attachHandler(req, containers));
  r.get('/containers/:id/attach/ws', async (req) => wsAttachHandler(req, containers));

  r.get('/containers/:id/logs', async (req) => logsHandler(req, containers));

  r.get('/containers/:id/top', async (req) => {
    const c = containers.get(req.params.id);
    if (!c.State.Running) throw conflict(`Container ${c.Id} is not running`);
    const pids = await cgroupPids(containerCgroupPath(c.Id, c.HostConfig.CgroupParent));
    const psArgs = (req.query.get('ps_args') || '-ef').split(/\s+/).filter(Boolean);
    const out = await run('ps', psArgs, { allowFailure: true });
    if (out.code !== 0) throw systemError(`ps: ${out.stderr.trim()}`);
    const lines = out.stdout.split('\n').filter(Boolean);
    const titles = lines[0].trim().split(/\s+/);
    const pidCol = titles.indexOf('PID');
    if (pidCol < 0) throw invalid(`Couldn't find PID field in ps output`);
    const set = new Set(pids);
    const processes = lines.slice(1).map((l) => {
      const f = l.trim().split(/\s+/);
      return [...f.slice(0, titles.length - 1), f.slice(titles.length - 1).join(' ')];
    }).filter((f) => set.has(Number(f[pidCol])));
    sendJson(req.res, 200, { Titles: titles, Processes: processes });
  });

  r.get('/containers/:id/changes', async (req) => {
    const c = containers.get(req.params.id);
    const changes = withoutMountpoints(await images.changes(containers.fs.upper(c.Id), c.Dray.lowerDirs));
    sendJson(req.res, 200, changes.length ? changes : null);
  });

  r.get('/containers/:id/export', async (req) => {
    const c = containers.get(req.params.id);
    const root = await containers.fs.mount(c.Id, c.Dray.lowerDirs);
    try {
      await exportRootfs(root, req.res, c.Dray.idmap ? outOf(c.Dray.idmap) : undefined);
    } finally {
      await containers.fs.unmount(c.Id);
    }
  });

  r.head('/containers/:id/archive', async (req) => {
    const c = containers.get(req.params.id);
    const p = req.query.get('path');
    if (!p) throw invalid('missing path');
    const st = await withCopyRoot(containers.fs, c, (root) => archiveStat(root, p));
    req.res.writeHead(200, { 'X-Docker-Container-Path-Stat': Buffer.from(JSON.stringify(st)).toString('base64') });
    req.res.end();
  });

  r.get('/containers/:id/archive', async (req) => {
    const c = containers.get(req.params.id);
    const p = req.query.get('path');
    if (!p) throw invalid('missing path');
    await withCopyRoot(containers.fs, c, (root) => getArchive(root, p, req.res, c.Dray.idmap ? outOf(c.Dray.idmap) : undefined));
  });

  r.put('/containers/:id/archive', async (req) => {
    const c = containers.get(req.params.id);
    const p = req.query.get('path');
    if (!p) throw invalid('missing path');
    if (c.HostConfig.ReadonlyRootfs && c.State.Running) throw invalid('container rootfs is marked read-only');
    await withCopyRoot(containers.fs, c, async (root) => {
      // copyUIDGID (docker cp -a): everything owned by the container's user, as moby does.
      const owner = qBool(req.query, 'copyUIDGID') ? await resolveUser(root.host, c.Config.User || undefined) : undefined;
      await putArchive(root, p, req.raw, { noOverwriteDirNonDir: qBool(req.query, 'noOverwriteDirNonDir'), owner, toHost: c.Dray.idmap ? into(c.Dray.idmap) : undefined });
    });
    // Docker answers with no body at all: clients that parse one (dockerode) fail on "{}".
    req.res.writeHead(200, { 'Content-Length': 0 });
    req.res.end();
  });

  r.get('/containers/:id/stats', async (req) => {
    const c = containers.get(req.params.id);
    const oneShot = qBool(req.query, 'one-shot');
    const stream = qBool(req.query, 'stream', true) && !oneShot;
    req.res.writeHead(200, { 'Content-Type': 'application/json' });
    let prev = await containerStats(c, undefined);
    if (!stream) {
      // As Docker, a single reading (stream=false) comes with the one a second before it as
      // precpu_stats, so CPU use can be computed from it; one-shot skips that wait.
      if (!oneShot && c.State.Running) {
        await new Promise((r2) => setTimeout(r2, 1000));
        prev = await containerStats(c, prev);
      }
      req.res.end(JSON.stringify(prev) + '\n');
      return;
    }
    let closed = false;
    req.raw.on('close', () => { closed = true; });
    req.res.on('close', () => { closed = true; });
    req.res.write(JSON.stringify(prev) + '\n');
    while (!closed) {
      await new Promise((r2) => setTimeout(r2, 1000));
      if (closed || !containers.find(c.Id)) break;
      prev = await containerStats(c, prev);
      req.res.write(JSON.stringify(prev) + '\n');
    }
    req.res.end();
  });

  r.post('/containers/:id/update', async (req) => {
    const c = containers.get(req.params.id);
    const body = await readJsonBody(req.raw);
    checkObject(body, updateConfig);
    checkResourceRanges(body ?? {});
    await containers.update(c.Id, body);
    sendJson(req.res, 200, { Warnings: [] });
  });

  r.post('/containers/prune', async (req) => {
    const filters = parseFilters(req.query.get('filters'));
    checkFilterKeys(filters, ['until', 'label', 'label!']);
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const c of containers.list()) {
      if (c.State.Running || c.State.Restarting || c.State.Paused) continue;
      if (!matchesPruneFilters(c, filters)) continue;
      const size = await containers.sizes(c).then((z) => z.rw).catch(() => 0);
      try {
        await containers.remove(c.Id, { force: false, volumes: false });
        deleted.push(c.Id);
        reclaimed += size;
      } catch { /* started meanwhile */ }
    }
    sendJson(req.res, 200, { ContainersDeleted: deleted.length ? deleted : null, SpaceReclaimed: reclaimed });
  });

  r.post('/commit', async (req) => {
    const ref = req.query.get('container');
    if (!ref) throw invalid('missing container');
    const c = containers.get(ref);
    const body = await readJsonBody(req.raw);
    checkObject(body, containerConfig);
    const changes = req.query.getAll('changes').flatMap((x) => x.split('\n')).filter(Boolean);
    const repo = req.query.get('repo') || '';
    const tag = req.query.get('tag') || '';
    const pause = qBool(req.query, 'pause', true);
    const frozen = pause ? await containers.freezeForCommit(c.Id).catch(() => false) : false;
    try {
      const parent = await images.resolve(c.Image);
      const { applyChanges } = await import('../engine/changes');
      const base = { ...c.Config, ...(body && Object.keys(body).length ? body : {}) };
      const config = applyChanges(base, changes);
      const ref = repo ? (tag ? `${repo}:${tag}` : repo) : undefined;
      const comment = req.query.get('comment') ?? '';
      const img = await images.commit({
        upperDir: containers.fs.upper(c.Id),
        parent,
        config,
        containerId: c.Id,
        comment,
        author: req.query.get('author') ?? '',
        ref,
      });
      containers.publishCommit(c, img.id, comment, ref ?? '');
      sendJson(req.res, 201, { Id: img.id });
    } finally {
      if (frozen) await containers.thawAfterCommit(c.Id).catch(() => {});
    }
  });
}

/** The files drayd bind-mounts over the container's own; the runtime makes their mount points. */
const HOST_FILES = ['/etc/hostname', '/etc/hosts', '/etc/resolv.conf'];

/**
 * docker diff without the mount points of /etc/hostname, /etc/hosts and /etc/resolv.conf: Docker
 * keeps those in a layer of their own under the container's (the "-init" layer), so they never
 * show, nor does /etc for them alone.
 */
function withoutMountpoints(changes: { Path: string; Kind: 0 | 1 | 2 }[]): { Path: string; Kind: 0 | 1 | 2 }[] {
  const out = changes.filter((ch) => !(ch.Kind === 1 && HOST_FILES.includes(ch.Path)));
  const etcOnlyForThem = changes.some((ch) => ch.Kind === 1 && HOST_FILES.includes(ch.Path)) && !out.some((ch) => ch.Path.startsWith('/etc/'));
  return etcOnlyForThem ? out.filter((ch) => !(ch.Path === '/etc' && ch.Kind === 0)) : out;
}

// ---- filters ------------------------------------------------------------------------------------

function labelMatch(labels: Record<string, string> | null | undefined, f: string): boolean {
  const i = f.indexOf('=');
  const l = labels ?? {};
  if (i < 0) return f in l;
  return l[f.slice(0, i)] === f.slice(i + 1);
}

async function applyFilters(list: ContainerRecord[], f: Filters, containers: ContainerService, images: ImageService): Promise<ContainerRecord[]> {
  const ids = f.get('id');
  const names = f.get('name');
  const labels = f.get('label');
  const status = f.get('status');
  const exited = f.get('exited');
  const ancestors = f.get('ancestor');
  const network = f.get('network');
  const health = f.get('health');
  for (const h of health ?? []) {
    if (!HEALTH_FILTER_VALUES.includes(h)) throw invalid(`invalid filter 'health=${h}': invalid value for health (${h}): must be one of ${HEALTH_FILTER_VALUES.join(', ')}`);
  }
  let before: number | undefined;
  let since: number | undefined;
  if (f.get('before')?.length) before = Date.parse(containers.get(f.get('before')![0]).Created);
  if (f.get('since')?.length) since = Date.parse(containers.get(f.get('since')![0]).Created);
  const statuses = ['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead'];
  for (const s of status ?? []) if (!statuses.includes(s)) throw invalid(`invalid filter 'status=${s}'`);
  let ancestorIds: Set<string> | undefined;
  if (ancestors?.length) {
    ancestorIds = new Set();
    for (const a of ancestors) {
      const img = await images.resolve(a).catch(() => undefined);
      if (img) ancestorIds.add(img.id);
    }
  }
  return list.filter((c) => {
    if (ids?.length && !ids.some((x) => c.Id.startsWith(x))) return false;
    if (names?.length && !names.some((n) => { try { return new RegExp(n.replace(/^\//, '')).test(c.Name.slice(1)); } catch { return c.Name.includes(n); } })) return false;
    if (labels?.length && !labels.every((l) => labelMatch(c.Config.Labels, l))) return false;
    if (status?.length && !status.includes(c.State.Status)) return false;
    if (exited?.length && !(c.State.Status === 'exited' && exited.includes(String(c.State.ExitCode)))) return false;
    if (ancestorIds && !ancestorIds.has(c.Image)) return false;
    if (network?.length && !network.some((n) => Object.keys(c.NetworkSettings.Networks ?? {}).includes(n) || n === c.HostConfig.NetworkMode)) return false;
    if (health?.length && !health.includes(c.State.Health?.Status ?? 'none')) return false;
    if (before !== undefined && !(Date.parse(c.Created) < before)) return false;
    if (since !== undefined && !(Date.parse(c.Created) > since)) return false;
    return true;
  });
}

export function untilCutoff(v: string): number {
  try { return timeOrDurationAgo(v); } catch (e) { throw invalid((e as Error).message); }
}

function matchesPruneFilters(c: ContainerRecord, f: Filters): boolean {
  for (const u of f.get('until') ?? []) if (!(Date.parse(c.Created) < untilCutoff(u))) return false;
  for (const l of f.get('label') ?? []) if (!labelMatch(c.Config.Labels, l)) return false;
  for (const l of f.get('label!') ?? []) if (labelMatch(c.Config.Labels, l)) return false;
  return true;
}

// ---- attach -------------------------------------------------------------------------------------

async function attachHandler(req: Req, containers: ContainerService): Promise<void> {
  const c = containers.get(req.params.id);
  const q = req.query;
  const wantIn = qBool(q, 'stdin');
  const wantOut = qBool(q, 'stdout');
  const wantErr = qBool(q, 'stderr');
  const stream = qBool(q, 'stream');
  const logs = qBool(q, 'logs');
  const tty = !!c.Config.Tty;
  if (c.State.Paused) throw conflict(`You cannot attach to a paused container, unpause it first`);
  const detachKeys = detachKeysOf(q.get('detachKeys'));
  const sock = hijack(req, tty);
  const out = (s: 1 | 2, payload: Buffer) => {
    if ((s === 1 && !wantOut) || (s === 2 && !wantErr) || sock.destroyed) return;
    sock.write(tty ? payload : frame(s, payload));
  };
  // A driver that keeps no log has nothing to replay (Docker skips it too).
  if (logs && readable(c.HostConfig.LogConfig)) {
    for await (const batch of readLogs(containers.logFile(c), containers.logFiles(c).length, { stdout: wantOut, stderr: wantErr })) {
      for (const e of batch) out(e.stream, e.partial ? e.text : Buffer.concat([e.text, Buffer.from('\n')]));
    }
  }
  if (!stream) { sock.end(); return; }
  let clientGone = false;
  // Input is read from the start (so an early end is not lost) or drained (so a hang-up is seen).
  const input = wantIn && c.Config.OpenStdin ? captureInput(sock) : undefined;
  if (!input) sock.resume();
  sock.on('close', () => { clientGone = true; });
  sock.on('error', () => { clientGone = true; });
  const { conn: now, waitForStart } = await containers.attach(c.Id);
  let conn: AttachConnection | undefined = now;
  if (!conn && waitForStart) conn = await waitForStart;
  if (!conn) { sock.end(); return; }
  if (clientGone) { conn.close(); return; }
  wire(sock, conn, { input, stdinOnce: !!c.Config.StdinOnce, out, detachKeys: tty ? detachKeys : undefined });
}

/**
 * GET /containers/{id}/attach/ws: the container's stdio over a WebSocket. Output goes out as it
 * comes, without the multiplexing header (as Docker's), in binary frames from API 1.42 on and text
 * frames before; messages from the client are the container's stdin.
 */
async function wsAttachHandler(req: Req, containers: ContainerService): Promise<void> {
  const c = containers.get(req.params.id);
  const q = req.query;
  const key = checkWebSocketRequest(req.raw.headers);
  if (!req.upgrade) throw invalid('websocket: the client is not using the websocket protocol');
  if (c.State.Paused) throw conflict(`You cannot attach to a paused container, unpause it first`);
  const tty = !!c.Config.Tty;
  const detachKeys = detachKeysOf(q.get('detachKeys'));
  const wantIn = qBool(q, 'stdin');
  const wantOut = qBool(q, 'stdout');
  const wantErr = qBool(q, 'stderr');
  const { socket, head } = req.upgrade;
  req.res.detachSocket(socket);
  req.hijacked = socket;
  const ws = acceptWebSocket(socket, head, key, req.version >= versionNumber('1.42'));
  const out = (s: 1 | 2, payload: Buffer) => {
    if ((s === 1 && !wantOut) || (s === 2 && !wantErr)) return;
    ws.send(payload);
  };
  // Input is taken from the start, so nothing typed before the container runs is lost.
  const input: ClientInput = { chunks: [], ended: false };
  if (wantIn && c.Config.OpenStdin) ws.on('message', (d) => (input.onData ? input.onData(d) : input.chunks.push(d)));
  if (qBool(q, 'logs') && readable(c.HostConfig.LogConfig)) {
    for await (const batch of readLogs(containers.logFile(c), containers.logFiles(c).length, { stdout: wantOut, stderr: wantErr })) {
      for (const e of batch) out(e.stream, e.partial ? e.text : Buffer.concat([e.text, Buffer.from('\n')]));
    }
  }
  if (!qBool(q, 'stream')) { ws.close(); return; }
  const { conn: now, waitForStart } = await containers.attach(c.Id);
  const conn = now ?? (waitForStart ? await waitForStart : undefined);
  if (!conn) { ws.close(); return; }
  if (ws.closed) { conn.close(); return; }
  conn.on('data', out);
  conn.on('end', () => ws.close());
  ws.on('close', () => conn.close());
  const watcher = tty ? new DetachWatcher(detachKeys) : undefined;
  const forward = (d: Buffer) => {
    if (!watcher) { conn.write(d); return; }
    const r = watcher.push(d);
    if (r.data.length) conn.write(r.data);
    if (r.detach) { conn.close(); ws.close(); }
  };
  for (const d of input.chunks.splice(0)) forward(d);
  input.onData = forward;
}

/**
 * The client's input from the moment of hijacking: a client may send its stdin, and close it,
 * before the container is running; none of it may be lost.
 */
export interface ClientInput { chunks: Buffer[]; ended: boolean; onData?: (d: Buffer) => void; onEnd?: () => void }

export function captureInput(sock: Duplex): ClientInput {
  const input: ClientInput = { chunks: [], ended: false };
  sock.on('data', (d: Buffer) => (input.onData ? input.onData(d) : input.chunks.push(d)));
  sock.on('end', () => { input.ended = true; input.onEnd?.(); });
  return input;
}

/** Joins a hijacked client connection and a conmon attach connection. */
export function wire(sock: Duplex, conn: AttachConnection, o: { input?: ClientInput; stdinOnce: boolean; out: (s: 1 | 2, b: Buffer) => void; endAfter?: Promise<unknown>; detachKeys?: Buffer }): void {
  conn.on('data', o.out);
  // exec: the client reads the exit code right after EOF, so EOF waits until it is known.
  conn.on('end', () => { void Promise.resolve(o.endAfter).catch(() => {}).then(() => { if (!sock.destroyed) sock.end(); }); });
  const input = o.input;
  if (input) {
    // With a TTY the detach keys end the session for the client; the container runs on.
    const watcher = o.detachKeys ? new DetachWatcher(o.detachKeys) : undefined;
    let detached = false;
    const forward = (d: Buffer) => {
      if (detached) return;
      if (!watcher) { conn.write(d); return; }
      const r = watcher.push(d);
      if (r.data.length) conn.write(r.data);
      if (r.detach) { detached = true; conn.close(); sock.end(); }
    };
    for (const d of input.chunks.splice(0)) forward(d);
    input.onData = forward;
    input.onEnd = () => { if (o.stdinOnce) conn.closeStdin(); };
    if (input.ended) input.onEnd();
  }
  sock.on('close', () => conn.close());
  sock.on('error', () => conn.close());
}

/** The detach keys a client asked for (Docker's default when none), or Docker's 400. */
export function detachKeysOf(s: string | null | undefined): Buffer {
  if (!s) return DEFAULT_DETACH_KEYS;
  try { return parseDetachKeys(s); } catch { throw invalid(`Invalid detach keys (${s}) provided`); }
}

// ---- logs ---------------------------------------------------------------------------------------

function parseSince(v: string | null): number | undefined {
  if (!v || v === '0') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw invalid(`invalid value for "since": ${v}`);
  return n;
}

async function logsHandler(req: Req, containers: ContainerService): Promise<void> {
  const c = containers.get(req.params.id);
  const q = req.query;
  const stdout = qBool(q, 'stdout');
  const stderr = qBool(q, 'stderr');
  if (!stdout && !stderr) throw invalid('Bad parameters: you must choose at least one stream');
  if (!readable(c.HostConfig.LogConfig)) throw notImplemented(NOT_READABLE);
  const follow = qBool(q, 'follow');
  const timestamps = qBool(q, 'timestamps');
  const tailRaw = q.get('tail');
  const tail = !tailRaw || tailRaw === 'all' ? undefined : Number(tailRaw);
  if (tail !== undefined && !Number.isFinite(tail)) throw invalid(`invalid value for "tail": ${tailRaw}`);
  const since = parseSince(q.get('since'));
  const until = parseSince(q.get('until'));
  const tty = !!c.Config.Tty;
  const res = req.res;
  res.writeHead(200, { 'Content-Type': tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream' });
  res.flushHeaders();
  const abort = new AbortController();
  res.on('close', () => abort.abort());
  const stopped = c.State.Running || c.State.Restarting ? containers.nextExit(c.Id) : Promise.resolve(0);
  const atLineStart = { 1: true, 2: true } as Record<1 | 2, boolean>;
  const nl = Buffer.from('\n');
  for await (const batch of readLogs(containers.logFile(c), containers.logFiles(c).length, { stdout, stderr, since, until, tail, follow, stopped, signal: abort.signal })) {
    const parts: Buffer[] = [];
    for (const e of batch) {
      let payload = e.partial ? e.text : Buffer.concat([e.text, nl]);
      if (timestamps && atLineStart[e.stream]) payload = Buffer.concat([Buffer.from(dockerTime(e.time) + ' '), payload]);
      atLineStart[e.stream] = !e.partial;
      parts.push(tty ? payload : frame(e.stream, payload));
    }
    if (!res.write(Buffer.concat(parts))) {
      await new Promise<void>((r2) => { res.once('drain', r2); res.once('close', r2); });
    }
    if (abort.signal.aborted) break;
  }
  res.end();
}
