// .dockerignore matching with moby/patternmatcher's rules, and COPY's glob matching.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IgnoreMatcher, globMatch, cleanPath } from '../../src/builder/dockerignore';

const m = (text: string) => IgnoreMatcher.parse(text);

test('plain names, parents and anchoring', () => {
  const i = m('# comment\nnode_modules\n/build\n*.log\n');
  assert.ok(i.matches('node_modules'));
  assert.ok(i.matches('node_modules/a/b.js'));
  assert.ok(i.matches('build/out'));
  assert.ok(i.matches('x.log'));
  assert.ok(!i.matches('sub/x.log'), '* does not cross /');
  assert.ok(!i.matches('src/node_modules'), 'patterns are anchored at the context root');
  assert.ok(!i.matches('README.md'));
});

test('** spans directories', () => {
  const i = m('**/*.pyc\ndocs/**\n');
  assert.ok(i.matches('a.pyc'));
  assert.ok(i.matches('a/b/c.pyc'));
  assert.ok(i.matches('docs/x/y'));
  assert.ok(!i.matches('src/a.py'));
});

test('! exceptions and ordering: the last match wins', () => {
  const i = m('*.md\n!README.md\n');
  assert.ok(i.matches('CHANGES.md'));
  assert.ok(!i.matches('README.md'));
  const j = m('!README.md\n*.md\n');
  assert.ok(j.matches('README.md'));
  const k = m('dir\n!dir/keep\n');
  assert.ok(k.matches('dir/other'));
  assert.ok(!k.matches('dir/keep'));
  assert.ok(k.hasExclusions);
  assert.throws(() => m('!\n'), /illegal exclusion pattern/);
});

test('? and character classes, cleaned paths', () => {
  const i = m('file?.txt\n[ab]*.c\n./x/../y\n');
  assert.ok(i.matches('file1.txt'));
  assert.ok(!i.matches('file10.txt'));
  assert.ok(i.matches('abc.c'));
  assert.ok(!i.matches('cc.c'));
  assert.ok(i.matches('y'));
  assert.equal(cleanPath('a//b/./c/..'), 'a/b');
  assert.equal(cleanPath('/../a'), '/a');
});

test('COPY globs: Go path.Match', () => {
  assert.ok(globMatch('*.txt', 'a.txt'));
  assert.ok(!globMatch('*.txt', 'd/a.txt'));
  assert.ok(globMatch('d/*.txt', 'd/a.txt'));
  assert.ok(globMatch('fil?', 'file'));
  assert.ok(globMatch('[!a]x', 'bx'));
  assert.ok(!globMatch('[!a]x', 'ax'));
});
