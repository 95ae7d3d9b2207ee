import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { convertProfile, seccompFor, DEFAULT_SECCOMP_PROFILE, DockerSeccompProfile, OciSeccomp } from '../../src/runtime/seccomp';
import { DEFAULT_CAPABILITIES } from '../../src/runtime/caps';

const host = { goArch: 'amd64', kernel: '6.1.0-18-amd64' };
const allowed = (s: OciSeccomp, name: string) => s.syscalls!.some((r) => r.action === 'SCMP_ACT_ALLOW' && r.names.includes(name) && !r.args);
const mentions = (s: OciSeccomp, name: string) => s.syscalls!.filter((r) => r.names.includes(name));

const debian: DockerSeccompProfile = JSON.parse(readFileSync(DEFAULT_SECCOMP_PROFILE, 'utf8'));

test('arch_prctl is allowed on amd64 (Go arch names, not SCMP ones)', () => {
  const s = convertProfile(debian, DEFAULT_CAPABILITIES, host);
  assert.ok(allowed(s, 'arch_prctl'));
  assert.ok(allowed(s, 'modify_ldt'));
  assert.ok(!mentions(s, 's390_runtime_instr').length);
  assert.ok(!mentions(s, 'breakpoint').length);
});

test('architectures come from archMap: x86_64 and its sub-architectures', () => {
  const s = convertProfile(debian, DEFAULT_CAPABILITIES, host);
  assert.deepEqual(s.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
  assert.equal(s.defaultAction, debian.defaultAction);
  assert.equal(s.defaultErrnoRet, debian.defaultErrnoRet ?? undefined);
});

test('capability-conditional rules follow the granted set', () => {
  const def = convertProfile(debian, DEFAULT_CAPABILITIES, host);
  assert.ok(!allowed(def, 'bpf'), 'bpf needs CAP_SYS_ADMIN');
  assert.ok(mentions(def, 'bpf').every((r) => r.action === 'SCMP_ACT_ERRNO' && r.errnoRet === 1));
  assert.ok(allowed(def, 'chroot'), 'CAP_SYS_CHROOT is a default');
  const admin = convertProfile(debian, [...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN'], host);
  assert.ok(allowed(admin, 'bpf'));
  assert.ok(mentions(admin, 'bpf').every((r) => r.action === 'SCMP_ACT_ALLOW'));
  const noChroot = convertProfile(debian, DEFAULT_CAPABILITIES.filter((c) => c !== 'CAP_SYS_CHROOT'), host);
  assert.ok(!allowed(noChroot, 'chroot'));
});

test('output is OCI format: no comment/includes/excludes/errno, args kept', () => {
  const s = convertProfile(debian, DEFAULT_CAPABILITIES, host);
  const keys = new Set(s.syscalls!.flatMap((r) => Object.keys(r)));
  for (const k of ['comment', 'includes', 'excludes', 'errno']) assert.ok(!keys.has(k), k);
  assert.ok(!('archMap' in s));
  const personality = mentions(s, 'personality');
  assert.ok(personality.length >= 4 && personality.every((r) => r.args?.length === 1 && r.args[0].op === 'SCMP_CMP_EQ'));
});

test('minKernel and excluded arches are honoured', () => {
  const p: DockerSeccompProfile = {
    defaultAction: 'SCMP_ACT_ERRNO',
    archMap: [{ architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] }],
    syscalls: [
      { names: ['new_one'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: '6.2' } },
      { names: ['old_one'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: '4.8' } },
      { names: ['not_amd64'], action: 'SCMP_ACT_ALLOW', excludes: { arches: ['amd64'] } },
      { name: 'legacy', action: 'SCMP_ACT_ALLOW' },
    ],
  };
  const s = convertProfile(p, [], host);
  assert.deepEqual(s.syscalls!.map((r) => r.names[0]), ['old_one', 'legacy']);
  assert.equal(s.architectures, undefined);
  assert.deepEqual(convertProfile(p, [], { goArch: 'amd64', kernel: '6.18.44-fc' }).syscalls!.map((r) => r.names[0]), ['new_one', 'old_one', 'legacy']);
});

test('seccompFor: unconfined, default memoized per capability set, custom file or inline JSON', () => {
  assert.equal(seccompFor('unconfined', []), undefined);
  const a = seccompFor(undefined, [...DEFAULT_CAPABILITIES]);
  const b = seccompFor('default', [...DEFAULT_CAPABILITIES].reverse());
  assert.equal(a, b);
  assert.ok(Object.isFrozen(a));
  assert.notEqual(seccompFor(undefined, [...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN']), a);

  const dir = mkdtempSync('/tmp/dray-seccomp-');
  try {
    const oci = { defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'], syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }] };
    const f = path.join(dir, 'p.json');
    writeFileSync(f, JSON.stringify(oci));
    assert.deepEqual(seccompFor(f, []), oci);
    assert.deepEqual(seccompFor(JSON.stringify(oci), []), oci);
    assert.throws(() => seccompFor(path.join(dir, 'missing.json'), []), /opening seccomp profile/);
    assert.throws(() => seccompFor('{nope', []), /Error parsing seccomp profile/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('conversion is cheap once the profile is cached', () => {
  seccompFor(undefined, ['CAP_CHOWN']);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 1000; i++) seccompFor(undefined, [...DEFAULT_CAPABILITIES]);
  assert.ok(Number(process.hrtime.bigint() - t0) / 1e6 < 200);
});
