import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderTemplate as r, Template, TemplateError, sprintf } from '../../src/cli/template';
import { renderList } from '../../src/cli/format';
import { tabwrite } from '../../src/cli/tabwriter';

const d = { ID: 'abc', Names: ['a', 'b'], Labels: { y: '2', x: '1' }, N: 1500000, State: { Running: true, Pid: 42 }, E: [] as string[], Nil: null, Mixed: 'Hello World' };

test('fields, nested fields, dot', () => {
  assert.equal(r('{{.ID}}', d), 'abc');
  assert.equal(r('{{.State.Pid}}', d), '42');
  assert.equal(r('{{.}}', 'x'), 'x');
});

test('Go printing of slices, maps, nil, missing keys', () => {
  assert.equal(r('{{.Names}}', d), '[a b]');
  assert.equal(r('{{.Labels}}', d), 'map[x:1 y:2]');
  assert.equal(r('{{.Nil}}', d), '<nil>');
  assert.equal(r('{{.Missing}}', d), '<no value>');
  assert.equal(r('{{.N}}', d), '1500000');
  assert.equal(r('{{.N}}', d, { floats: true }), '1.5e+06');
});

test('json, join, lower, upper, title, len, index, printf, println, split, pad, truncate', () => {
  assert.equal(r('{{json .Names}}', d), '["a","b"]');
  assert.equal(r('{{json .}}', { a: '<x>' }), '{"a":"\\u003cx\\u003e"}');
  assert.equal(r('{{join .Names ","}}', d), 'a,b');
  assert.equal(r('{{lower .Mixed}} {{upper .Mixed}}', d), 'hello world HELLO WORLD');
  assert.equal(r('{{title "hello world"}}', d), 'Hello World');
  assert.equal(r('{{len .Names}}', d), '2');
  assert.equal(r('{{index .Labels "x"}} {{index .Names 1}}', d), '1 b');
  assert.equal(r('{{printf "%-5s|%3d|%q" .ID 7 "s"}}', d), 'abc  |  7|"s"');
  assert.equal(r('{{println .ID}}', d), 'abc\n');
  assert.equal(r('{{split "a:b" ":"}}', d), '[a b]');
  assert.equal(r('{{pad .ID 1 2}}|', d), ' abc  |');
  assert.equal(r('{{truncate .ID 2}}', d), 'ab');
});

test('pipelines and parentheses', () => {
  assert.equal(r('{{.Mixed | upper | lower}}', d), 'hello world');
  assert.equal(r('{{"x" | printf "%s-%s" "y"}}', d), 'y-x');
  assert.equal(r('{{(index .Names 0) | upper}}', d), 'A');
  assert.equal(r('{{len (index .Names 0)}}', d), '1');
});

test('if / else if / else, with, and/or/not/eq/ne/lt', () => {
  assert.equal(r('{{if .State.Running}}up{{else}}down{{end}}', d), 'up');
  assert.equal(r('{{if eq .ID "x"}}X{{else if eq .ID "abc"}}ABC{{else}}?{{end}}', d), 'ABC');
  assert.equal(r('{{if .E}}y{{else}}n{{end}}', d), 'n');
  assert.equal(r('{{with .State}}{{.Pid}}{{end}}', d), '42');
  assert.equal(r('{{if and .ID (not .Nil)}}ok{{end}}', d), 'ok');
  assert.equal(r('{{if or .Nil .ID}}ok{{end}}', d), 'ok');
  assert.equal(r('{{if ne .ID "a"}}ok{{end}}{{if lt 1 2}}!{{end}}', d), 'ok!');
  assert.equal(r('{{if eq .ID "q" "abc"}}any{{end}}', d), 'any');
});

test('range over slices and maps, with variables and else', () => {
  assert.equal(r('{{range .Names}}[{{.}}]{{end}}', d), '[a][b]');
  assert.equal(r('{{range $i, $n := .Names}}{{$i}}={{$n}} {{end}}', d), '0=a 1=b ');
  assert.equal(r('{{range $k, $v := .Labels}}{{$k}}:{{$v}};{{end}}', d), 'x:1;y:2;');
  assert.equal(r('{{range .E}}x{{else}}empty{{end}}', d), 'empty');
  assert.equal(r('{{$x := .ID}}{{range .Names}}{{$x}}{{.}}{{end}}', d), 'abcaabcb');
  assert.equal(r('{{range .Names}}{{$.ID}}{{end}}', d), 'abcabc');
});

test('trim markers and raw strings', () => {
  assert.equal(r('a  {{- .ID -}}  b', d), 'aabcb');
  assert.equal(r('{{`raw\\n`}}', d), 'raw\\n');
});

test('errors: parse and execution', () => {
  assert.throws(() => new Template('{{.ID'), (e: any) => e instanceof TemplateError && /unclosed action/.test(e.message));
  assert.throws(() => new Template('{{nofunc .ID}}'), /function "nofunc" not defined/);
  assert.throws(() => r('{{.State.Foo}}', d, { missingKeyError: true }), { message: 'template: :1:8: executing "" at <.State.Foo>: map has no entry for key "Foo"' });
  class Ctx { get ID() { return 'i'; } }
  assert.throws(() => r('{{.Nope}}', new Ctx()), /can't evaluate field Nope/);
});

test('methods with arguments on contexts', () => {
  class Ctx { Label(n: string) { return `L:${n}`; } get Names() { return 'n1'; } }
  assert.equal(r('{{.Label "foo"}} {{.Names}}', new Ctx()), 'L:foo n1');
});

test('sprintf covers the common verbs', () => {
  assert.equal(sprintf('%s %d %v %t %5.2f %x %%', ['a', 3, [1, 2], true, 3.14159, 255]), 'a 3 [1 2] true  3.14 ff %');
  assert.equal(sprintf('%s', []), '%!s(MISSING)');
});

test('tabwriter: docker padding and minimum width', () => {
  assert.equal(tabwrite('A\tBB\tC\nxxxxxxxxxxxx\ty\tz\n'), 'A              BB        C\nxxxxxxxxxxxx   y         z\n');
  // The last cell is never padded; lines without the column end the block.
  assert.equal(tabwrite('a\tb\nc\n'), 'a         b\nc\n');
});

test('renderList: table, table TEMPLATE, json, plain template, \\t escapes', () => {
  const rows = [{ ID: '1', Name: 'x' }, { ID: '22', Name: 'y' }];
  const spec = { defaultTable: '{{.ID}}\t{{.Name}}', headers: { ID: 'ID', Name: 'NAME' } };
  assert.equal(renderList(undefined, rows, spec), 'ID        NAME\n1         x\n22        y\n');
  assert.equal(renderList('table {{.Name}}\\t{{.ID}}', rows, spec), 'NAME      ID\nx         1\ny         22\n');
  assert.equal(renderList('json', rows, spec), '{"ID":"1","Name":"x"}\n{"ID":"22","Name":"y"}\n');
  assert.equal(renderList('{{.ID}}:{{.Name}}', rows, spec), '1:x\n22:y\n');
  assert.equal(renderList('table', [], spec), 'ID        NAME\n');
});
