#!/usr/bin/env python3
"""Hostile clients against a running Tally on loopback, while a well-behaved client watches a
live import. Standard library only. Bounded: every attack has a count and a deadline.

Run through scripts/hostile.sh, which builds and starts the server. Exits non-zero when the
well-behaved client's p99 event latency is 50 ms or more, when the server's memory grows past
the bound, or when the import does not finish with every row.
"""
import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import random
import resource
import socket
import struct
import sys
import time

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def mint(secret: bytes, sub: str, ttl: int = 3600) -> str:
    def b64(raw: bytes) -> bytes:
        return base64.urlsafe_b64encode(raw).rstrip(b"=")
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps({"sub": sub, "exp": int(time.time()) + ttl}).encode())
    sig = b64(hmac.new(secret, head + b"." + body, hashlib.sha256).digest())
    return (head + b"." + body + b"." + sig).decode()


def frame(opcode: int, payload: bytes, fin: bool = True, length_override=None) -> bytes:
    """A masked client frame (RFC 6455 §5.2); `length_override` lies about the length."""
    first = (0x80 if fin else 0) | opcode
    length = len(payload) if length_override is None else length_override
    if length < 126:
        head = struct.pack("!BB", first, 0x80 | length)
    elif length < 65536:
        head = struct.pack("!BBH", first, 0x80 | 126, length)
    else:
        head = struct.pack("!BBQ", first, 0x80 | 127, length)
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class WebSocket:
    """Just enough of a WebSocket client for these tests."""

    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, host, port, path, origin=None, local=None, headers=()):
        reader, writer = await asyncio.open_connection(host, port, local_addr=(local, 0) if local else None)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Upgrade: websocket", "Connection: Upgrade",
                 f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        if origin:
            lines.append(f"Origin: {origin}")
        lines += list(headers)
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        status = int(head.split(b" ", 2)[1])
        if status != 101:
            writer.close()
            return status, None
        expected = base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest())
        if expected not in head:
            raise RuntimeError("bad Sec-WebSocket-Accept")
        return 101, cls(reader, writer)

    async def send_text(self, text: str):
        self.writer.write(frame(0x1, text.encode()))
        await self.writer.drain()

    async def receive(self):
        """(opcode, payload) of the next whole message; control frames are returned as is."""
        message, first_opcode = b"", None
        while True:
            b0, b1 = await self.reader.readexactly(2)
            opcode, length = b0 & 0x0F, b1 & 0x7F
            if length == 126:
                length = struct.unpack("!H", await self.reader.readexactly(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", await self.reader.readexactly(8))[0]
            payload = await self.reader.readexactly(length)
            if opcode >= 0x8:
                if opcode == 0x9:
                    self.writer.write(frame(0xA, payload))
                    continue
                return opcode, payload
            if first_opcode is None:
                first_opcode = opcode
            message += payload
            if b0 & 0x80:
                return first_opcode, message

    def close(self):
        self.writer.close()


class Report:
    def __init__(self):
        self.lines, self.failures = [], []

    def note(self, text):
        self.lines.append(text)
        print(text, flush=True)

    def check(self, ok, text):
        self.note(("ok    " if ok else "FAIL  ") + text)
        if not ok:
            self.failures.append(text)


def rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


async def http(host, port, method, path, body=b"", headers=(), local=None, timeout=30):
    reader, writer = await asyncio.open_connection(host, port, local_addr=(local, 0) if local else None)
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}", "Connection: close"]
    lines += list(headers)
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(-1), timeout)
    writer.close()
    head, _, rest = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head else 0
    if b"transfer-encoding: chunked" in head.lower():
        decoded = b""
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                break
            decoded, rest = decoded + rest[:size], rest[size + 2:]
        rest = decoded
    return status, head.decode("latin-1"), rest


async def upload(host, port, csv_path, api_key, local):
    """Streams the CSV as the body of POST /api/imports; returns the job id."""
    size = os.path.getsize(csv_path)
    reader, writer = await asyncio.open_connection(host, port, local_addr=(local, 0))
    writer.write((f"POST /api/imports?table=hostile&name=hostile.csv HTTP/1.1\r\nHost: {host}:{port}\r\n"
                  f"Authorization: Bearer {api_key}\r\nContent-Type: text/csv\r\nContent-Length: {size}\r\n"
                  "Connection: close\r\n\r\n").encode())
    with open(csv_path, "rb") as source:
        while chunk := source.read(256 * 1024):
            writer.write(chunk)
            await writer.drain()
    data = await asyncio.wait_for(reader.read(-1), 60)
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    if b" 202 " not in head.split(b"\r\n")[0]:
        raise RuntimeError(f"upload refused: {data[:300]!r}")
    return json.loads(body)["id"]


def parse_time_ms(text):
    """RFC 3339 UTC with milliseconds → epoch ms."""
    import datetime
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp() * 1000


async def watcher(args, job, token, latencies, done):
    """The well-behaved client: one WebSocket, every event's latency from its updatedAt."""
    status, ws = await WebSocket.connect(args.host, args.port, f"/ws/jobs/{job}?token={token}", local="127.0.0.2")
    if ws is None:
        raise RuntimeError(f"watcher refused with {status}")
    last = {}
    while True:
        opcode, payload = await asyncio.wait_for(ws.receive(), 60)
        received = time.time() * 1000
        if opcode == 0x8:
            break
        event = json.loads(payload)
        if event.get("updatedAt") and event.get("type") != "snapshot":
            latencies.append([received - parse_time_ms(event["updatedAt"]), event.get("seq"), event.get("type"), event.get("processed")])
        last = event
        if event.get("state") in ("completed", "failed", "cancelled"):
            break
    ws.close()
    done.set_result(last)


async def watch_in_child(args, job, token):
    """Runs the watcher in its own process, so the attackers' work in this one does not
    delay its reads: the latency measured is the server's."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, os.path.abspath(__file__), "--watch", job, "--token", token, "--port", str(args.port),
        "--pid", str(args.pid), "--csv", args.csv, "--rows", str(args.rows), "--api-key", args.api_key,
        "--secret", args.secret, stdout=asyncio.subprocess.PIPE)
    output, _ = await child.communicate()
    return json.loads(output)


async def watch_only(args):
    latencies, done = [], asyncio.get_running_loop().create_future()
    await watcher(args, args.watch, args.token, latencies, done)
    print(json.dumps({"latencies": latencies, "last": done.result()}), flush=True)


async def slowloris(args, count, report, stop):
    """Connections that send a header byte every 2 s and never finish the request."""
    pairs, refused = [], 0
    for _ in range(count):
        try:
            reader, writer = await asyncio.open_connection(args.host, args.port, local_addr=("127.0.0.3", 0))
            writer.write(b"GET /api/jobs HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            pairs.append((reader, writer))
        except OSError:
            refused += 1
    start = time.time()
    while not stop.is_set() and time.time() - start < args.slowloris_seconds:
        await asyncio.sleep(2)
        for _, writer in pairs:
            if not writer.is_closing():
                try:
                    writer.write(b"a")
                except (ConnectionError, OSError, RuntimeError):
                    pass

    async def outcome(reader):
        try:
            data = await asyncio.wait_for(reader.read(-1), 2)
            return "408" if data.startswith(b"HTTP/1.1 408") else ("503" if data.startswith(b"HTTP/1.1 503") else "closed")
        except asyncio.TimeoutError:
            return "open"
        except (ConnectionError, OSError):
            return "reset"
    outcomes = await asyncio.gather(*(outcome(reader) for reader, _ in pairs))
    for _, writer in pairs:
        writer.close()
    summary = {name: outcomes.count(name) for name in sorted(set(outcomes))}
    report.note(f"      slowloris: {count} opened ({refused} refused at connect); after {args.slowloris_seconds}s: {summary}")
    return outcomes.count("open")


async def non_readers(args, job, token, count, report):
    """WebSocket subscribers with tiny receive buffers that never read."""
    sockets, upgraded, refused = [], 0, 0
    for _ in range(count):
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.bind(("127.0.0.4", 0))
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, (args.host, args.port))
            key = base64.b64encode(os.urandom(16)).decode()
            request = (f"GET /ws/jobs/{job}?token={token} HTTP/1.1\r\nHost: {args.host}:{args.port}\r\n"
                       f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                       "Sec-WebSocket-Version: 13\r\n\r\n").encode()
            await asyncio.get_running_loop().sock_sendall(sock, request)
            sockets.append(sock)
            upgraded += 1
        except OSError:
            refused += 1
    report.note(f"      non-readers: {upgraded} subscribed and never read ({refused} refused)")
    return sockets


async def expect_close(ws, codes, label, report):
    try:
        while True:
            opcode, payload = await asyncio.wait_for(ws.receive(), 10)
            if opcode == 0x8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                report.check(code in codes, f"{label}: closed with {code} (expected {codes})")
                return
    except (asyncio.IncompleteReadError, ConnectionError):
        report.check(False, f"{label}: connection dropped without a close frame")
    except asyncio.TimeoutError:
        report.check(False, f"{label}: not closed within 10 s")
    finally:
        ws.close()


async def protocol_attacks(args, job, token, report):
    path = f"/ws/jobs/{job}?token={token}"
    # Oversized frame: a header announcing 2^40 bytes.
    _, ws = await WebSocket.connect(args.host, args.port, path, local="127.0.0.5")
    if ws:
        ws.writer.write(frame(0x2, b"", length_override=1 << 40))
        await expect_close(ws, (1009,), "oversized frame", report)
    # Invalid UTF-8 in a text frame.
    _, ws = await WebSocket.connect(args.host, args.port, "/ws?token=" + token, local="127.0.0.5")
    if ws:
        ws.writer.write(frame(0x1, b"{\"type\":\"\xc3\x28\"}"))
        await expect_close(ws, (1007,), "invalid UTF-8", report)
    # Garbage instead of HTTP.
    for size in (16, 4096, 65536):
        reader, writer = await asyncio.open_connection(args.host, args.port, local_addr=("127.0.0.5", 0))
        writer.write(os.urandom(size))
        try:
            await writer.drain()
            data = await asyncio.wait_for(reader.read(4096), 10)
            report.check(data == b"" or data.startswith(b"HTTP/1.1 4"), f"garbage ({size} bytes): answered {data[:12]!r}")
        except (ConnectionError, asyncio.TimeoutError) as error:
            report.check(isinstance(error, ConnectionError), f"garbage ({size} bytes): {type(error).__name__}")
        writer.close()
    # A flood of subscribe messages on the multiplexed route.
    status, ws = await WebSocket.connect(args.host, args.port, "/ws?token=" + mint(args.secret.encode(), "*"), local="127.0.0.5")
    if ws:
        flood = b"".join(frame(0x1, json.dumps({"type": "subscribe", "job": f"nope-{i}"}).encode()) for i in range(args.flood))
        ws.writer.write(flood)
        errors, closed = 0, None
        try:
            while True:
                opcode, payload = await asyncio.wait_for(ws.receive(), 5)
                if opcode == 0x8:
                    closed = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                    break
                if b'"error"' in payload:
                    errors += 1
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass
        ws.close()
        # Every message within the per-connection budget (500 per 10 s) is answered; then the
        # connection is closed with 1008 instead of the loop answering thousands more.
        report.check(closed == 1008 and errors <= 501, f"subscribe flood: {args.flood} messages → {errors} errors, close code {closed}")
    # Authentication failures on the WebSocket, the REST API and SSE.
    forged = mint(b"not-the-secret-not-the-secret-not-the-secret", "*")
    for label, path, expected in [("ws no token (first message times out or closes)", f"/ws/jobs/{job}", (101,)),
                                  ("ws bad signature", f"/ws/jobs/{job}?token={forged}", (401,)),
                                  ("ws wrong job", f"/ws/jobs/{job}?token={mint(args.secret.encode(), 'other')}", (403,)),
                                  ("ws wrong Origin", path, (403,))]:
        origin = "https://evil.example" if "Origin" in label else None
        status, ws = await WebSocket.connect(args.host, args.port, path, origin=origin, local="127.0.0.5")
        if ws:
            ws.close()
        report.check(status in expected, f"{label}: {status}")
    # Guessing credentials from one address: 401s until the failure limit, then 429 for every
    # credential shown from that address, the right one included.
    statuses = []
    for attempt in range(25):
        guess = mint(os.urandom(32), job)
        status, _, _ = await http(args.host, args.port, "GET", f"/api/jobs/{job}?token={guess}", local="127.0.0.6")
        statuses.append(status)
    right, _, _ = await http(args.host, args.port, "GET", f"/api/jobs/{job}?token={token}", local="127.0.0.6")
    elsewhere, _, _ = await http(args.host, args.port, "GET", f"/api/jobs/{job}?token={token}", local="127.0.0.5")
    report.check(statuses.count(401) == 20 and statuses[20:] == [429] * 5 and right == 429 and elsewhere == 200,
                 f"credential guessing: {statuses.count(401)} × 401 then {statuses.count(429)} × 429; right token from there {right}, from elsewhere {elsewhere}")
    for label, path, expected in [("rest no token", f"/api/jobs/{job}", 401),
                                  ("rest bad signature", f"/api/jobs/{job}?token={forged}", 401),
                                  ("sse wrong job", f"/api/jobs/{job}/stream?token={mint(args.secret.encode(), 'other')}", 403)]:
        status, _, _ = await http(args.host, args.port, "GET", path, local="127.0.0.5")
        report.check(status == expected, f"{label}: {status}")


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--csv", required=True)
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--slowloris", type=int, default=1000)
    parser.add_argument("--slowloris-seconds", type=int, default=20)
    parser.add_argument("--non-readers", type=int, default=1000)
    parser.add_argument("--flood", type=int, default=5000)
    parser.add_argument("--max-rss-mib", type=int, default=512)
    parser.add_argument("--p99-ms", type=float, default=50.0)
    parser.add_argument("--watch", help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.watch:
        return await watch_only(args)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))

    report = Report()
    rss_start = rss_kib(args.pid)
    rss_samples = [rss_start]
    stop = asyncio.Event()

    async def sample():
        while not stop.is_set():
            rss_samples.append(rss_kib(args.pid))
            await asyncio.sleep(0.2)
    sampler = asyncio.create_task(sample())

    job = await upload(args.host, args.port, args.csv, args.api_key, "127.0.0.2")
    token = mint(args.secret.encode(), job)
    report.note(f"      import {job} started ({args.rows} rows)")
    watch = asyncio.create_task(watch_in_child(args, job, token))
    await asyncio.sleep(0.5)

    slow = asyncio.create_task(slowloris(args, args.slowloris, report, stop))
    readers = await non_readers(args, job, token, args.non_readers, report)
    await protocol_attacks(args, job, token, report)
    open_left = await slow
    report.check(open_left == 0, f"slowloris connections all closed by the server ({open_left} left)")

    watched = await asyncio.wait_for(watch, 600)
    samples, last = watched["latencies"], watched["last"]
    worst = sorted(samples, reverse=True)[:3]
    report.note("      slowest events (ms, seq, type, processed): " + "; ".join(f"{w[0]:.0f}, {w[1]}, {w[2]}, {w[3]}" for w in worst))
    latencies = [sample[0] for sample in samples]
    stop.set()
    await sampler
    for sock in readers:
        sock.close()

    status, _, body = await http(args.host, args.port, "GET", f"/api/jobs/{job}",
                                 headers=[f"Authorization: Bearer {args.api_key}"], local="127.0.0.2")
    snapshot = json.loads(body) if status == 200 else {}
    report.check(snapshot.get("state") == "completed" and snapshot.get("succeeded") == args.rows,
                 f"import finished: state={snapshot.get('state')} succeeded={snapshot.get('succeeded')} of {args.rows}")
    latencies.sort()
    if latencies:
        p50 = latencies[len(latencies) // 2]
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        report.check(p99 < args.p99_ms, f"watcher: {len(latencies)} events, p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {latencies[-1]:.1f} ms (bound {args.p99_ms} ms)")
    else:
        report.check(False, "watcher received no events")
    report.check(last.get("state") == "completed", f"watcher saw the terminal event: {last.get('state')}")
    peak = max(rss_samples) // 1024
    report.check(peak < args.max_rss_mib, f"server RSS: start {rss_start // 1024} MiB, peak {peak} MiB (bound {args.max_rss_mib} MiB)")
    status, _, metrics = await http(args.host, args.port, "GET", "/metrics",
                                    headers=[f"Authorization: Bearer {args.api_key}"], local="127.0.0.2")
    for line in metrics.decode().splitlines():
        if line.startswith(("tally_limit", "tally_connections_rejected", "tally_shed", "tally_auth")) and not line.endswith(" 0"):
            report.note("      " + line)
    if report.failures:
        print(f"{len(report.failures)} check(s) failed", flush=True)
        sys.exit(1)
    print("all hostile-client checks passed", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
