#!/usr/bin/env python3
"""Peer server: PyPI `websockets` (new asyncio API) + websockets.broadcast.

The fan-out yardstick's Python peer (../shared/tools/fanout/peer_websockets.py) with one
addition, --stamp due, used by Benchmarks/fanout.sh. Publisher convention (every peer's):
  * accepts WebSocket upgrades at ANY path, ignores anything clients send;
  * publisher trigger: first client connects, or (with --expect-conns K) K
    clients are connected (fallback: --max-wait s after the first client);
    then it waits --start-delay s and emits round(R*D) events at R/s
    (absolute schedule t0 + k/R; if behind it sends immediately, never skips),
    broadcasting each to all open clients; ts_ns = time.time_ns() at broadcast, or with --stamp due
    t0 + k/R in CLOCK_REALTIME (a publisher that falls behind has its wait counted);
  * --rate 0 = never publish (idle-memory test);
  * after publishing it prints one JSON summary line on stderr and keeps serving
    until SIGTERM/SIGINT.
"""
import argparse
import asyncio
import json
import signal
import sys
import time

from websockets.asyncio.server import broadcast, serve

ap = argparse.ArgumentParser()
ap.add_argument("--host", default="127.0.0.1")
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--rate", type=float, default=200.0, help="events per second (0 = never publish)")
ap.add_argument("--duration", type=float, default=10.0, help="publish for D seconds")
ap.add_argument("--start-delay", type=float, default=0.0)
ap.add_argument("--expect-conns", type=int, default=0)
ap.add_argument("--max-wait", type=float, default=60.0)
ap.add_argument("--job", default="j1")
ap.add_argument("--total", type=int, default=1000000)
ap.add_argument("--stamp", choices=("send", "due"), default="send",
                help="ts_ns: the time of the broadcast, or the time the schedule gave the event")
ap.add_argument("--ping-interval", type=float, default=None, help="keepalive pings (default off)")
args = ap.parse_args()


async def main():
    clients = set()
    first = asyncio.Event()
    enough = asyncio.Event()

    async def handler(ws):
        clients.add(ws)
        first.set()
        if args.expect_conns and len(clients) >= args.expect_conns:
            enough.set()
        try:
            async for _ in ws:  # ignore subscribe / any client message
                pass
        except Exception:
            pass
        finally:
            clients.discard(ws)

    stop = asyncio.get_running_loop().create_future()
    for s in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(s, lambda: stop.done() or stop.set_result(None))

    async with serve(handler, args.host, args.port, compression=None,
                     ping_interval=args.ping_interval, backlog=4096, max_size=1 << 16):
        print(json.dumps({"peer": "websockets", "listening": args.port}), file=sys.stderr, flush=True)
        if args.rate > 0:
            pub = asyncio.ensure_future(publish(clients, first, enough))
            await asyncio.wait([pub, stop], return_when=asyncio.FIRST_COMPLETED)
        await stop


async def publish(clients, first, enough):
    await first.wait()
    if args.expect_conns:
        try:
            await asyncio.wait_for(enough.wait(), args.max_wait)
        except asyncio.TimeoutError:
            pass
    if args.start_delay > 0:
        await asyncio.sleep(args.start_delay)
    loop = asyncio.get_running_loop()
    n = int(round(args.rate * args.duration))
    step = args.total // max(n, 1)
    clients_at_start = len(clients)
    t0 = loop.time()
    real_t0 = time.time_ns()
    max_slip = 0.0
    job, total, rate = args.job, args.total, args.rate
    for k in range(n):
        target = t0 + k / rate
        d = target - loop.time()
        if d > 0:
            await asyncio.sleep(d)
        else:
            max_slip = max(max_slip, -d)
            await asyncio.sleep(0)  # let I/O run even when behind
        processed = min((k + 1) * step, total)
        msg = ('{"type":"progress","job":"%s","seq":%d,"processed":%d,"total":%d,'
               '"percent":%.2f,"stage":"processing","ts_ns":%d}'
               % (job, k, processed, total, processed * 100.0 / total,
                  real_t0 + round(k / rate * 1e9) if args.stamp == "due" else time.time_ns()))
        broadcast(clients, msg)
    t1 = loop.time()
    print(json.dumps({"peer": "websockets", "events": n, "publish_s": round(t1 - t0, 3),
                      "max_slip_ms": round(max_slip * 1000, 1), "clients_at_start": clients_at_start,
                      "clients_at_end": len(clients), "msg_bytes": len(msg)}), file=sys.stderr, flush=True)


asyncio.run(main())
