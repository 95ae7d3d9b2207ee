// The real docker CLI against drayd for what issue 20 added: healthchecks (inspect, ps, filter,
// events), log drivers, TTY output through a line discipline, stats, kill/stop/wait semantics,
// networks with aliases.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestDaemon, sleep } from '../helpers/daemon';

const d = new TestDaemon();

before(async () => {
  await d.start();
  await d.bootstrapBusybox();
});

after(async () => {
  assert.deepEqual(await d.stop(), [], 'nothing may be left behind');
});

function ok(args: string[]): string {
  const r = d.docker(args);
  assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function untilOut(args: string[], re: RegExp, what: string, ms = 10_000): Promise<string> {
  const end = Date.now() + ms;
  let out = '';
  while (Date.now() < end) {
    out = d.docker(args).stdout;
    if (re.test(out)) return out;
    await sleep(100);
  }
  assert.fail(`${what}: last output ${JSON.stringify(out)}`);
}

test('healthchecks: --health-* flags, inspect, ps STATUS, --filter health=, health_status events', async () => {
  const since = Math.floor(Date.now() / 1000) - 1;
  ok(['run', '-d', '--name', 'hok', '--health-cmd', 'echo fine', '--health-interval', '200ms', '--health-retries', '2', 'busybox', 'sleep', '600']);
  ok(['run', '-d', '--name', 'hbad', '--health-cmd', 'exit 1', '--health-interval', '200ms', '--health-retries', '2', 'busybox', 'sleep', '600']);
  ok(['run', '-d', '--name', 'hnone', 'busybox', 'sleep', '600']);
  assert.match(ok(['ps', '--filter', 'name=hok', '--format', '{{.Status}}']), /\((health: starting|healthy)\)/);
  await untilOut(['inspect', '-f', '{{.State.Health.Status}}', 'hok'], /^healthy\n$/, 'hok healthy');
  await untilOut(['inspect', '-f', '{{.State.Health.Status}}', 'hbad'], /^unhealthy\n$/, 'hbad unhealthy');
  assert.match(ok(['ps', '--filter', 'name=hok', '--format', '{{.Status}}']), /^Up .* \(healthy\)\n$/);
  assert.match(ok(['ps', '--filter', 'name=hbad', '--format', '{{.Status}}']), /^Up .* \(unhealthy\)\n$/);
  assert.equal(ok(['ps', '--filter', 'health=healthy', '--format', '{{.Names}}']), 'hok\n');
  assert.equal(ok(['ps', '--filter', 'health=unhealthy', '--format', '{{.Names}}']), 'hbad\n');
  assert.equal(ok(['ps', '--filter', 'health=none', '--format', '{{.Names}}']), 'hnone\n');
  assert.equal(ok(['inspect', '-f', '{{(index .State.Health.Log 0).Output}}', 'hok']), 'fine\n\n');
  const ev = ok(['events', '--since', String(since), '--until', String(Math.floor(Date.now() / 1000) + 1), '--filter', 'event=health_status', '--format', '{{.Actor.Attributes.name}} {{.Action}}']);
  assert.deepEqual(ev.trim().split('\n').sort(), ['hbad health_status: unhealthy', 'hok health_status: healthy']);
  ok(['stop', '-t', '0', 'hok']);
  assert.equal(ok(['inspect', '-f', '{{.State.Health.Status}}', 'hok']), 'unhealthy\n', 'a stopped container is unhealthy, as in Docker');
  ok(['rm', '-f', 'hok', 'hbad', 'hnone']);
});

test('log drivers: json-file by default, none refuses logs with Docker\'s message, unknown ones are refused', () => {
  assert.equal(ok(['info', '--format', '{{.LoggingDriver}}']), 'json-file\n');
  ok(['run', '--name', 'lj', 'busybox', 'echo', 'kept']);
  assert.equal(ok(['inspect', '-f', '{{.HostConfig.LogConfig.Type}}', 'lj']), 'json-file\n');
  assert.equal(ok(['logs', 'lj']), 'kept\n');
  assert.equal(ok(['run', '--name', 'ln', '--log-driver', 'none', 'busybox', 'echo', 'shown']), 'shown\n', 'attach still shows the output');
  const l = d.docker(['logs', 'ln']);
  assert.equal(l.code, 1);
  assert.equal(l.stderr.trim(), 'Error response from daemon: configured logging driver does not support reading');
  ok(['run', '--name', 'll', '--log-driver', 'local', '--log-opt', 'max-size=1m', 'busybox', 'echo', 'local-kept']);
  assert.equal(ok(['logs', 'll']), 'local-kept\n');
  const bad = d.docker(['run', '--rm', '--log-driver', 'nosuch', 'busybox', 'true']);
  assert.equal(bad.code, 125);
  assert.match(bad.stderr, /error looking up logging plugin nosuch: plugin "nosuch" not found/);
  ok(['rm', 'lj', 'ln', 'll']);
});

test('TTY output goes through a terminal line discipline: \\r\\n, as Docker', () => {
  assert.equal(ok(['run', '-t', '--rm', 'busybox', 'sh', '-c', 'echo one; echo two']), 'one\r\ntwo\r\n');
  ok(['run', '-d', '--name', 'tty1', 'busybox', 'sleep', '600']);
  assert.equal(ok(['exec', '-t', 'tty1', 'echo', 'hi']), 'hi\r\n');
  assert.equal(ok(['exec', 'tty1', 'echo', 'hi']), 'hi\n');
  ok(['rm', '-f', 'tty1']);
});

test('stats --no-stream: CPU, memory, network and PIDs columns', () => {
  ok(['run', '-d', '--name', 'st', 'busybox', 'sh', '-c', 'while true; do :; done']);
  const out = ok(['stats', '--no-stream', '--format', '{{.Name}}|{{.CPUPerc}}|{{.MemUsage}}|{{.NetIO}}|{{.BlockIO}}|{{.PIDs}}', 'st']).trim();
  const [name, cpu, mem, netio, , pids] = out.split('|');
  assert.equal(name, 'st');
  assert.ok(Number(cpu.replace('%', '')) > 5, `a busy loop uses CPU: ${out}`);
  assert.match(mem, /^[\d.]+\w?i?B \/ [\d.]+\w?i?B$/);
  assert.match(netio, /^[\d.]+\w?B \/ [\d.]+\w?B$/);
  assert.equal(pids, '1');
  ok(['rm', '-f', 'st']);
});

test('kill, stop and wait: the container is dead when they return', () => {
  for (let i = 0; i < 3; i++) {
    ok(['run', '-d', '--name', `k${i}`, 'busybox', 'sleep', '600']);
    assert.equal(ok(['kill', `k${i}`]), `k${i}\n`);
    assert.equal(ok(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', `k${i}`]), 'exited 137\n');
    assert.equal(ok(['wait', `k${i}`]), '137\n');
  }
  ok(['run', '-d', '--name', 'sw', 'busybox', 'sh', '-c', 'trap "exit 3" TERM; sleep 600 & wait']);
  ok(['stop', 'sw']);
  assert.equal(ok(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'sw']), 'exited 3\n');
  ok(['rm', 'k0', 'k1', 'k2', 'sw']);
});

test('a network with aliases: names and aliases resolve, --network of a missing network fails as Docker', () => {
  ok(['network', 'create', 'clinet']);
  ok(['run', '-d', '--name', 'srv', '--network', 'clinet', '--network-alias', 'api', 'busybox', 'sh', '-c', 'echo up > /tmp/i; exec httpd -f -p 80 -h /tmp']);
  const fetch = (host: string) => d.docker(['run', '--rm', '--network', 'clinet', 'busybox', 'sh', '-c',
    `for i in $(seq 30); do r=$(printf 'GET /i HTTP/1.0\\r\\n\\r\\n' | nc ${host} 80 2>/dev/null | tail -n 1); [ -n "$r" ] && echo $r && exit 0; sleep 0.1; done; exit 1`]);
  assert.equal(fetch('api').stdout, 'up\n');
  assert.equal(fetch('srv').stdout, 'up\n');
  const missing = d.docker(['run', '--rm', '--network', 'nonet', 'busybox', 'true']);
  assert.equal(missing.code, 125);
  assert.match(missing.stderr, /network nonet not found/);
  ok(['rm', '-f', 'srv']);
  ok(['network', 'rm', 'clinet']);
});
