#!/usr/bin/env bash
# TLS end to end: `tally serve --tls-cert --tls-key` with a freshly generated self-signed
# certificate, checked with real TLS clients on loopback: Python's ssl module (certificate and
# host name verified, ALPN, TLS 1.3 and TLS 1.2, a request over https://, a WebSocket upgrade
# over wss:// when the route exists) and `openssl s_client` (TLS 1.1 refused, renegotiation
# refused). Uses the debug build that scripts/test.sh just made.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v openssl >/dev/null || { echo "openssl not found: skipped"; exit 0; }
swift build --product tally >/dev/null
tally=$(swift build --show-bin-path)/tally
work=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null

# Configuration errors are clear and fatal.
if "$tally" serve --port 0 --data "$work/data" --tls-cert "$work/missing.pem" --tls-key "$work/key.pem" 2>"$work/err.txt"; then
    echo "FAIL: started with a missing certificate"; exit 1
fi
grep -q "tls.unreadable_file" "$work/err.txt" || { echo "FAIL: unclear error: $(cat "$work/err.txt")"; exit 1; }

"$tally" serve --port 0 --data "$work/data" --web web --tls-cert "$work/cert.pem" --tls-key "$work/key.pem" \
    >"$work/out.txt" 2>"$work/log.txt" &
pid=$!
for _ in $(seq 1 100); do grep -q "listening on" "$work/out.txt" 2>/dev/null && break; sleep 0.1; done
url=$(grep -o 'https://[^ ]*' "$work/out.txt") || { echo "FAIL: no https:// URL: $(cat "$work/out.txt" "$work/log.txt")"; exit 1; }
port=${url##*:}
echo "serving $url"

python3 - "$port" "$work/cert.pem" <<'PY'
import base64, os, socket, ssl, sys
port, cafile = int(sys.argv[1]), sys.argv[2]

def connect(maximum=None):
    context = ssl.create_default_context(cafile=cafile)
    context.set_alpn_protocols(["http/1.1"])
    if maximum:
        context.maximum_version = maximum
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    return context.wrap_socket(raw, server_hostname="localhost")

def request(tls, text):
    tls.sendall(text.encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = tls.recv(65536)
        if not chunk:
            break
        data += chunk
    return data.decode("latin-1")

for maximum, expected in ((None, "TLSv1.3"), (ssl.TLSVersion.TLSv1_2, "TLSv1.2")):
    with connect(maximum) as tls:
        assert tls.version() == expected, tls.version()
        assert tls.selected_alpn_protocol() == "http/1.1", tls.selected_alpn_protocol()
        answer = request(tls, "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        assert answer.startswith("HTTP/1.1 200"), answer[:200]
        print(f"ok    https GET /healthz over {tls.version()} ({tls.cipher()[0]}), ALPN {tls.selected_alpn_protocol()}")

with connect() as tls:
    key = base64.b64encode(os.urandom(16)).decode()
    answer = request(tls, f"GET /ws HTTP/1.1\r\nHost: localhost:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
    status = answer.split(" ", 2)[1] if answer else "none"
    if status == "404":
        print("skip  wss:// upgrade (no /ws route in this build)")
    else:
        assert status in ("101", "401"), answer[:200]
        print(f"ok    wss:// upgrade answered {status}")

# An untrusting client refuses the self-signed certificate.
try:
    with ssl.create_default_context().wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5), server_hostname="localhost"):
        raise SystemExit("FAIL: an untrusting client accepted the certificate")
except ssl.SSLCertVerificationError:
    print("ok    clients that do not trust the certificate refuse it")
PY

# TLS 1.1 is refused (the client may also refuse to offer it at its default security level).
if echo | openssl s_client -connect "127.0.0.1:$port" -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' 2>&1 | grep -q "^New, TLSv1"; then
    echo "FAIL: TLS 1.1 accepted"; exit 1
fi
echo "ok    TLS 1.1 refused"

# Client-initiated renegotiation over TLS 1.2 ("R" asks s_client to renegotiate) is refused.
output=$( (printf 'R\n'; sleep 1) | timeout 10 openssl s_client -connect "127.0.0.1:$port" -tls1_2 -servername localhost 2>&1 || true)
if ! echo "$output" | grep -q "RENEGOTIATING" || ! echo "$output" | grep -q "no renegotiation"; then
    echo "FAIL: renegotiation was not refused"; echo "$output" | tail -20; exit 1
fi
echo "ok    TLS 1.2 renegotiation refused"
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
echo "tls e2e passed"
