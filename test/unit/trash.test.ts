// The trash: a tree leaves its place in one rename and is deleted afterwards; leftovers of a crash
// are deleted by the next init().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, existsSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Trash } from '../../src/lib/trash';

function tree(root: string, name: string): string {
  const p = path.join(root, name);
  mkdirSync(path.join(p, 'a', 'b'), { recursive: true });
  writeFileSync(path.join(p, 'a', 'b', 'f'), 'x');
  writeFileSync(path.join(p, 'g'), 'y');
  return p;
}

test('take() removes a tree from its place at once and deletes it in the background', async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'dray-trash-'));
  try {
    const t = new Trash(path.join(root, 'trash'));
    await t.init();
    const p = tree(root, 'c1');
    await t.take(p);
    assert.ok(!existsSync(p));
    await t.take(path.join(root, 'never-was'));
    await t.drained();
    assert.deepEqual(readdirSync(t.dir), []);
    assert.deepEqual(readdirSync(root).sort(), ['trash']);
  } finally { rmSync(root, { recursive: true, force: true }); }
});

test('init() empties what a daemon that died left in the trash', async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'dray-trash-'));
  try {
    const dir = path.join(root, 'trash');
    mkdirSync(dir);
    tree(dir, 'left.1234');
    tree(dir, 'left.5678');
    const t = new Trash(dir);
    await t.init();
    await t.drained();
    assert.deepEqual(readdirSync(dir), []);
  } finally { rmSync(root, { recursive: true, force: true }); }
});
