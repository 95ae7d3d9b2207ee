// The grammars of dray build --output type=image|registry and --cache-to/--cache-from
// type=registry: buildx's CSV fields (a quoted field holds commas), the keys each type knows, and
// refusals worded for the flag.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { csvFields, parseOutputSpec } from '../../src/cli/build-output';
import { parseCacheTo, parseCacheFrom } from '../../src/cli/build-cache';

test('csvFields reads one record as Go\'s encoding/csv does', () => {
  assert.deepEqual(csvFields('type=image,name=a'), ['type=image', 'name=a']);
  assert.deepEqual(csvFields('type=image,"name=a:1,b:2",push=true'), ['type=image', 'name=a:1,b:2', 'push=true']);
  assert.deepEqual(csvFields('"a""b",c'), ['a"b', 'c']);
  assert.deepEqual(csvFields('a,,b'), ['a', '', 'b']);
  assert.throws(() => csvFields('"open,x'), /unterminated quote/);
  assert.throws(() => csvFields('"a"b,c'), /extraneous text/);
});

test('--output type=image and type=registry', () => {
  assert.deepEqual(parseOutputSpec('type=image'), { type: 'image', names: [], push: false });
  assert.deepEqual(parseOutputSpec('type=image,"name=a:1, b:2",push=true'), { type: 'image', names: ['a:1', 'b:2'], push: true });
  assert.deepEqual(parseOutputSpec('type=image,name=a,name=b'), { type: 'image', names: ['a', 'b'], push: false });
  assert.deepEqual(parseOutputSpec('type=registry,name=r:5000/x'), { type: 'registry', names: ['r:5000/x'], push: true });
  assert.throws(() => parseOutputSpec('type=registry'), /name is required/);
  assert.throws(() => parseOutputSpec('type=registry,name=x,push=false'), /always pushes/);
  assert.throws(() => parseOutputSpec('type=image,name=a,b'), /several names go in quotes/);
  assert.throws(() => parseOutputSpec('type=image,dest=x'), /dest is not a key of type=image/);
  assert.throws(() => parseOutputSpec('type=local,dest=x,push=true'), /name and push are keys of type=image/);
  assert.deepEqual(parseOutputSpec('type=local,dest=d'), { type: 'local', dest: 'd' }, 'the other types as before');
});

test('--cache-to / --cache-from type=registry', () => {
  assert.deepEqual(parseCacheTo('type=registry,ref=r:5000/c:t'), { type: 'registry', ref: 'r:5000/c:t', mode: 'min', ignoreError: false });
  assert.deepEqual(parseCacheTo('type=registry,ref=r/c,mode=max,ignore-error=true'), { type: 'registry', ref: 'r/c', mode: 'max', ignoreError: true });
  assert.deepEqual(parseCacheTo('type=local,dest=d,mode=max'), { type: 'local', dest: 'd', mode: 'max' });
  assert.throws(() => parseCacheTo('type=registry'), /ref is required/);
  assert.throws(() => parseCacheTo('type=registry,ref=r/c@sha256:' + 'a'.repeat(64)), /digest reference/);
  assert.throws(() => parseCacheTo('type=registry,ref=r/c,dest=x'), /unknown key 'dest'/);
  assert.throws(() => parseCacheTo('type=registry,ref=r/c,ignore-error=maybe'), /invalid ignore-error/);
  assert.throws(() => parseCacheTo('type=inline'), /"inline" is not implemented/);
  assert.deepEqual(parseCacheFrom('type=registry,ref=r/c:t'), { registry: 'r/c:t' });
  assert.deepEqual(parseCacheFrom('r/c:t'), { image: 'r/c:t' }, 'a bare name stays the legacy builder\'s image hint');
  assert.throws(() => parseCacheFrom('type=registry,ref=r/c,mode=max'), /unknown key 'mode'/);
});
