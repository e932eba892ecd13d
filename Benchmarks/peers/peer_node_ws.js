#!/usr/bin/env node
// Peer server: Debian node-ws (ws 8.11) -- run with NODE_PATH=/usr/share/nodejs
// The fan-out yardstick's Node peer (../shared/tools/fanout/peer_node_ws.js) with one addition,
// --stamp due, used by Benchmarks/fanout.sh; same publisher convention as peer_websockets.py here.
'use strict';
const { WebSocketServer } = require('ws');
const { performance } = require('perf_hooks');

function arg(name, def) {
  const i = process.argv.indexOf('--' + name);
  return i >= 0 ? process.argv[i + 1] : def;
}
const host = arg('host', '127.0.0.1');
const port = parseInt(arg('port', '0'), 10);
const rate = parseFloat(arg('rate', '200'));
const duration = parseFloat(arg('duration', '10'));
const startDelay = parseFloat(arg('start-delay', '0'));
const expectConns = parseInt(arg('expect-conns', '0'), 10);
const maxWait = parseFloat(arg('max-wait', '60'));
const job = arg('job', 'j1');
const total = parseInt(arg('total', '1000000'), 10);
// ts_ns: the time of the broadcast (send), or the time the schedule gave the event (due).
const stampDue = arg('stamp', 'send') === 'due';
if (!port) { console.error('usage: peer_node_ws.js --port P [--rate R --duration D --start-delay S --expect-conns K]'); process.exit(2); }

// CLOCK_REALTIME in ns for ts_ns.  performance.timeOrigin proved off by up to ~1 ms
// per process start, so calibrate: spin until Date.now() (gettimeofday, ms) ticks
// over, read hrtime (CLOCK_MONOTONIC ns) right after; offset = max over 5 samples.
let clkOff = -(1n << 62n);
for (let i = 0; i < 5; i++) {
  const d0 = Date.now(); let d; while ((d = Date.now()) === d0);
  const o = BigInt(d) * 1000000n - process.hrtime.bigint();
  if (o > clkOff) clkOff = o;
}
function realtimeNsString() { return (process.hrtime.bigint() + clkOff).toString(); }

const wss = new WebSocketServer({ host, port, backlog: 4096, perMessageDeflate: false, clientTracking: true, maxPayload: 1 << 16 });
wss.on('listening', () => console.error(JSON.stringify({ peer: 'node-ws', listening: port })));

let triggered = false, firstTimer = null;
function trigger() {
  if (triggered) return;
  triggered = true;
  if (firstTimer) clearTimeout(firstTimer);
  setTimeout(publish, startDelay * 1000);
}

wss.on('connection', (ws) => {
  ws.on('message', () => {});       // ignore subscribe / any client message
  ws.on('error', () => {});
  if (rate <= 0 || triggered) return;
  if (!expectConns) return trigger();
  if (!firstTimer) firstTimer = setTimeout(trigger, maxWait * 1000);
  if (wss.clients.size >= expectConns) trigger();
});

function publish() {
  const n = Math.round(rate * duration);
  const step = Math.floor(total / Math.max(n, 1));
  const clientsAtStart = wss.clients.size;
  const t0 = performance.now();
  const realT0 = BigInt(realtimeNsString());
  let k = 0, maxSlip = 0, lastLen = 0;
  function tick() {
    const processed = Math.min((k + 1) * step, total);
    const msg = `{"type":"progress","job":"${job}","seq":${k},"processed":${processed},"total":${total},` +
      `"percent":${(processed * 100 / total).toFixed(2)},"stage":"processing","ts_ns":${stampDue ? (realT0 + BigInt(Math.round(k * 1e9 / rate))).toString() : realtimeNsString()}}`;
    const buf = Buffer.from(msg);
    lastLen = buf.length;
    for (const c of wss.clients) if (c.readyState === 1) c.send(buf, { binary: false });
    k++;
    if (k >= n) {
      console.error(JSON.stringify({ peer: 'node-ws', events: n, publish_s: +((performance.now() - t0) / 1000).toFixed(3),
        max_slip_ms: +maxSlip.toFixed(1), clients_at_start: clientsAtStart, clients_at_end: wss.clients.size, msg_bytes: lastLen }));
      return;
    }
    const d = t0 + k * 1000 / rate - performance.now();
    if (d > 0) setTimeout(tick, d);
    else { if (-d > maxSlip) maxSlip = -d; setImmediate(tick); }
  }
  tick();
}

for (const s of ['SIGTERM', 'SIGINT']) process.on(s, () => process.exit(0));
