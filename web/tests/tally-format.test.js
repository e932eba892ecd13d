// The formatting helpers behind the progress element and the dashboard.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  clampPercent, describeError, formatBytes, formatConnection, formatDuration, formatETA,
  formatNumber, formatPercent, formatProgressCount, formatRate, formatRelativeTime, formatState,
} from '../tally-format.js';

test('ETA in human terms', () => {
  assert.equal(formatETA(null), '');
  assert.equal(formatETA(undefined), '');
  assert.equal(formatETA(Number.NaN), '');
  assert.equal(formatETA(-4), '', 'a negative estimate is unknown, not shown');
  assert.equal(formatETA(400 * 86400), '', 'an absurd estimate is unknown, not shown');
  assert.equal(formatETA(0), 'almost done');
  assert.equal(formatETA(4.9), 'almost done');
  assert.equal(formatETA(5), 'less than a minute left');
  assert.equal(formatETA(59), 'less than a minute left');
  assert.equal(formatETA(60), 'about 1 min left');
  assert.equal(formatETA(100), 'about 2 min left');
  assert.equal(formatETA(150), 'about 3 min left');
  assert.equal(formatETA(59 * 60), 'about 59 min left');
  assert.equal(formatETA(3600), 'about 1 h left');
  assert.equal(formatETA(3600 + 17 * 60), 'about 1 h 15 min left');
  assert.equal(formatETA(3600 + 58 * 60), 'about 2 h left');
  assert.equal(formatETA(11 * 3600 + 40 * 60), 'about 12 h left');
  assert.equal(formatETA(36 * 3600), 'about 2 days left');
  assert.equal(formatETA(20 * 3600 + 40 * 60 + 30 * 60 * 6), 'about 1 day left');
  assert.equal(formatETA('90'), 'about 2 min left', 'numeric strings are numbers');
});

test('rates', () => {
  assert.equal(formatRate(null), '');
  assert.equal(formatRate(0), '0 rows/s');
  assert.equal(formatRate(0.44), '0.4 rows/s');
  assert.equal(formatRate(9.96), '10 rows/s');
  assert.equal(formatRate(1234.5), '1,235 rows/s');
  assert.equal(formatRate(12500), '12.5k rows/s');
  assert.equal(formatRate(250000), '250k rows/s');
  assert.equal(formatRate(3.2e6), '3.2M rows/s');
  assert.equal(formatRate(-5), '0 rows/s');
  assert.equal(formatRate(5, 'B/s'), '5 B/s');
});

test('numbers, percents and counts', () => {
  assert.equal(formatNumber(1234567), '1,234,567');
  assert.equal(formatNumber(null), '–');
  assert.equal(formatNumber('x'), '–');
  assert.equal(formatPercent(0), '0%');
  assert.equal(formatPercent(4.27), '4.2%');
  assert.equal(formatPercent(42.9), '42%');
  assert.equal(formatPercent(99.99), '99%', 'never 100% before the end');
  assert.equal(formatPercent(100), '100%');
  assert.equal(formatPercent(130), '100%');
  assert.equal(formatPercent(null), '–');
  assert.equal(clampPercent(-3), 0);
  assert.equal(clampPercent(101), 100);
  assert.equal(clampPercent(undefined), null);
  assert.equal(formatProgressCount(4250, 10000, false), '4,250 / ~10,000');
  assert.equal(formatProgressCount(4250, 10000, true), '4,250 / 10,000');
  assert.equal(formatProgressCount(12, null), '12');
});

test('durations, sizes and relative times', () => {
  assert.equal(formatDuration(8), '8 s');
  assert.equal(formatDuration(125), '2 min 5 s');
  assert.equal(formatDuration(120), '2 min');
  assert.equal(formatDuration(3780), '1 h 3 min');
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(1536), '1.5 KB');
  assert.equal(formatBytes(23 * 1024 * 1024 + 1), '23 MB');
  assert.equal(formatBytes(null), '');
  const now = Date.parse('2026-12-04T16:10:00Z');
  assert.equal(formatRelativeTime('2026-12-04T16:09:50.000Z', now), 'just now');
  assert.equal(formatRelativeTime('2026-12-04T16:07:00.000Z', now), '3 min ago');
  assert.equal(formatRelativeTime('2026-12-04T13:10:00.000Z', now), '3 h ago');
  assert.equal(formatRelativeTime('nonsense', now), '');
});

test('states, connection labels and error descriptions', () => {
  assert.equal(formatState('running'), 'Running');
  assert.equal(formatState('cancelled'), 'Cancelled');
  assert.equal(formatState(undefined), 'Unknown');
  assert.equal(formatConnection('live', { transport: 'websocket' }), 'Live');
  assert.equal(formatConnection('live', { transport: 'longpoll' }), 'Live (long-poll)');
  assert.equal(formatConnection('polling'), 'Live (polling)');
  assert.equal(formatConnection('reconnecting', { retryIn: 4200 }), 'Connection lost, retrying in 4 s');
  assert.equal(formatConnection('reconnecting', { retryIn: 120 }), 'Connection lost, reconnecting…');
  assert.equal(formatConnection('offline'), 'Offline');
  assert.match(describeError({ code: 'import.timeout', message: '' }), /took longer than the time allowed/);
  assert.match(describeError({ code: 'import.stalled', message: 'no rows for 60 s' }), /stalled.*\(no rows for 60 s\)/);
  assert.equal(describeError({ code: 'csv.unterminated_quote', message: 'Unterminated quote on line 7.' }), 'Unterminated quote on line 7.');
  assert.equal(describeError(null), '');
  assert.match(describeError({ code: 'auth.expired' }), /Not allowed/);
});
