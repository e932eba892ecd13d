// The client's connection state machine under a fake clock, fake WebSocket and fake fetch:
// backoff, fallback and upgrade, resume without gaps or duplicates, Retry-After, terminal
// states, offline/online, hidden/visible and misbehaving servers.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  backoffCeiling, backoffDelay, parseRetryAfter, serverBase, subscribe, webSocketURL,
} from '../tally-client.js';
import { FakeClock, FakeJobServer, fakeEnvironment, fixedRandom, json, recorder } from './fakes.js';

function setup(extra = {}, jobId = 'job1') {
  const clock = new FakeClock();
  const server = new FakeJobServer(clock, jobId);
  const env = fakeEnvironment(server, clock, extra);
  const log = recorder();
  const start = (more = {}) => subscribe(jobId, { ...env, ...log, ...more });
  return { clock, server, env, log, start };
}

const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

test('backoff ceilings: fast first retry, then doubling, then the cap', () => {
  const options = { firstRetryDelay: 250, backoffBase: 500, backoffCap: 30000 };
  const ceilings = range(1, 10).map((n) => backoffCeiling(n, options));
  assert.deepEqual(ceilings, [250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  assert.equal(backoffCeiling(1000, options), 30000, 'huge attempt counts stay capped');
});

test('full jitter stays within [0, ceiling) for any random value', () => {
  for (let attempt = 1; attempt <= 12; attempt += 1) {
    const ceiling = backoffCeiling(attempt);
    assert.equal(backoffDelay(attempt, undefined, () => 0), 0);
    for (const r of [0.01, 0.25, 0.5, 0.75, 0.999999, 1, 7, -3, Number.NaN]) {
      const delay = backoffDelay(attempt, undefined, () => r);
      assert.ok(delay >= 0 && delay < ceiling, `attempt ${attempt}, r ${r}: ${delay} not in [0, ${ceiling})`);
    }
  }
  // Spread: many draws use the whole window, not one point of it.
  let seed = 42;
  const lcg = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const draws = range(1, 500).map(() => backoffDelay(6, undefined, lcg));
  assert.ok(Math.min(...draws) < 800 && Math.max(...draws) > 7200);
});

test('Retry-After: delta seconds, HTTP date, garbage', () => {
  const now = Date.parse('2026-12-04T16:00:00Z');
  assert.equal(parseRetryAfter('7', now), 7000);
  assert.equal(parseRetryAfter(' 1.5 ', now), 1500);
  assert.equal(parseRetryAfter('Fri, 04 Dec 2026 16:00:12 GMT', now), 12000);
  assert.equal(parseRetryAfter('Fri, 04 Dec 2026 15:00:00 GMT', now), 0);
  assert.equal(parseRetryAfter('soon', now), null);
  assert.equal(parseRetryAfter(null, now), null);
  assert.equal(parseRetryAfter('', now), null);
});

test('server URLs: page origin by default, ws for http and wss for https', () => {
  assert.equal(serverBase('', { origin: 'https://portal.example' }), 'https://portal.example');
  assert.equal(serverBase('https://tally.example/', null), 'https://tally.example');
  assert.equal(webSocketURL('https://tally.example', '/ws'), 'wss://tally.example/ws');
  assert.equal(webSocketURL('http://127.0.0.1:8080', '/ws'), 'ws://127.0.0.1:8080/ws');
  assert.equal(webSocketURL('', '/ws', { origin: 'https://a.example' }), 'wss://a.example/ws');
});

test('WebSocket: snapshot first, then events, then stops by itself on completion', async () => {
  const { clock, server, env, log, start } = setup({ token: 's3cr t' });
  server.publish({ state: 'running', message: 'Importing rows' });
  server.publish();
  const sub = start();
  assert.equal(log.lastState().state, 'connecting');
  await clock.advance(10);
  const socket = server.lastSocket();
  assert.equal(socket.url, 'ws://tally.test/ws/jobs/job1?token=s3cr%20t');
  assert.deepEqual(JSON.parse(socket.sent[0]), { type: 'ping' }, 'a ping proves the path works');
  assert.equal(log.lastState().state, 'live');
  assert.equal(log.lastState().transport, 'websocket');
  assert.deepEqual(log.events.map((e) => [e.type, e.seq]), [['snapshot', 2]]);
  server.publish();
  server.publish({ state: 'completed', percent: 100 });
  await clock.advance(10);
  assert.deepEqual(log.seqs(), [2, 3, 4]);
  assert.equal(log.lastState().state, 'stopped');
  assert.equal(log.lastState().reason, 'completed');
  assert.equal(sub.state, 'stopped');
  assert.equal(socket.closedByClient, 1000);
  assert.deepEqual(clock.pending(), [], 'no timer left behind');
  assert.equal(env.document.count('visibilitychange'), 0, 'listeners removed');
  assert.equal(env.window.count('online'), 0);
  await clock.advance(120000);
  assert.equal(server.sockets.length, 1, 'no reconnect after a terminal state');
});

test('resume after a drop: first retry is fast, nothing missed, nothing twice', async () => {
  const { clock, server, log, start } = setup({ random: () => 0.999 });
  start({ after: 0 });
  await clock.advance(10);
  for (let i = 0; i < 3; i += 1) server.publish();
  await clock.advance(10);
  assert.deepEqual(log.seqs(), [1, 2, 3]);
  server.lastSocket().serverClose(1006);
  const reconnecting = log.lastState();
  assert.equal(reconnecting.state, 'reconnecting');
  assert.ok(reconnecting.retryIn < 250, `first retry in ${reconnecting.retryIn} ms`);
  server.publish();
  server.publish();
  // The new socket's server replays one event too many: the client must drop it.
  const original = server.eventsAfter.bind(server);
  server.eventsAfter = (after) => original(after === undefined ? after : Math.max(0, after - 1));
  await clock.advance(300);
  assert.equal(server.lastSocket().url, 'ws://tally.test/ws/jobs/job1?after=3');
  server.publish({ state: 'completed' });
  await clock.advance(10);
  assert.deepEqual(log.seqs(), [1, 2, 3, 4, 5, 6]);
  assert.equal(log.lastState().state, 'stopped');
});

test('a hole in the seqs makes the client ask again from its last seq', async () => {
  const { clock, server, log, start } = setup();
  start();
  server.publish();
  await clock.advance(10);
  assert.deepEqual(log.seqs(), [1]);
  const socket = server.lastSocket();
  server.events.push({ type: 'progress', id: 'job1', seq: 2, state: 'running', processed: 20 });
  socket.serverSend({ type: 'progress', id: 'job1', seq: 3, state: 'running', processed: 30 });
  server.events.push({ type: 'progress', id: 'job1', seq: 3, state: 'running', processed: 30 });
  await clock.advance(10);
  assert.equal(socket.closedByClient, 1000, 'the socket with the hole is dropped');
  assert.match(server.lastSocket().url, /\?after=1$/);
  assert.deepEqual(log.seqs(), [1, 2, 3]);
});

test('resync snapshots replace what the client knew, even with a lower seq', async () => {
  const { clock, server, log, start } = setup();
  start({ after: 40 });
  await clock.advance(10);
  const socket = server.lastSocket();
  socket.serverSend({ type: 'snapshot', resync: true, id: 'job1', seq: 12, state: 'running' });
  socket.serverSend({ type: 'progress', id: 'job1', seq: 13, state: 'running' });
  socket.serverSend({ type: 'progress', id: 'job1', seq: 13, state: 'running' });
  await clock.advance(10);
  assert.deepEqual(log.seqs(), [12, 13]);
});

test('fallback order: WebSocket refused → long-poll; long-poll route missing → polling', async () => {
  const { clock, server, log, start } = setup();
  server.wsMode = 'refuse';
  server.publish();
  start();
  await clock.advance(2000);
  assert.equal(server.sockets.length, 2, 'two WebSocket attempts before falling back');
  const lp = server.requests.filter((r) => r.url.includes('/events?'));
  assert.ok(lp.length >= 1, 'long-poll used');
  assert.match(lp[0].url, /^http:\/\/tally\.test\/api\/jobs\/job1\/events\?after=0&wait=0$/);
  assert.match(lp[1].url, /^http:\/\/tally\.test\/api\/jobs\/job1\/events\?after=1&wait=25$/);
  assert.equal(log.lastState().state, 'live');
  assert.equal(log.lastState().transport, 'longpoll');
  assert.deepEqual(log.seqs(), [1]);
  server.publish();
  await clock.advance(10);
  assert.deepEqual(log.seqs(), [1, 2]);
  // Now a proxy refuses the long-poll route: the client drops to snapshot polling.
  server.override = (url) => (url.includes('/events?') ? json(404, { error: { code: 'http.not_found', message: 'x' } }) : undefined);
  server.publish();
  await clock.advance(25000 + 2000);
  assert.equal(log.lastState().state, 'polling');
  assert.equal(log.lastState().transport, 'polling');
  server.publish();
  await clock.advance(5000);
  assert.equal(log.seqs().at(-1), 4);
  assert.deepEqual(log.seqs(), [...new Set(log.seqs())].sort((a, b) => a - b), 'in order, no duplicates');
  assert.deepEqual(log.stateNames().filter((s, i, a) => s !== a[i - 1]),
    ['connecting', 'reconnecting', 'live', 'reconnecting', 'polling']);
});

test('upgrade back to WebSocket when it becomes available, without missing events', async () => {
  const { clock, server, log, start } = setup({ upgradeInterval: 30000 });
  server.wsMode = 'refuse';
  start();
  await clock.advance(2000);
  assert.equal(log.lastState().transport, 'longpoll');
  server.publish();
  server.wsMode = 'accept';
  const before = server.sockets.length;
  await clock.advance(27000);
  assert.equal(server.sockets.length, before, 'no probe before the upgrade interval');
  await clock.advance(2000);
  assert.equal(server.sockets.length, before + 1, 'one probe');
  assert.equal(log.lastState().state, 'live');
  assert.equal(log.lastState().transport, 'websocket');
  assert.match(server.lastSocket().url, /\?after=1$/);
  assert.equal(server.parked.length, 0, 'the long-poll was aborted');
  server.publish();
  server.publish({ state: 'completed' });
  await clock.advance(10);
  assert.deepEqual(log.seqs(), [1, 2, 3]);
});

test('a failed upgrade probe keeps the working transport and waits longer next time', async () => {
  const { clock, server, log, start } = setup({ upgradeInterval: 10000 });
  server.wsMode = 'refuse';
  start();
  await clock.advance(2000);
  const wsAfterFallback = server.sockets.length;
  await clock.advance(10500);
  assert.equal(server.sockets.length, wsAfterFallback + 1);
  assert.equal(log.lastState().transport, 'longpoll');
  await clock.advance(15000);
  assert.equal(server.sockets.length, wsAfterFallback + 1, 'the next probe waits twice as long');
  await clock.advance(6000);
  assert.equal(server.sockets.length, wsAfterFallback + 2);
  server.publish({ state: 'completed' });
  await clock.advance(10);
  assert.equal(log.lastState().state, 'stopped');
});

test('a WebSocket that opens but never answers is abandoned for long-poll', async () => {
  const { clock, server, log, start } = setup({ wsConnectTimeout: 8000 });
  server.wsMode = 'silent';
  server.publish();
  start();
  await clock.advance(8100);
  assert.equal(log.lastState().state, 'reconnecting');
  assert.equal(server.sockets[0].closedByClient !== null, true);
  await clock.advance(9000);
  assert.equal(log.lastState().transport, 'longpoll');
  assert.equal(log.lastState().state, 'live');
  assert.deepEqual(log.seqs(), [1]);
});

test('a live WebSocket that goes silent is pinged, then replaced', async () => {
  const { clock, server, log, start } = setup({ wsPingAfter: 15000, wsPongTimeout: 5000 });
  start();
  server.publish();
  await clock.advance(10);
  const socket = server.lastSocket();
  await clock.advance(15000);
  assert.deepEqual(JSON.parse(socket.sent.at(-1)), { type: 'ping' });
  assert.equal(log.lastState().state, 'live', 'a pong keeps it alive');
  // The network path dies silently: sends vanish and nothing arrives.
  socket.send = () => {};
  await clock.advance(15000 + 5000 + 10);
  assert.equal(socket.closedByClient !== null, true);
  assert.equal(log.stateNames().includes('reconnecting'), true);
  server.publish();
  await clock.advance(500);
  assert.equal(server.lastSocket() !== socket, true);
  assert.deepEqual(log.seqs(), [1, 2]);
});

test('429 and 503: Retry-After is honoured before asking again', async () => {
  const { clock, server, log, start } = setup({ transports: ['longpoll'] });
  server.publish();
  let refusals = 2;
  server.override = () => {
    if (refusals <= 0) return undefined;
    refusals -= 1;
    return refusals === 1
      ? json(429, { error: { code: 'rate.limited', message: 'slow down' } }, { 'Retry-After': '7' })
      : json(503, { error: { code: 'server.busy', message: 'busy' } }, { 'Retry-After': new Date(clock.now() + 3000).toUTCString() });
  };
  start();
  await clock.advance(1);
  assert.equal(log.lastState().state, 'reconnecting');
  assert.ok(log.lastState().retryIn >= 7000 && log.lastState().retryIn <= 8000, `retryIn ${log.lastState().retryIn}`);
  assert.equal(server.requests.length, 1);
  await clock.advance(6900);
  assert.equal(server.requests.length, 1, 'nothing before Retry-After');
  await clock.advance(1200);
  assert.equal(server.requests.length, 2);
  assert.ok(log.lastState().retryIn >= 2000 && log.lastState().retryIn <= 3300, `date form: ${log.lastState().retryIn}`);
  await clock.advance(3400);
  assert.equal(log.lastState().state, 'live');
  assert.deepEqual(log.seqs(), [1]);
});

test('server errors: 5xx and malformed JSON back off and retry; no event lost', async () => {
  const { clock, server, log, start } = setup({ transports: ['longpoll'], random: () => 0.999 });
  server.publish();
  const bad = [json(500, { error: { code: 'server.internal', message: 'oops' } }), json(200, '{"events": [tru'), json(502, '<html>bad gateway</html>'), json(200, '"text"')];
  server.override = () => bad.shift();
  start();
  const delays = [];
  for (let i = 0; i < 4; i += 1) {
    await clock.advance(1);
    delays.push(log.lastState().retryIn);
    await clock.advance(log.lastState().retryIn);
  }
  assert.deepEqual(delays, [249, 499, 999, 1998]);
  server.publish();
  await clock.advance(300);
  assert.equal(log.lastState().state, 'live');
  assert.deepEqual(log.seqs(), [1, 2]);
  assert.equal(log.errors.length, 0, 'retryable errors are not reported as fatal');
});

test('long-poll failures do not wedge at the top of the list: only polling stays', async () => {
  const { clock, server, log, start } = setup({ transports: ['longpoll', 'polling'], random: () => 0 });
  server.override = (url) => (url.includes('/events?') ? Promise.reject(new TypeError('network')) : undefined);
  server.publish();
  start();
  await clock.advance(100);
  assert.equal(log.lastState().state, 'polling');
  assert.deepEqual(log.seqs(), [1]);
});

test('401 and unknown jobs stop the client and report a coded error', async () => {
  const { clock, server, log, start } = setup({ transports: ['longpoll'] });
  server.override = () => json(401, { error: { code: 'auth.invalid_token', message: 'bad token' } });
  start();
  await clock.advance(100);
  assert.equal(log.lastState().state, 'stopped');
  assert.equal(log.lastState().reason, 'error');
  assert.equal(log.errors[0].code, 'auth.invalid_token');
  assert.equal(log.errors[0].status, 401);
  await clock.advance(60000);
  assert.equal(server.requests.length, 1);

  const second = setup({ transports: ['polling'] });
  second.server.override = () => json(404, { error: { code: 'job.not_found', message: 'No job' } });
  second.start();
  await second.clock.advance(100);
  assert.equal(second.log.errors[0].code, 'job.not_found');
  assert.equal(second.log.lastState().state, 'stopped');
});

test('a fatal error on the WebSocket stops the client too', async () => {
  const { clock, server, log, start } = setup();
  server.WebSocket.prototype.send = function send(text) {
    this.sent.push(text);
    this.serverSend({ type: 'error', code: 'auth.forbidden', message: 'not your job' });
  };
  start();
  await clock.advance(100);
  assert.equal(log.lastState().state, 'stopped');
  assert.equal(log.errors[0].code, 'auth.forbidden');
});

test('terminal states stop every transport: failed over long-poll, cancelled over polling', async () => {
  for (const [transport, state] of [['longpoll', 'failed'], ['polling', 'cancelled']]) {
    const { clock, server, log, start } = setup({ transports: [transport] });
    server.publish();
    start();
    await clock.advance(10);
    server.publish({ state, error: state === 'failed' ? { code: 'import.stalled', message: 'no rows' } : null });
    await clock.advance(20000);
    assert.equal(log.lastState().state, 'stopped', transport);
    assert.equal(log.lastState().reason, state);
    assert.equal(log.events.at(-1).state, state);
    const count = server.requests.length;
    await clock.advance(120000);
    assert.equal(server.requests.length, count, `${transport}: no request after the end`);
    assert.deepEqual(clock.pending(), []);
  }
});

test('a job that finished while we were away: long-poll fetches the final snapshot', async () => {
  const { clock, server, log, start } = setup({ transports: ['longpoll'] });
  server.publish();
  server.publish({ state: 'completed' });
  start({ after: 2 });
  await clock.advance(10);
  assert.equal(log.lastState().state, 'stopped');
  assert.equal(log.lastState().reason, 'completed');
});

test('snapshot polling starts fast, slows while quiet and speeds up on change', async () => {
  const { clock, server, start } = setup({ transports: ['polling'], pollMin: 1000, pollGrowth: 1.5, pollMax: 5000 });
  server.publish();
  start();
  await clock.advance(20000);
  const times = server.requests.map((r) => r.at);
  const gaps = times.slice(1).map((t, i) => t - times[i]);
  assert.deepEqual(gaps.slice(0, 6), [1000, 1500, 2250, 3375, 5000, 5000], 'the first answer is news; then quiet');
  const changedAt = clock.now();
  server.publish();
  await clock.advance(8000);
  const later = server.requests.map((r) => r.at).filter((t) => t > changedAt);
  assert.equal(later[1] - later[0], 1000, 'a change brings the interval back to pollMin');
});

test('offline pauses everything; online catches up from the last seq', async () => {
  const { clock, server, env, log, start } = setup();
  start();
  server.publish();
  await clock.advance(10);
  const socket = server.lastSocket();
  env.navigator.onLine = false;
  env.window.dispatch('offline');
  assert.equal(log.lastState().state, 'offline');
  assert.equal(socket.closedByClient, 1000);
  server.publish();
  server.publish();
  await clock.advance(600000);
  assert.equal(server.sockets.length, 1, 'no attempt while offline');
  assert.deepEqual(clock.pending(), []);
  env.navigator.onLine = true;
  env.window.dispatch('online');
  await clock.advance(10);
  assert.match(server.lastSocket().url, /\?after=1$/);
  assert.deepEqual(log.seqs(), [1, 2, 3]);
  assert.equal(log.lastState().state, 'live');
});

test('starting offline waits for the online event', async () => {
  const { clock, server, env, log, start } = setup();
  env.navigator.onLine = false;
  start();
  await clock.advance(10000);
  assert.equal(server.sockets.length, 0);
  assert.equal(log.lastState().state, 'offline');
  env.window.dispatch('online');
  await clock.advance(10);
  assert.equal(log.lastState().state, 'live');
});

test('a hidden page pauses after the grace delay; visible again catches up', async () => {
  const { clock, server, env, log, start } = setup({ hiddenDelay: 5000 });
  start();
  server.publish();
  await clock.advance(10);
  env.document.visibilityState = 'hidden';
  env.document.dispatch('visibilitychange');
  await clock.advance(4000);
  assert.equal(log.lastState().state, 'live', 'a short glance away keeps the connection');
  env.document.visibilityState = 'visible';
  env.document.dispatch('visibilitychange');
  env.document.visibilityState = 'hidden';
  env.document.dispatch('visibilitychange');
  await clock.advance(5001);
  assert.equal(log.lastState().state, 'paused');
  assert.equal(server.openSockets().filter((s) => s.closedByClient === null).length, 0);
  server.publish();
  server.publish();
  env.document.visibilityState = 'visible';
  env.document.dispatch('visibilitychange');
  await clock.advance(10);
  assert.equal(log.lastState().state, 'live');
  assert.deepEqual(log.seqs(), [1, 2, 3]);
  assert.equal(server.sockets.length, 2);
});

test('server down: retries back off with jitter up to the cap, then recover', async () => {
  const { clock, server, log, start } = setup({ transports: ['polling'], random: fixedRandom(0.999), backoffCap: 8000 });
  server.override = () => Promise.reject(new TypeError('connection refused'));
  start();
  const delays = [];
  for (let i = 0; i < 7; i += 1) {
    await clock.advance(1);
    delays.push(log.lastState().retryIn);
    await clock.advance(log.lastState().retryIn);
  }
  assert.deepEqual(delays, [249, 499, 999, 1998, 3996, 7992, 7992]);
  server.override = null;
  server.publish();
  await clock.advance(8000);
  assert.equal(log.lastState().state, 'polling');
  assert.deepEqual(log.seqs(), [1]);
});

test('following every job: per-job dedupe over WebSocket, list polling as fallback', async () => {
  const { clock, server, log, start } = setup({}, 'job1');
  const sub = subscribe('*', { ...fakeEnvironment(server, clock), ...log });
  await clock.advance(10);
  const socket = server.lastSocket();
  assert.deepEqual(JSON.parse(socket.sent[0]), { type: 'subscribe', job: '*' });
  socket.serverSend({ type: 'progress', id: 'a', seq: 3, state: 'running' });
  socket.serverSend({ type: 'progress', id: 'b', seq: 1, state: 'running' });
  socket.serverSend({ type: 'progress', id: 'a', seq: 3, state: 'running' });
  socket.serverSend({ type: 'state', id: 'a', seq: 4, state: 'completed' });
  socket.serverSend({ type: 'progress', id: 'b', seq: 2, state: 'running' });
  await clock.advance(10);
  assert.deepEqual(log.events.map((e) => `${e.id}${e.seq}`), ['a3', 'b1', 'a4', 'b2']);
  assert.equal(log.lastState().state, 'live', 'a finished job does not stop the list');
  server.wsMode = 'refuse';
  socket.serverClose(1006);
  await clock.advance(3000);
  assert.equal(log.lastState().state, 'polling');
  assert.ok(server.requests.some((r) => r.url === 'http://tally.test/api/jobs'));
  sub.unsubscribe();
  assert.equal(log.lastState().state, 'stopped');
});

test('unsubscribe closes the socket, cancels timers and removes listeners', async () => {
  const { clock, server, env, log, start } = setup();
  const sub = start();
  await clock.advance(10);
  sub.unsubscribe();
  assert.equal(server.lastSocket().closedByClient, 1000);
  assert.deepEqual(clock.pending(), []);
  assert.equal(env.document.count('visibilitychange'), 0);
  assert.equal(env.window.count('offline'), 0);
  assert.equal(log.lastState().reason, 'unsubscribed');
  server.publish();
  await clock.advance(60000);
  assert.deepEqual(log.seqs(), []);
});

test('a throwing onEvent callback does not break the connection', async () => {
  const { clock, server, log, start } = setup();
  let calls = 0;
  start({ onEvent: () => { calls += 1; throw new Error('ui bug'); } });
  server.publish();
  await clock.advance(10);
  server.publish();
  await clock.advance(10);
  assert.equal(calls, 2);
  assert.equal(log.errors.length, 2);
  assert.equal(log.lastState().state, 'live');
});

test('a blocked WebSocket constructor (it throws) falls back too', async () => {
  const { clock, server, log, start } = setup();
  server.wsMode = 'throw';
  server.publish();
  start();
  await clock.advance(2000);
  assert.equal(log.lastState().transport, 'longpoll');
  assert.deepEqual(log.seqs(), [1]);
});

test('with the token in the query, HTTP requests carry ?token= and no header', async () => {
  const { clock, server, start } = setup({ transports: ['longpoll'], token: 'abc', tokenIn: 'query' });
  start();
  await clock.advance(10);
  assert.match(server.requests[0].url, /[?&]token=abc$/);
  assert.equal(server.requests[0].init.headers.Authorization, undefined);
  const header = setup({ transports: ['polling'], token: 'abc' });
  header.start();
  await header.clock.advance(10);
  assert.equal(header.server.requests[0].init.headers.Authorization, 'Bearer abc');
  assert.doesNotMatch(header.server.requests[0].url, /token=/);
});

test('a refused subscription on /ws (a limit, not auth) counts as a WebSocket failure', async () => {
  const { clock, server, log } = setup();
  server.WebSocket.prototype.send = function send(text) {
    this.sent.push(text);
    this.serverSend({ type: 'error', code: 'ws.too_many_subscriptions', message: 'limit' });
  };
  server.publish();
  subscribe('*', { ...fakeEnvironment(server, clock), ...log });
  await clock.advance(2000);
  assert.equal(log.lastState().transport, 'polling');
  assert.equal(log.lastState().state, 'polling');
  assert.equal(log.errors[0].code, 'ws.too_many_subscriptions');
  assert.deepEqual(log.seqs(), [1]);
});

test('an old server answering ping with bad_message still counts as alive', async () => {
  const { clock, server, log, start } = setup({ wsPingAfter: 15000, wsPongTimeout: 5000 });
  const original = server.WebSocket.prototype.send;
  server.WebSocket.prototype.send = function send(text) {
    if (JSON.parse(text).type === 'ping') {
      this.sent.push(text);
      this.serverSend({ type: 'error', code: 'ws.bad_message', message: 'unknown type' });
      return;
    }
    original.call(this, text);
  };
  start();
  await clock.advance(60000);
  assert.equal(server.sockets.length, 1);
  assert.equal(log.lastState().state, 'live');
  assert.equal(log.errors.length, 0);
});

test('long-poll batches a busy job: at most one request per longPollMinInterval', async () => {
  const { clock, server, log, start } = setup({ transports: ['longpoll'], longPollMinInterval: 250 });
  start();
  await clock.advance(10);
  // Ten events a second for three seconds.
  for (let i = 0; i < 30; i += 1) {
    server.publish();
    await clock.advance(100);
  }
  const times = server.requests.map((r) => r.at);
  const gaps = times.slice(2).map((t, i) => t - times[i + 1]);
  assert.ok(gaps.every((gap) => gap >= 250), `gaps ${gaps}`);
  assert.ok(server.requests.length <= 3 + 3000 / 250, `${server.requests.length} requests`);
  assert.deepEqual(log.seqs(), range(1, 30));
});

test('resuming a quiet job over /ws/jobs/{id}: live on the pong, not after a timeout', async () => {
  const { clock, server, log, start } = setup();
  server.publish();
  start({ after: 1 });
  await clock.advance(10);
  assert.equal(server.lastSocket().url, 'ws://tally.test/ws/jobs/job1?after=1');
  assert.equal(log.lastState().state, 'live');
  assert.deepEqual(log.seqs(), []);
  await clock.advance(60000);
  assert.equal(server.sockets.length, 1, 'pongs keep a quiet socket');
  server.publish({ state: 'completed' });
  await clock.advance(10);
  assert.deepEqual(log.seqs(), [2]);
});
