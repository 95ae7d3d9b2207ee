// RUN --mount and --network grammar (BuildKit's), with its defaults and error wording.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRunMount, parseRunNetwork, mountTarget, csvFields } from '../../src/builder/run-options';
import { parseDockerfile } from '../../src/builder/dockerfile';

test('mount defaults per type', () => {
  assert.deepEqual(parseRunMount('target=/x'), { type: 'bind', from: '', source: '', target: '/x', readOnly: true, id: '', sharing: 'shared', required: false, size: 0 });
  const c = parseRunMount('type=cache,target=/root/.cache');
  assert.equal(c.id, '/root/.cache');
  assert.equal(c.readOnly, false);
  assert.equal(parseRunMount('type=cache,target=/c,id=pip,sharing=LOCKED,uid=1000,gid=1000,mode=0750,ro').sharing, 'locked');
  assert.equal(parseRunMount('type=cache,target=/c,mode=0750').mode, 0o750);
  const s = parseRunMount('type=secret,id=tok');
  assert.equal(s.target, '/run/secrets/tok');
  assert.equal(s.readOnly, true);
  assert.equal(parseRunMount('type=secret,target=/etc/npmrc').id, 'npmrc');
  assert.equal(parseRunMount('type=secret,src=aws').id, 'aws');
  const e = parseRunMount('type=secret,id=k,env=KEY,required');
  assert.equal(e.target, '');
  assert.equal(e.env, 'KEY');
  assert.equal(e.required, true);
  assert.equal(parseRunMount('type=tmpfs,target=/t,size=64m').size, 64 << 20);
  assert.equal(parseRunMount('type=bind,target=/t,rw=true').readOnly, false);
  assert.equal(parseRunMount('type=bind,target=/t,readwrite').readOnly, false);
  assert.deepEqual(csvFields('type=bind,"source=a,b",target=/x'), ['type=bind', 'source=a,b', 'target=/x']);
});

test('variables: left for later at parse time, expanded at run time; from may not use one', () => {
  assert.equal(parseRunMount('type=$T,target=/x').type, 'bind');
  assert.equal(parseRunMount('type=$T,target=/x', (v) => v.replace('$T', 'cache')).type, 'cache');
  assert.throws(() => parseRunMount('from=$STAGE,target=/x'), /'from' doesn't support variable expansion/);
});

test('errors', () => {
  const bad: [string, RegExp][] = [
    ['type=nfs,target=/x', /unsupported mount type "nfs"/],
    ['target=/x,colour=blue', /unexpected key 'colour' in 'colour=blue'/],
    ['target=/x,colour', /unexpected key 'colour' in 'colour'/],
    ['target=/x,source', /invalid field 'source' must be a key=value pair/],
    ['type=cache,target=/x,sharing=no', /unsupported sharing value "no"/],
    ['type=bind,target=/x,sharing=locked', /invalid cache sharing set for bind mount/],
    ['type=bind,target=/x,required', /unexpected key 'required' for mount type 'bind'/],
    ['type=cache,target=/x,size=1m', /unexpected key 'size' for mount type 'cache'/],
    ['type=tmpfs,target=/x,mode=0700', /mode not allowed for "tmpfs" type mounts/],
    ['type=cache,target=/x,mode=999', /invalid value 999 for mode/],
    ['type=cache,target=/x,uid=-1', /invalid value -1 for uid/],
    ['type=bind,target=/x,ro=maybe', /invalid value for ro: maybe/],
    ['type=secret', /one of source, target required/],
    ['type=secret,id=a,from=x', /secret mount should not have a from/],
    ['type=secret,id=a,src=b', /both source and id can't be set/],
    ['type=cache', /mount type "cache" requires a target/],
    ['type=bind,target=/x,env=A', /unexpected key 'env' for mount type 'bind'/],
  ];
  for (const [v, re] of bad) assert.throws(() => parseRunMount(v), re, v);
  assert.throws(() => mountTarget(parseRunMount('target=/'), '/'), /invalid mount target "\/"/);
  assert.equal(mountTarget(parseRunMount('target=cache/'), '/app'), '/app/cache');
  assert.equal(parseRunNetwork('NONE'), 'none');
  assert.throws(() => parseRunNetwork('bridge'), /unsupported network mode "bridge"/);
});

test('the parser checks RUN flags with the line, takes ssh mounts, and refuses insecure as not implemented', () => {
  assert.throws(() => parseDockerfile('FROM busybox\n\nRUN --mount=type=cache,target=/x,bogus=1 true\n'), /dockerfile parse error on line 3: RUN --mount=type=cache,target=\/x,bogus=1: unexpected key 'bogus'/);
  assert.throws(() => parseDockerfile('FROM busybox\nRUN --mount true\n'), /line 2: RUN --mount requires a value/);
  assert.doesNotThrow(() => parseDockerfile('FROM busybox\nRUN --mount=type=ssh true\n'));
  assert.throws(() => parseDockerfile('FROM busybox\nRUN --mount=type=ssh,from=x true\n'), /line 2: .*ssh mount should not have a from/);
  assert.throws(() => parseDockerfile('FROM busybox\nRUN --security=insecure true\n'), (e: any) => e.kind === 'NotImplemented');
  const df = parseDockerfile('FROM busybox\nRUN --mount=type=cache,target=/x --network=none --security=sandbox true\n');
  assert.equal(df.stages[0].instructions[0].flags.length, 3);
});

test('COPY --chmod: octal, and symbolic relative to each entry', () => {
  const { parseChmod } = require('../../src/builder/copy') as typeof import('../../src/builder/copy');
  assert.equal(parseChmod('755').apply(0o600, false), 0o755);
  assert.equal(parseChmod('0640').apply(0o777, true), 0o640);
  const cases: [string, number, boolean, number][] = [
    ['u+x', 0o644, false, 0o744],
    ['go-w', 0o666, false, 0o644],
    ['a+X', 0o644, false, 0o644],
    ['a+X', 0o744, false, 0o755],
    ['a+X', 0o700, true, 0o711],
    ['u=rwx,g=rx,o=', 0o666, false, 0o750],
    ['+x', 0o600, false, 0o711],
    ['g=u', 0o740, false, 0o770],
    ['u+s,o+t', 0o755, true, 0o5755],
    ['o=r,g-r', 0o777, false, 0o734],
  ];
  for (const [spec, from, dir, want] of cases) assert.equal(parseChmod(spec).apply(from, dir).toString(8), want.toString(8), `${spec} on ${from.toString(8)}`);
  for (const bad of ['u+q', 'x+r', '8', '', 'u+x,']) assert.throws(() => parseChmod(bad), /invalid chmod parameter/, bad);
});
