// The Dockerfile parser: every instruction, directives, continuations, heredocs, flags, and
// errors with line numbers in Docker's wording.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDockerfile, parseArgDecls, flagValue, parseDuration, splitQuoted } from '../../src/builder/dockerfile';
import { neededStages } from '../../src/builder/builder';
import { lexWords } from '../../src/engine/changes';

test('every instruction parses, with its line, original text and exec form', () => {
  const df = parseDockerfile([
    '# syntax=docker/dockerfile:1',
    'ARG BASE=busybox',
    'FROM --platform=linux/amd64 ${BASE} AS base',
    'MAINTAINER me',
    'RUN echo hi',
    'RUN ["echo", "exec"]',
    'CMD ["python", "app.py"]',
    'LABEL a=b "c d"="e f"',
    'EXPOSE 8000 53/udp',
    'ENV A=1 B="two words"',
    'ENV OLD form value',
    'ADD archive.tar.gz /opt/',
    'COPY --from=base --chown=1:2 --chmod=755 a b /dest/',
    'ENTRYPOINT ["/entry"]',
    'VOLUME ["/data"]',
    'USER nobody',
    'WORKDIR /app',
    'ONBUILD RUN echo trigger',
    'STOPSIGNAL SIGTERM',
    'HEALTHCHECK --interval=5s --retries=3 CMD wget -q localhost',
    'SHELL ["/bin/bash", "-c"]',
  ].join('\n'));
  assert.deepEqual(df.directives, { syntax: 'docker/dockerfile:1' });
  assert.equal(df.globalArgs.length, 1);
  assert.deepEqual(parseArgDecls(df.globalArgs[0]), [['BASE', 'busybox']]);
  const s = df.stages[0];
  assert.equal(s.name, 'base');
  assert.equal(s.base, '${BASE}');
  assert.equal(s.platform, 'linux/amd64');
  const cmds = s.instructions.map((i) => i.cmd);
  assert.deepEqual(cmds, ['maintainer', 'run', 'run', 'cmd', 'label', 'expose', 'env', 'env', 'add', 'copy', 'entrypoint', 'volume', 'user', 'workdir', 'onbuild', 'stopsignal', 'healthcheck', 'shell']);
  const run = s.instructions[1];
  assert.equal(run.line, 5);
  assert.equal(run.original, 'RUN echo hi');
  assert.equal(run.json, undefined);
  assert.deepEqual(s.instructions[2].json, ['echo', 'exec']);
  const copy = s.instructions[9];
  assert.equal(flagValue(copy, 'from'), 'base');
  assert.equal(flagValue(copy, 'chown'), '1:2');
  assert.equal(flagValue(copy, 'chmod'), '755');
  assert.equal(copy.args, 'a b /dest/');
  assert.equal(s.instructions[14].trigger?.cmd, 'run');
  assert.equal(flagValue(s.instructions[16], 'interval'), '5s');
  assert.deepEqual(s.instructions[17].json, ['/bin/bash', '-c']);
});

test('continuations join lines, drop comments and blank lines inside; escape directive', () => {
  const df = parseDockerfile('FROM busybox\nRUN echo a \\\n# comment\n\n    b\nCMD x\n');
  const run = df.stages[0].instructions[0];
  assert.equal(run.original, 'RUN echo a     b');
  assert.equal(run.line, 2);
  assert.equal(df.stages[0].instructions[1].line, 6);
  const bt = parseDockerfile('# escape=`\nFROM busybox\nRUN echo a `\n  b\n');
  assert.equal(bt.escape, '`');
  assert.equal(bt.stages[0].instructions[0].args, 'echo a   b');
  // A directive after a comment is only a comment.
  const late = parseDockerfile('# hello\n# escape=`\nFROM busybox\n');
  assert.equal(late.escape, '\\');
});

test('heredocs for RUN and COPY', () => {
  const df = parseDockerfile('FROM busybox\nRUN <<EOF\necho one\necho two\nEOF\nCOPY <<-"END" /f\n\tliteral $X\n\tEND\nRUN cat <<A > /x\nbody\nA\nCMD done\n');
  const [r1, c, r2, cmd] = df.stages[0].instructions;
  assert.deepEqual(r1.heredocs, [{ name: 'EOF', content: 'echo one\necho two\n', expand: true, chomp: false }]);
  assert.deepEqual(c.heredocs, [{ name: 'END', content: 'literal $X\n', expand: false, chomp: true }]);
  assert.equal(r2.heredocs[0].content, 'body\n');
  assert.equal(cmd.cmd, 'cmd');
  assert.throws(() => parseDockerfile('FROM busybox\nRUN <<EOF\nnever closed\n'), /line 2: unterminated heredoc EOF/);
});

test('errors carry the line number and Docker wording', () => {
  assert.throws(() => parseDockerfile('FROM busybox\nRUN true\nFOOBAR x\n'), { message: 'dockerfile parse error on line 3: unknown instruction: FOOBAR' });
  assert.throws(() => parseDockerfile('RUN true\n'), /line 1: no build stage in current context/);
  assert.throws(() => parseDockerfile('FROM a b\n'), /line 1: FROM requires either one or three arguments/);
  assert.throws(() => parseDockerfile('FROM busybox\nCOPY onlyone\n'), /line 2: COPY requires at least two arguments, but only one was provided/);
  assert.throws(() => parseDockerfile('FROM busybox\nCOPY --nope=1 a b\n'), /line 2: unknown flag: nope/);
  assert.throws(() => parseDockerfile('FROM busybox\nSHELL /bin/bash\n'), /SHELL requires the arguments to be in JSON form/);
  assert.throws(() => parseDockerfile('FROM busybox\nONBUILD FROM x\n'), /FROM isn't allowed as an ONBUILD trigger/);
  assert.throws(() => parseDockerfile('FROM a AS x\nFROM b AS X\n'), /duplicate stage name "x"/);
  assert.throws(() => parseDockerfile('FROM busybox\nWORKDIR\n'), /WORKDIR requires exactly one argument/);
  assert.throws(() => parseDockerfile('\n# only comments\n'), /cannot be empty/);
});

test('variable substitution: $a ${a} ${a:-b} ${a:+b}, quotes and escapes', () => {
  const env = ['A=x', 'EMPTY='];
  assert.deepEqual(lexWords('$A ${A} ${NOPE:-def} ${A:+alt} ${NOPE:+alt} \\$A \'$A\' "$A y"', env), ['x', 'x', 'def', 'alt', '', '$A', '$A', 'x y']);
  assert.deepEqual(lexWords('${EMPTY:-d}', env), ['d']);
});

test('ARG declarations, quoted words, durations', () => {
  const df = parseDockerfile('FROM busybox\nARG a=1 b c="x y" "d=z"\n');
  assert.deepEqual(parseArgDecls(df.stages[0].instructions[0]), [['a', '1'], ['b', undefined], ['c', 'x y'], ['d', 'z']]);
  assert.deepEqual(splitQuoted('a "b c" d\\ e'), ['a', '"b c"', 'd\\ e']);
  assert.equal(parseDuration('1m30s'), 90e9);
  assert.equal(parseDuration('500ms'), 5e8);
  assert.throws(() => parseDuration('5'), /missing unit in duration "5"/);
});

test('stages a target needs: FROM <stage> and COPY --from, others skipped', () => {
  const df = parseDockerfile('FROM busybox AS a\nFROM busybox AS b\nFROM a AS c\nCOPY --from=0 /x /x\nFROM busybox AS d\nCOPY --from=c /x /x\n');
  assert.deepEqual(neededStages(df, df.stages[3]).map((s) => s.name), ['a', 'c', 'd']);
  assert.deepEqual(neededStages(df, df.stages[1]).map((s) => s.name), ['b']);
  // A name with a variable is the stage the global ARGs make it.
  const byArg = parseDockerfile('ARG BASE=a\nARG SRC\nFROM busybox AS a\nFROM busybox AS b\nFROM ${BASE}\nCOPY --from=$SRC /x /x\n');
  assert.deepEqual(neededStages(byArg, byArg.stages[2], ['BASE=a', 'SRC=b']).map((s) => s.name ?? '(last)'), ['a', 'b', '(last)']);
  assert.deepEqual(neededStages(byArg, byArg.stages[2], ['BASE=busybox']).map((s) => s.name ?? '(last)'), ['(last)']);
});
