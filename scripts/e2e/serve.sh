#!/usr/bin/env bash
# `tally serve` end to end: starts on a free port, prints its URL, serves /healthz and the
# dashboard (gzip, ETag → 304), answers a malformed request with 400 while serving others, and
# exits 0 on SIGTERM after a graceful shutdown. Uses the debug build scripts/test.sh just made.
set -euo pipefail
cd "$(dirname "$0")/../.."
swift build --product tally >/dev/null
tally=$(swift build --show-bin-path)/tally
work=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

"$tally" serve --help 2>&1 | grep -q -- "--loops" || { echo "FAIL: --help does not list --loops"; exit 1; }

"$tally" serve --port 0 --loops 2 --data "$work/data" --web web >"$work/out.txt" 2>"$work/log.txt" &
pid=$!
for _ in $(seq 1 100); do grep -q "listening on" "$work/out.txt" 2>/dev/null && break; sleep 0.1; done
url=$(grep -o 'http://[^ ]*' "$work/out.txt") || { echo "FAIL: no URL: $(cat "$work/out.txt" "$work/log.txt")"; exit 1; }
echo "serving $url"
[ -d "$work/data" ] || { echo "FAIL: data directory not created"; exit 1; }

python3 - "${url##*:}" <<'PY'
import gzip, json, socket, sys
port = int(sys.argv[1])

def exchange(raw):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(raw)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
    return int(lines[0].split()[1]), headers, body

status, headers, body = exchange(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
assert status == 200 and json.loads(body)["status"] == "ok", (status, body)

status, headers, body = exchange(b"GET / HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n")
assert status == 200 and headers["content-type"].startswith("text/html"), (status, headers)
assert headers.get("content-encoding") == "gzip" and b"<html" in gzip.decompress(body).lower(), headers
etag = headers["etag"]
status, _, body = exchange(b"GET / HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\nIf-None-Match: " + etag.encode() + b"\r\nConnection: close\r\n\r\n")
assert status == 304 and body == b"", status

status, headers, body = exchange(b"GET /../../etc/passwd HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
assert status in (400, 404) and b"root:" not in body, status

status, headers, body = exchange(b"BROKEN\r\n\r\n")
assert status == 400 and headers["connection"] == "close", (status, headers)
assert json.loads(body)["error"]["code"] == "http.bad_request", body
status, _, _ = exchange(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
assert status == 200
print("http checks passed")
PY

grep -q "event=http.bad_request code=http.bad_request" "$work/log.txt" || { echo "FAIL: bad request not logged: $(cat "$work/log.txt")"; exit 1; }
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=""
[ "$status" -eq 0 ] || { echo "FAIL: exit status $status after SIGTERM"; cat "$work/log.txt"; exit 1; }
grep -q "event=server.shutdown signal=SIGTERM" "$work/log.txt" || { echo "FAIL: shutdown not logged"; exit 1; }
echo "serve: ok"
