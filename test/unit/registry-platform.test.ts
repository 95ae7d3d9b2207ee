import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePlatform, formatPlatform, normalize, selectPlatform, platformRank, hostPlatform } from '../../src/registry/remote/platform';

test('platform strings parse and normalise as containerd does', () => {
  assert.deepEqual(parsePlatform('linux/amd64'), { os: 'linux', architecture: 'amd64' });
  assert.deepEqual(parsePlatform('linux/x86_64'), { os: 'linux', architecture: 'amd64' });
  assert.deepEqual(parsePlatform('linux/aarch64'), { os: 'linux', architecture: 'arm64' });
  assert.deepEqual(parsePlatform('linux/arm64/v8'), { os: 'linux', architecture: 'arm64' });
  assert.deepEqual(parsePlatform('linux/arm'), { os: 'linux', architecture: 'arm', variant: 'v7' });
  assert.deepEqual(parsePlatform('LINUX/ARM/6'), { os: 'linux', architecture: 'arm', variant: 'v6' });
  assert.deepEqual(parsePlatform('arm64'), { os: 'linux', architecture: 'arm64' });
  assert.equal(formatPlatform({ os: 'linux', architecture: 'arm', variant: 'v7' }), 'linux/arm/v7');
  assert.throws(() => parsePlatform('linux/nope'), /unknown operating system or architecture/);
  assert.throws(() => parsePlatform('a/b/c/d'), /invalid platform specifier/);
  assert.deepEqual(normalize({ os: 'linux', architecture: 'armhf' }), { os: 'linux', architecture: 'arm', variant: 'v7' });
  assert.equal(hostPlatform().os, 'linux');
});

const index = [
  { os: 'linux', architecture: 'arm', variant: 'v6' },
  { os: 'linux', architecture: 'arm64', variant: 'v8' },
  { os: 'linux', architecture: 'amd64' },
  { os: 'windows', architecture: 'amd64' },
  { os: 'linux', architecture: 'arm', variant: 'v7' },
  undefined,
];

test('an index entry is picked for the platform: exact variant first, then what the CPU also runs', () => {
  assert.equal(selectPlatform({ os: 'linux', architecture: 'amd64' }, index), 2);
  assert.equal(selectPlatform({ os: 'linux', architecture: 'arm64' }, index), 1);
  assert.equal(selectPlatform({ os: 'linux', architecture: 'arm', variant: 'v7' }, index), 4);
  assert.equal(selectPlatform({ os: 'linux', architecture: 'arm', variant: 'v8' }, index), 4);
  assert.equal(selectPlatform({ os: 'linux', architecture: 'arm', variant: 'v6' }, index), 0);
  assert.equal(selectPlatform({ os: 'linux', architecture: 'arm', variant: 'v5' }, index), -1);
  assert.equal(selectPlatform({ os: 'windows', architecture: 'amd64' }, index), 3);
  assert.equal(selectPlatform({ os: 'linux', architecture: 's390x' }, index), -1);
  // No arm64 entry: 32-bit ARM images run on a 64-bit ARM host.
  assert.equal(selectPlatform({ os: 'linux', architecture: 'arm64' }, [index[0], index[4]]), 1);
  assert.equal(platformRank({ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'amd64', variant: 'v3' }), 10);
});
