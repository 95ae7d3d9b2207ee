import { test } from 'node:test';
import assert from 'node:assert/strict';
import { humanSize, humanSizeWithPrecision, bytesSize, ramInBytes, fromHumanSize, memSwapBytes, parseDuration, formatDuration, humanDuration, timeAgo, formatG } from '../../src/lib/units';

test('HumanSize: decimal units, 4 significant digits', () => {
  assert.equal(humanSize(0), '0B');
  assert.equal(humanSize(999), '999B');
  assert.equal(humanSize(1000), '1kB');
  assert.equal(humanSize(1200), '1.2kB');
  assert.equal(humanSize(4260000), '4.26MB');
  assert.equal(humanSize(1982903), '1.983MB');
  assert.equal(humanSizeWithPrecision(1982903, 3), '1.98MB');
  assert.equal(humanSize(1e12), '1TB');
  assert.equal(bytesSize(1536), '1.5KiB');
  assert.equal(bytesSize(64 * 1024 * 1024), '64MiB');
});

test('%g formatting', () => {
  assert.equal(formatG(123456, 4), '1.235e+05');
  assert.equal(formatG(0.5, 4), '0.5');
});

test('RAMInBytes and friends', () => {
  assert.equal(ramInBytes('10m'), 10 * 1024 * 1024);
  assert.equal(ramInBytes('1g'), 1024 ** 3);
  assert.equal(ramInBytes('512k'), 512 * 1024);
  assert.equal(ramInBytes('100'), 100);
  assert.equal(ramInBytes('1.5GB'), 1.5 * 1024 ** 3);
  assert.equal(ramInBytes('2 MiB'), 2 * 1024 ** 2);
  assert.throws(() => ramInBytes('abc'), { message: "invalid size: 'abc'" });
  assert.throws(() => ramInBytes('-1'), /invalid size/);
  assert.equal(memSwapBytes('-1'), -1);
  assert.equal(fromHumanSize('10MB'), 10e6);
});

test('Go durations', () => {
  assert.equal(parseDuration('5s'), 5e9);
  assert.equal(parseDuration('1h30m'), 5400e9);
  assert.equal(parseDuration('1.5s'), 1.5e9);
  assert.equal(parseDuration('300ms'), 300e6);
  assert.equal(parseDuration('0'), 0);
  assert.equal(parseDuration('-2m'), -120e9);
  assert.throws(() => parseDuration('abc'), { message: 'time: invalid duration "abc"' });
  assert.throws(() => parseDuration('5'), { message: 'time: missing unit in duration "5"' });
  assert.throws(() => parseDuration('5x'), { message: 'time: unknown unit "x" in duration "5x"' });
  assert.equal(formatDuration(0), '0s');
  assert.equal(formatDuration(5400e9), '1h30m0s');
  assert.equal(formatDuration(1.5e9), '1.5s');
  assert.equal(formatDuration(300e6), '300ms');
});

test('HumanDuration', () => {
  assert.equal(humanDuration(500), 'Less than a second');
  assert.equal(humanDuration(1000), '1 second');
  assert.equal(humanDuration(45000), '45 seconds');
  assert.equal(humanDuration(60000), 'About a minute');
  assert.equal(humanDuration(5 * 60000), '5 minutes');
  assert.equal(humanDuration(60 * 60000), 'About an hour');
  assert.equal(humanDuration(2 * 3600000), '2 hours');
  assert.equal(humanDuration(3 * 86400000), '3 days');
  assert.equal(humanDuration(21 * 86400000), '3 weeks');
  assert.equal(humanDuration(90 * 86400000), '3 months');
  assert.equal(humanDuration(3 * 365 * 86400000), '3 years');
  assert.equal(timeAgo(1000, 1000 * 1000 + 2000), '2 seconds ago');
});
