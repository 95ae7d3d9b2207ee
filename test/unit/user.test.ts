import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, symlinkSync } from 'node:fs';
import * as path from 'node:path';
import { resolveUser } from '../../src/runtime/user';
import { resolveInRoot } from '../../src/lib/root-path';

let root: string;
let outside: string;

before(() => {
  root = mkdtempSync('/tmp/dray-user-');
  outside = mkdtempSync('/tmp/dray-user-host-');
  mkdirSync(path.join(root, 'etc'));
  writeFileSync(path.join(root, 'etc/passwd'), [
    'root:x:0:0:root:/root:/bin/sh',
    '# a comment',
    'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
    'app:x:1000:1000:App:/home/app:/bin/sh',
    'nohome:x:1001:1001::',
    '',
  ].join('\n'));
  writeFileSync(path.join(root, 'etc/group'), [
    'root:x:0:',
    'wheel:x:10:app,root',
    'app:x:1000:',
    'audio:x:29:app',
    'staff:x:50:',
  ].join('\n'));
});

after(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

test('empty user is root from passwd, with root\'s supplementary groups', async () => {
  assert.deepEqual(await resolveUser(root, undefined), { uid: 0, gid: 0, additionalGids: [0, 10], home: '/root' });
  assert.deepEqual(await resolveUser(root, ''), { uid: 0, gid: 0, additionalGids: [0, 10], home: '/root' });
});

test('a name, with groups listing it', async () => {
  assert.deepEqual(await resolveUser(root, 'app'), { uid: 1000, gid: 1000, additionalGids: [1000, 10, 29], home: '/home/app' });
});

test('a numeric uid in passwd acts as the name; one not in passwd is fine', async () => {
  assert.deepEqual(await resolveUser(root, '1000'), { uid: 1000, gid: 1000, additionalGids: [1000, 10, 29], home: '/home/app' });
  assert.deepEqual(await resolveUser(root, '4242'), { uid: 4242, gid: 0, additionalGids: [0], home: '/' });
  assert.deepEqual(await resolveUser(root, '1001'), { uid: 1001, gid: 1001, additionalGids: [1001], home: '/' });
});

test('an explicit group replaces the primary gid and drops supplementary groups', async () => {
  assert.deepEqual(await resolveUser(root, 'app:staff'), { uid: 1000, gid: 50, additionalGids: [50], home: '/home/app' });
  assert.deepEqual(await resolveUser(root, 'app:77'), { uid: 1000, gid: 77, additionalGids: [77], home: '/home/app' });
  assert.deepEqual(await resolveUser(root, '5000:5000'), { uid: 5000, gid: 5000, additionalGids: [5000], home: '/' });
  assert.deepEqual(await resolveUser(root, '1000:10'), { uid: 1000, gid: 10, additionalGids: [10], home: '/home/app' });
});

test('errors in Docker\'s wording', async () => {
  await assert.rejects(resolveUser(root, 'foo'), { message: 'unable to find user foo: no matching entries in passwd file' });
  await assert.rejects(resolveUser(root, 'app:nogroup'), { message: 'unable to find group nogroup: no matching entries in group file' });
  await assert.rejects(resolveUser(root, '-5'), /uids and gids must be in range/);
  await assert.rejects(resolveUser(root, 'foo'), (e: any) => e.kind === 'InvalidParameter');
});

test('no passwd file: numeric users work, names do not', async () => {
  const bare = mkdtempSync('/tmp/dray-user-bare-');
  try {
    assert.deepEqual(await resolveUser(bare, ''), { uid: 0, gid: 0, additionalGids: [0], home: '/' });
    assert.deepEqual(await resolveUser(bare, '33:44'), { uid: 33, gid: 44, additionalGids: [44], home: '/' });
    await assert.rejects(resolveUser(bare, 'www'), /unable to find user www: no matching entries in passwd file/);
  } finally {
    rmSync(bare, { recursive: true, force: true });
  }
});

test('symlinks are resolved inside the rootfs, never to the host', async () => {
  const evil = mkdtempSync('/tmp/dray-user-evil-');
  try {
    writeFileSync(path.join(outside, 'passwd'), 'hostonly:x:777:777::/:/bin/sh\n');
    mkdirSync(path.join(evil, 'etc'));
    // An absolute link to the host's file, and a relative one climbing out: both stay in the rootfs.
    symlinkSync(path.join(outside, 'passwd'), path.join(evil, 'etc/passwd'));
    symlinkSync('../../../../../../..' + outside + '/passwd', path.join(evil, 'etc/group'));
    await assert.rejects(resolveUser(evil, 'hostonly'), /no matching entries in passwd file/);
    assert.equal(await resolveInRoot(evil, '/etc/passwd'), path.join(evil, outside, 'passwd'));
    assert.equal(await resolveInRoot(evil, '/etc/group'), path.join(evil, outside, 'passwd'));
    // A link that stays inside works.
    mkdirSync(path.join(evil, 'real'));
    writeFileSync(path.join(evil, 'real/passwd'), 'inside:x:12:34::/in:/bin/sh\n');
    rmSync(path.join(evil, 'etc/passwd'));
    symlinkSync('/real/passwd', path.join(evil, 'etc/passwd'));
    assert.deepEqual(await resolveUser(evil, 'inside'), { uid: 12, gid: 34, additionalGids: [34], home: '/in' });
    // A loop is an error, not a hang.
    symlinkSync('loop', path.join(evil, 'loop'));
    await assert.rejects(resolveInRoot(evil, '/loop/x'), /too many levels of symbolic links/);
  } finally {
    rmSync(evil, { recursive: true, force: true });
  }
});
