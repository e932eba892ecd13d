#!/usr/bin/env python3
"""Opens N HTTP/1.1 connections to 127.0.0.1:PORT, sends one request on each and keeps them open.

Used by scripts/ws-idle-memory.sh to measure server memory per idle connection:
- keep-alive: the request is answered; the connection then sits idle (EXPECT=response);
- long-poll:  the request is parked by the server and must not be answered (EXPECT=none).

Writes READY_FILE once every connection has sent its request (and, for EXPECT=response, read
its whole answer), then holds the connections until SIGTERM or --hold seconds, and prints one
JSON line: connected, failed, answered (responses seen, counted until the end).
Bounded: gives up connecting after --timeout seconds.
"""
import argparse
import errno
import json
import selectors
import signal
import socket
import sys
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--conns", type=int, default=10000)
    parser.add_argument("--request", required=True, help="request target, e.g. /healthz")
    parser.add_argument("--expect", choices=["response", "none"], default="response")
    parser.add_argument("--ready-file", required=True)
    parser.add_argument("--hold", type=float, default=120)
    parser.add_argument("--timeout", type=float, default=60)
    parser.add_argument("--inflight", type=int, default=256)
    args = parser.parse_args()

    request = (f"GET {args.request} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               "Connection: keep-alive\r\n\r\n").encode()
    selector = selectors.DefaultSelector()
    state = {}          # socket -> bytes received so far (None once the response is complete)
    connected = failed = answered = 0
    started = 0
    pending = 0         # connecting, or waiting for their response
    deadline = time.monotonic() + args.timeout
    stop = False

    def on_term(*_):
        nonlocal stop
        stop = True
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)

    def open_one():
        nonlocal started, pending, failed
        started += 1
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        code = sock.connect_ex(("127.0.0.1", args.port))
        if code not in (0, errno.EINPROGRESS):
            failed += 1
            sock.close()
            return
        pending += 1
        state[sock] = b""
        selector.register(sock, selectors.EVENT_WRITE, "connect")

    def complete(buffer):
        """Whether buffer holds one whole response (Content-Length framing only)."""
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        length = 0
        for line in buffer[:end].split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        return len(buffer) >= end + 4 + length

    ready = False
    while not stop:
        while started < args.conns and pending < args.inflight:
            open_one()
        if not ready and started >= args.conns and pending == 0:
            ready = True
            with open(args.ready_file, "w") as f:
                f.write(f"{connected}\n")
            hold_until = time.monotonic() + args.hold
        now = time.monotonic()
        if ready and now >= hold_until:
            break
        if not ready and now >= deadline:
            break
        for key, _ in selector.select(timeout=0.2):
            sock = key.fileobj
            if key.data == "connect":
                code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if code != 0:
                    failed += 1
                    pending -= 1
                    selector.unregister(sock)
                    sock.close()
                    del state[sock]
                    continue
                connected += 1
                sock.send(request)
                selector.modify(sock, selectors.EVENT_READ, "read")
                if args.expect == "none":
                    pending -= 1
                continue
            try:
                data = sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                selector.unregister(sock)
                sock.close()
                if state.get(sock) is not None and args.expect == "response":
                    pending -= 1
                    failed += 1
                del state[sock]
                continue
            if state[sock] is None:
                answered += 1      # a late or unexpected answer
                continue
            state[sock] += data
            if complete(state[sock]):
                answered += 1
                state[sock] = None
                if args.expect == "response":
                    pending -= 1
    print(json.dumps({"conns": args.conns, "connected": connected, "failed_conns": failed,
                      "answered": answered, "open_at_end": len(state)}))


if __name__ == "__main__":
    sys.exit(main())
