#!/usr/bin/env python3
"""Follows one Tally job and writes every event it receives as a JSON line (seq, type,
state, processed, resync), for the scale-out test. Standard library only.

  watch_job.py ws PORT JOB OUT     WebSocket /ws/jobs/JOB, resuming with ?after=LAST on a drop
  watch_job.py poll PORT JOB OUT   long-polling /api/jobs/JOB/events?after=LAST

Stops after a terminal event, or after --give-up seconds without reaching the node.
"""
import base64, json, os, socket, struct, sys, time, urllib.request, urllib.error

TERMINAL = {"completed", "failed", "cancelled"}


def record(out, event):
    out.write(json.dumps({"seq": event.get("seq"), "type": event.get("type"), "state": event.get("state"),
                          "processed": event.get("processed"), "resync": bool(event.get("resync"))}) + "\n")
    out.flush()


def ws_session(port, job, after, out):
    """One WebSocket connection; returns (last seq, finished)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    key = base64.b64encode(os.urandom(16)).decode()
    path = f"/ws/jobs/{job}" + (f"?after={after}" if after is not None else "")
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed during the handshake")
        buf += data
    head, buf = buf.split(b"\r\n\r\n", 1)
    if b" 101 " not in head.split(b"\r\n")[0]:
        raise ConnectionError(head.split(b"\r\n")[0].decode())

    def need(n):
        nonlocal buf
        while len(buf) < n:
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("closed")
            buf += data

    last = after
    while True:
        need(2)
        opcode, length, offset = buf[0] & 0x0F, buf[1] & 0x7F, 2
        if length == 126:
            need(4); length = struct.unpack(">H", buf[2:4])[0]; offset = 4
        elif length == 127:
            need(10); length = struct.unpack(">Q", buf[2:10])[0]; offset = 10
        need(offset + length)
        payload, buf = buf[offset:offset + length], buf[offset + length:]
        if opcode == 1:
            event = json.loads(payload)
            if event.get("type") in ("progress", "state", "snapshot"):
                record(out, event)
                last = event["seq"]
                if event.get("state") in TERMINAL:
                    sock.close()
                    return last, True
        elif opcode == 9:
            mask = os.urandom(4)
            sock.sendall(bytes([0x8A, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
        elif opcode == 8:
            sock.close()
            return last, False


def watch_ws(port, job, out, give_up):
    after, deadline = None, time.time() + give_up
    while time.time() < deadline:
        try:
            after, finished = ws_session(port, job, after, out)
            if finished:
                return 0
            deadline = time.time() + give_up
        except (OSError, ConnectionError):
            time.sleep(0.2)
    return 1


def watch_poll(port, job, out, give_up):
    after, deadline = 0, time.time() + give_up
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/jobs/{job}/events?after={after}&wait=5", timeout=15) as r:
                answer = json.load(r)
        except urllib.error.HTTPError as e:
            time.sleep(float(e.headers.get("Retry-After") or 0.5))
            continue
        except OSError:
            time.sleep(0.2)
            continue
        deadline = time.time() + give_up
        for event in answer["events"]:
            record(out, event)
            if event.get("state") in TERMINAL:
                return 0
        after = answer["last"]
    return 1


def main():
    mode, port, job, path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    give_up = float(sys.argv[6]) if len(sys.argv) > 6 and sys.argv[5] == "--give-up" else 60
    with open(path, "a") as out:
        sys.exit((watch_ws if mode == "ws" else watch_poll)(port, job, out, give_up))


if __name__ == "__main__":
    main()
