import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mergeConfig, mergeEnv, createEnv, commandOf, normalizeHostConfig } from '../../src/engine/container-config';
import type { Image } from '../../src/engine/types';

const image = (config: Image['config']['config']): Image => ({
  id: 'sha256:' + 'a'.repeat(64), repoTags: [], repoDigests: [], size: 0, parent: '',
  config: { architecture: 'amd64', os: 'linux', config, rootfs: { type: 'layers', diff_ids: [] } },
});

test('env: the request overrides the image by key, in place', () => {
  assert.deepEqual(mergeEnv(['PATH=/bin', 'A=1'], ['A=2', 'B=3']), ['PATH=/bin', 'A=2', 'B=3']);
});

test('env at create: the request\'s entries as given (bare ones too), then the image\'s it does not name', () => {
  assert.deepEqual(createEnv(['PATH=/bin', 'A=1', 'B=2'], ['A=2', 'B', 'C=3']), ['A=2', 'B', 'C=3', 'PATH=/bin']);
  assert.deepEqual(createEnv(['PATH=/bin'], undefined), ['PATH=/bin']);
});

test('command: an explicit entrypoint discards the image CMD', () => {
  const img = image({ Entrypoint: ['/ep'], Cmd: ['img-cmd'] });
  assert.deepEqual(commandOf(mergeConfig({ Image: 'x' }, img, 'x')), { path: '/ep', args: ['img-cmd'] });
  assert.deepEqual(commandOf(mergeConfig({ Image: 'x', Cmd: ['c'] }, img, 'x')), { path: '/ep', args: ['c'] });
  assert.deepEqual(commandOf(mergeConfig({ Image: 'x', Entrypoint: ['/other'] }, img, 'x')), { path: '/other', args: [] });
  assert.deepEqual(commandOf(mergeConfig({ Image: 'x', Entrypoint: [''], Cmd: ['sh'] }, img, 'x')), { path: 'sh', args: [] });
  assert.throws(() => commandOf(mergeConfig({ Image: 'x' }, image({}), 'x')), /no command specified/);
});

test('host config: restart policies and limits are checked with Docker wording', () => {
  assert.equal(normalizeHostConfig({}, 'crun', ['crun', 'runc']).RestartPolicy!.Name, 'no');
  assert.throws(() => normalizeHostConfig({ RestartPolicy: { Name: 'sometimes' } }, 'crun', ['crun']), /invalid restart policy/);
  assert.throws(() => normalizeHostConfig({ AutoRemove: true, RestartPolicy: { Name: 'always' } }, 'crun', ['crun']), /AutoRemove/);
  assert.throws(() => normalizeHostConfig({ Memory: 1024 }, 'crun', ['crun']), /Minimum memory limit allowed is 6MB/);
  assert.throws(() => normalizeHostConfig({ Runtime: 'kata' }, 'crun', ['crun']), /unknown or invalid runtime name: kata/);
});
