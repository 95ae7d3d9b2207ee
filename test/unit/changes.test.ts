import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyChanges, lexWords, parseInstruction, parsePortSpecs } from '../../src/engine/changes';

test('CMD and ENTRYPOINT: exec form as is, shell form through /bin/sh -c', () => {
  assert.deepEqual(applyChanges({}, ['CMD ["echo", "hi"]']).Cmd, ['echo', 'hi']);
  assert.deepEqual(applyChanges({}, ['CMD echo hi there']).Cmd, ['/bin/sh', '-c', 'echo hi there']);
  assert.deepEqual(applyChanges({ Shell: ['/bin/bash', '-c'] }, ['cmd ls']).Cmd, ['/bin/bash', '-c', 'ls']);
  const e = applyChanges({ Cmd: ['sh'] }, ['ENTRYPOINT ["/bin/app"]']);
  assert.deepEqual(e.Entrypoint, ['/bin/app']);
  assert.equal(e.Cmd, null, 'ENTRYPOINT without CMD in the same changes clears Cmd');
  const both = applyChanges({}, ['CMD ["x"]', 'ENTRYPOINT ["/bin/app"]']);
  assert.deepEqual(both.Cmd, ['x']);
});

test('ENV: both forms, quotes, replacing, expansion', () => {
  const c = applyChanges({ Env: ['PATH=/bin', 'A=1'] }, ['ENV A=2 B="two words" C=$A', 'ENV D the rest of line', 'ENV PATH=/x:$PATH']);
  assert.deepEqual(c.Env, ['PATH=/x:/bin', 'A=2', 'B=two words', 'C=1', 'D=the rest of line'], 'one ENV instruction expands with the values from before it');
  assert.deepEqual(applyChanges({}, ["ENV X='$NOPE' Y=${UNSET:-dflt}"]).Env, ['X=$NOPE', 'Y=dflt']);
  assert.throws(() => applyChanges({}, ['ENV A=1 B']), /can't find = in "B"/);
});

test('LABEL, EXPOSE, VOLUME, WORKDIR, USER, STOPSIGNAL, ONBUILD', () => {
  const c = applyChanges({ WorkingDir: '/srv' }, [
    'LABEL a=b "c d"="e f"', 'EXPOSE 80 53/udp 8000-8001', 'VOLUME ["/data", "/logs"]', 'VOLUME /x /y',
    'WORKDIR app', 'WORKDIR ../other/./z', 'USER nobody:nogroup', 'STOPSIGNAL SIGINT', 'ONBUILD RUN echo hi',
  ]);
  assert.deepEqual(c.Labels, { a: 'b', 'c d': 'e f' });
  assert.deepEqual(Object.keys(c.ExposedPorts!).sort(), ['53/udp', '80/tcp', '8000/tcp', '8001/tcp']);
  assert.deepEqual(Object.keys(c.Volumes!).sort(), ['/data', '/logs', '/x', '/y']);
  assert.equal(c.WorkingDir, '/srv/other/z');
  assert.equal(c.User, 'nobody:nogroup');
  assert.equal(c.StopSignal, 'SIGINT');
  assert.deepEqual(c.OnBuild, ['RUN echo hi']);
  assert.equal(applyChanges({}, ['WORKDIR /abs']).WorkingDir, '/abs');
});

test('the input config is not modified', () => {
  const orig = { Env: ['A=1'], Labels: { x: 'y' } };
  applyChanges(orig, ['ENV A=2', 'LABEL x=z']);
  assert.deepEqual(orig, { Env: ['A=1'], Labels: { x: 'y' } });
});

test('instructions other than the allowed ones are refused with Docker\'s wording', () => {
  for (const bad of ['RUN echo hi', 'ADD a b', 'COPY a b', 'FROM busybox', 'FOO bar']) {
    const name = bad.split(' ')[0].toLowerCase();
    assert.throws(() => applyChanges({}, [bad]), (e: any) => e.kind === 'InvalidParameter' && e.message === `${name} is not a valid change command`);
  }
  assert.throws(() => applyChanges({}, ['EXPOSE abc']), /invalid containerPort/);
});

test('parsing helpers', () => {
  assert.deepEqual(parseInstruction('  cmd   ["a"]  '), { cmd: 'cmd', rest: '["a"]', json: ['a'] });
  assert.equal(parseInstruction('CMD [not json').json, undefined);
  assert.deepEqual(lexWords(`a "b c" 'd $X' e\\ f $X`, ['X=1']), ['a', 'b c', 'd $X', 'e f', '1']);
  assert.deepEqual(parsePortSpecs(['1-3/udp']), ['1/udp', '2/udp', '3/udp']);
});
