// Overlay mounts by system call (native/sys.c through src/lib/mount.ts), on the real kernel.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync, openSync, closeSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { mountOverlay, unmount, mountBackend } from '../../src/lib/mount';
import { createNetns, deleteNetns, netnsPath } from '../../src/runtime/netavark';
import { readdirSync, readlinkSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const root = mkdtempSync(path.join(os.tmpdir(), 'dray-mount-'));
const mounted = (dir: string) => readFileSync('/proc/self/mounts', 'utf8').includes(` ${dir} `);

after(async () => {
  for (const d of ['m1', 'm2']) if (mounted(path.join(root, d, 'merged'))) await unmount(path.join(root, d, 'merged'));
  rmSync(root, { recursive: true, force: true });
});

function layout(name: string) {
  const base = path.join(root, name);
  for (const d of ['lower', 'upper', 'work', 'merged']) mkdirSync(path.join(base, d), { recursive: true });
  writeFileSync(path.join(base, 'lower', 'a'), 'from lower\n');
  return {
    merged: path.join(base, 'merged'),
    upper: path.join(base, 'upper'),
    data: `lowerdir=${base}/lower,upperdir=${base}/upper,workdir=${base}/work`,
  };
}

test('the addon is built and used', () => {
  assert.equal(mountBackend(), 'syscall', 'dist/dray_sys.node should load (node scripts/build.mjs builds it)');
});

test('mounts an overlay, writes go to the upper directory, unmount reports whether it was mounted', async () => {
  const l = layout('m1');
  await mountOverlay(l.merged, l.data);
  assert.ok(mounted(l.merged));
  assert.equal(readFileSync(path.join(l.merged, 'a'), 'utf8'), 'from lower\n');
  writeFileSync(path.join(l.merged, 'b'), 'new\n');
  assert.equal(readFileSync(path.join(l.upper, 'b'), 'utf8'), 'new\n');
  assert.equal(await unmount(l.merged), true);
  assert.ok(!mounted(l.merged));
  assert.equal(await unmount(l.merged), false, 'a second unmount finds nothing mounted');
});

test('a bad overlay fails with the errno, and a busy mount is detached', async () => {
  const l = layout('m2');
  await assert.rejects(mountOverlay(l.merged, `lowerdir=${root}/does-not-exist,upperdir=${l.upper},workdir=${root}/m2/work`), /mounting the container's root file system: .*No such file or directory/);
  assert.ok(!mounted(l.merged));
  await mountOverlay(l.merged, l.data);
  const fd = openSync(path.join(l.merged, 'a'), 'r'); // keeps the mount busy
  try {
    assert.equal(await unmount(l.merged), true);
    assert.ok(!mounted(l.merged), 'detached from the tree although still in use');
  } finally {
    closeSync(fd);
  }
});

test('network namespaces are made and deleted by system call; every thread stays in the host namespace', async () => {
  const name = `dray-mtest-${process.pid}`;
  const hostNs = readlinkSync('/proc/self/ns/net');
  try {
    // Several at once: each runs on a pool thread that enters a new namespace and comes back.
    await Promise.all([0, 1, 2, 3].map((i) => createNetns(`${name}-${i}`)));
    for (let i = 0; i < 4; i++) {
      const r = spawnSync('ip', ['-n', `${name}-${i}`, '-o', 'link'], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^1: lo:/, 'a fresh namespace has only lo');
      assert.doesNotMatch(r.stdout, /eth|ens|dray/);
    }
    for (const t of readdirSync('/proc/self/task')) assert.equal(readlinkSync(`/proc/self/task/${t}/ns/net`), hostNs, `thread ${t} is back in the host's namespace`);
    await assert.rejects(createNetns(`${name}-0`), /exists/, 'an existing name is refused');
  } finally {
    for (let i = 0; i < 4; i++) await deleteNetns(`${name}-${i}`);
  }
  for (let i = 0; i < 4; i++) {
    assert.ok(!existsSync(netnsPath(`${name}-${i}`)));
    assert.ok(!readFileSync('/proc/self/mounts', 'utf8').includes(netnsPath(`${name}-${i}`)));
  }
});

// A volatile overlay leaves <workdir>/work/incompat/volatile behind, even unmounted cleanly, and
// the kernel refuses every later mount of that workdir while it is there: a --rm container or a
// build step interrupted by a crash could then never be mounted again.
test('a container file system mounted volatile mounts again, volatile or not', async () => {
  const { ContainerFs } = await import('../../src/store/container-fs');
  const dir = path.join(root, 'cfs');
  const lower = path.join(root, 'cfs-lower');
  mkdirSync(lower, { recursive: true });
  writeFileSync(path.join(lower, 'a'), 'from lower\n');
  const fs = new ContainerFs(dir);
  await fs.create('c1');
  try {
    await fs.mount('c1', [lower], { volatile: true });
    await fs.unmount('c1');
    assert.ok(existsSync(path.join(dir, 'c1', 'fs', 'work', 'work', 'incompat', 'volatile')), 'the kernel left no marker: the test sees nothing');
    const merged = await fs.mount('c1', [lower]);
    assert.equal(readFileSync(path.join(merged, 'a'), 'utf8'), 'from lower\n');
    await fs.unmount('c1');
    await fs.mount('c1', [lower], { volatile: true });
    await fs.unmount('c1');
  } finally { await fs.remove('c1'); }
});
