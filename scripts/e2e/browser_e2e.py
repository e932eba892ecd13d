#!/usr/bin/env python3
"""The dashboard in a real headless Chromium against a real `tally serve`.

Scenarios (each prints one PASS line, or FAIL with the reason and the server's log tail):
  upload          a CSV with bad rows uploaded through the page reaches 100 % with the right
                  counts, and the rejected rows are listed (paged) and downloadable as CSV;
  no-websocket    the same through a proxy that refuses every WebSocket upgrade: the client
                  falls back to long-polling and still finishes;
  upload-progress with the browser's upload throttled, the upload's own progress shows;
  restart         the server is stopped mid-import and started again: the page shows that the
                  connection was lost, then resumes and completes without a reload, with no
                  event seen twice;
  slow            a long import: the rate and the ETA the page shows are sane;
  cancel          cancel from the page, with its confirmation dialog, then retry to the end;
  auth            with tokens required: refused without one, a subscribe token reads but cannot
                  upload, the API key (its own field) uploads, a subscribe token opens the embed
                  page, a token for another job stops it.

Usage: browser_e2e.py --tally PATH [--web DIR] [--screenshot docs/dashboard.png] [--only NAME]
"""

import argparse
import calendar
import csv
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def wait_until(predicate, timeout, message, interval=0.1):
    """Polls `predicate` until it returns a truthy value; fails with `message` after `timeout`."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Failure:
            raise
        except Exception as error:  # the page may be between states; try again
            last_error = error
        time.sleep(interval)
    raise Failure(f"{message} (after {timeout:.0f} s{'; last error: ' + str(last_error) if last_error else ''})")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- the server under test ----

class TallyServer:
    def __init__(self, binary, web, workdir, port):
        self.binary = binary
        self.web = web
        self.data = os.path.join(workdir, "data")
        self.log_path = os.path.join(workdir, "tally.log")
        self.port = port
        self.process = None
        self.extra_args = []

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        log = open(self.log_path, "ab")
        log.write(f"\n==== start {time.strftime('%H:%M:%S')}\n".encode())
        log.flush()
        self.process = subprocess.Popen(
            [self.binary, "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--data", self.data, "--web", self.web, *self.extra_args],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_until(self._healthy, 60, f"tally serve did not answer on {self.url}/healthz", interval=0.2)

    def _healthy(self):
        if self.process.poll() is not None:
            raise Failure(f"tally serve exited with {self.process.returncode}")
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, ConnectionError, socket.timeout):
            return False

    def stop(self, grace=15):
        if not self.process or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def offers_websocket(self):
        """Whether /ws completes a WebSocket handshake (101)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                      b"Origin: http://127.0.0.1:%d\r\n\r\n" % (self.port, self.port))
            head = s.recv(4096)
        return head.startswith(b"HTTP/1.1 101")

    def log_tail(self, lines=30):
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-lines:]).decode(errors="replace")
        except OSError:
            return "(no log)"

    def restart_with(self, extra_args):
        self.stop()
        self.extra_args = list(extra_args)
        self.start()

    def api(self, method, path, body=None, headers=None):
        request = urllib.request.Request(self.url + path, data=body, method=method, headers=headers or {})
        with urllib.request.urlopen(request, timeout=30) as response:
            data = response.read()
            kind = response.headers.get("Content-Type", "")
            return json.loads(data) if "json" in kind else data.decode()


class WebSocketRefusingProxy:
    """A TCP proxy in front of the server that answers every WebSocket upgrade with 403, as
    corporate proxies do, and passes everything else through untouched."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.refused = 0
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def close(self):
        self.closed = True
        self.listener.close()

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client):
        try:
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 65536:
                chunk = client.recv(65536)
                if not chunk:
                    client.close()
                    return
                head += chunk
            if re.search(rb"(?im)^upgrade:\s*websocket", head.split(b"\r\n\r\n", 1)[0]):
                self.refused += 1
                client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                client.close()
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            upstream.sendall(head)
        except OSError:
            client.close()
            return
        threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()
        self._pipe(client, upstream)

    @staticmethod
    def _pipe(source, sink):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def rfc3339(text):
    """Seconds since the epoch of an RFC 3339 UTC time such as 2026-12-04T16:00:01.250Z."""
    match = re.match(r"(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)(\.\d+)?Z$", text or "")
    check(match, f"not an RFC 3339 UTC time: {text!r}")
    y, mo, d, h, mi, s = (int(match.group(i)) for i in range(1, 7))
    return calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)) + float(match.group(7) or 0)


# ---- test data ----

SCHEMA = json.dumps({"columns": [
    {"name": "id", "type": "integer", "required": True, "unique": True},
    {"name": "email", "type": "text"},
    {"name": "amount", "type": "real"},
]})


def write_csv(path, rows, bad_every):
    """Rows with ids 1…rows; every `bad_every`-th has an amount that is not a number."""
    bad = 0
    with open(path, "w", newline="") as f:
        f.write("id,email,amount\n")
        for i in range(1, rows + 1):
            if bad_every and i % bad_every == 0:
                f.write(f"{i},user{i}@example.com,not-a-number\n")
                bad += 1
            else:
                f.write(f"{i},user{i}@example.com,{i % 1000}.25\n")
    return bad


# ---- the browser ----

def make_driver(chromium, chromedriver):
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900",
                "--disable-gpu", "--no-first-run", "--disable-background-networking"):
        options.add_argument(arg)
    if chromium:
        options.binary_location = chromium
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    driver.set_script_timeout(30)
    return driver


PAGE_PROBE = """
const p = document.getElementById('job-progress');
const root = p && p.shadowRoot;
const text = (sel) => root && root.querySelector(sel) ? root.querySelector(sel).textContent : null;
return {
  hash: location.hash,
  marker: window.__e2eMarker || null,
  snap: p ? p.snapshot : null,
  conn: p ? p.connectionState : null,
  transport: p && p.connectionInfo ? p.connectionInfo.transport || null : null,
  valuenow: root ? root.querySelector('[role=progressbar]').getAttribute('aria-valuenow') : null,
  percent: text('.percent'),
  rate: text('.rate dd'),
  eta: text('.eta dd'),
  final: text('.final'),
  finalHidden: root ? root.querySelector('.final').hidden : null,
  alert: document.getElementById('job-alert').hidden ? '' : document.getElementById('job-alert').textContent.replace(/\\s+/g, ' ').trim(),
  states: window.__e2eStates || [],
  seqs: window.__e2eSeqs || [],
};
"""

INSTRUMENT = """
if (!window.__e2eMarker) {
  window.__e2eMarker = 'page-' + Math.random();
  window.__e2eStates = [];
  window.__e2eSeqs = [];
  document.addEventListener('tally-connection', (e) => {
    window.__e2eStates.push(e.detail.state + ':' + ((e.detail.info && e.detail.info.transport) || ''));
  });
  document.addEventListener('tally-progress', (e) => { window.__e2eSeqs.push(e.detail.seq); });
}
return window.__e2eMarker;
"""


class Browser:
    def __init__(self, driver):
        self.driver = driver

    def open(self, url):
        self.driver.get(url)
        wait_until(lambda: self.driver.execute_script("return document.readyState") == "complete", 20, "page load")
        wait_until(lambda: self.driver.execute_script("return !!customElements.get('tally-progress')"), 20,
                   "the <tally-progress> element was never defined (module failed to load?)")
        return self.driver.execute_script(INSTRUMENT)

    def probe(self):
        return self.driver.execute_script(PAGE_PROBE)

    def upload(self, path, schema=SCHEMA, table=None):
        d = self.driver
        if schema or table:
            details = d.find_element(By.CSS_SELECTOR, "details.options")
            if not details.get_attribute("open"):
                d.find_element(By.CSS_SELECTOR, "details.options summary").click()
            if table:
                d.find_element(By.ID, "opt-table").clear()
                d.find_element(By.ID, "opt-table").send_keys(table)
            if schema:
                d.find_element(By.ID, "opt-schema").clear()
                d.execute_script("document.getElementById('opt-schema').value = arguments[0];", schema)
        d.find_element(By.ID, "file").send_keys(path)
        wait_until(lambda: d.find_element(By.ID, "upload-button").is_enabled(), 5, "upload button enabled after choosing a file")
        d.find_element(By.ID, "upload-button").click()
        return self.wait_job_page()

    def wait_job_page(self):
        d = self.driver

        def on_job_page():
            error = d.find_element(By.ID, "upload-error")
            if error.is_displayed():
                raise Failure(f"upload refused: {error.text}")
            match = re.match(r"#/jobs/(.+)$", d.execute_script("return location.hash"))
            return match.group(1) if match else None
        return wait_until(on_job_page, 120, "the page did not move to the new job after the upload")

    def wait_state(self, states, timeout):
        states = (states,) if isinstance(states, str) else states
        return wait_until(lambda: (lambda p: p if p["snap"] and p["snap"].get("state") in states else None)(self.probe()),
                          timeout, f"job never reached {states}: last {self._summary()}")

    def _summary(self):
        try:
            p = self.probe()
            s = p["snap"] or {}
            return (f"state={s.get('state')} percent={s.get('percent')} processed={s.get('processed')} "
                    f"conn={p['conn']}/{p['transport']} alert={p['alert']!r}")
        except Exception as error:
            return f"(no probe: {error})"

    def console_errors(self):
        """Script errors and CSP violations in the console (network failures are expected
        when servers stop or WebSockets are refused, so those are left out)."""
        entries = self.driver.get_log("browser")
        bad = []
        for entry in entries:
            message = entry.get("message", "")
            if entry.get("level") != "SEVERE":
                continue
            if entry.get("source") == "network" or "Failed to load resource" in message or "WebSocket connection" in message:
                continue
            bad.append(message)
        return bad


# ---- scenarios ----

class Context:
    def __init__(self, args, workdir):
        self.args = args
        self.workdir = workdir
        self.server = TallyServer(args.tally, args.web, workdir, free_port())
        self.driver = None
        self.browser = None
        self.rows_per_second = None
        self.websocket = False

    def file(self, name):
        return os.path.join(self.workdir, name)

    def import_rate(self):
        """Rows per second of this machine's imports, measured once, to size the long imports
        so they last long enough to watch (and no longer)."""
        if self.rows_per_second is None:
            path = self.file("calibrate.csv")
            rows = 200_000
            write_csv(path, rows, 0)
            with open(path, "rb") as f:
                body = f.read()
            query = "?table=calibrate&name=calibration.csv&schema=" + urllib.parse.quote(SCHEMA)
            job = self.server.api("POST", "/api/imports" + query, body, {"Content-Type": "text/csv"})
            final = wait_until(lambda: (lambda j: j if j["state"] in ("completed", "failed", "cancelled") else None)(
                self.server.api("GET", f"/api/jobs/{job['id']}")), 300, "calibration import did not finish", interval=0.2)
            check(final["state"] == "completed", f"calibration import ended {final['state']}: {final.get('error')}")
            took = rfc3339(final["finishedAt"]) - rfc3339(final["startedAt"])
            self.rows_per_second = max(2000.0, rows / max(0.05, took))
            print(f"  (imports run at about {self.rows_per_second:,.0f} rows/s here)")
        return self.rows_per_second

    def long_csv(self, name, seconds, bad_every=1000):
        rows = int(min(6_000_000, max(100_000, self.import_rate() * seconds)))
        path = self.file(name)
        bad = write_csv(path, rows, bad_every)
        return path, rows, bad


def scenario_upload(ctx):
    b = ctx.browser
    marker = b.open(ctx.server.url + "/")
    rows, bad_every = 5000, 100
    path = ctx.file("orders.csv")
    bad = write_csv(path, rows, bad_every)
    job = b.upload(path, table="orders")
    p = b.wait_state("completed", 120)
    s = p["snap"]
    check(p["marker"] == marker, "the page was reloaded")
    check(s["processed"] == rows, f"processed {s['processed']} != {rows}")
    check(s["succeeded"] == rows - bad, f"succeeded {s['succeeded']} != {rows - bad}")
    check(s["failed"] == bad, f"failed {s['failed']} != {bad}")
    wait_until(lambda: b.probe()["valuenow"] == "100", 5, "aria-valuenow never reached 100")
    p = b.probe()
    check(p["percent"] == "100%", f"percent shows {p['percent']!r}")
    check(not p["finalHidden"] and "Completed" in p["final"] and f"{rows - bad:,} rows imported" in p["final"]
          and f"{bad} rejected" in p["final"], f"final message {p['final']!r}")
    if ctx.websocket:
        check(any(state == "live:websocket" for state in p["states"]), f"never live over WebSocket: {p['states']}")

    d = ctx.driver
    rows_in_table = lambda: d.execute_script("return document.querySelectorAll('#errors-table tbody tr').length")
    wait_until(lambda: d.find_element(By.ID, "errors-count").text == f"({bad})", 15,
               f"errors count never showed ({bad}): {d.find_element(By.ID, 'errors-count').text!r}")
    wait_until(lambda: rows_in_table() == min(25, bad), 10, "first page of row errors")
    first = d.execute_script("return [...document.querySelectorAll('#errors-table tbody tr')[0].cells].map(c => c.textContent)")
    # Line numbers count the header: data row 100 is line 101.
    check(first[0] == str(bad_every + 1), f"first error's line {first}")
    check(first[1] == "amount", f"first error's column {first}")
    check("not-a-number" in first[3], f"first error's value {first}")
    d.find_element(By.ID, "errors-next").click()
    wait_until(lambda: d.execute_script("return document.querySelector('#errors-table tbody tr td').textContent") == str(26 * bad_every + 1),
               10, "second page of row errors")
    href = d.find_element(By.ID, "errors-download").get_attribute("href")
    check("format=csv" in href, f"download link {href}")
    with urllib.request.urlopen(href, timeout=30) as response:
        text = response.read().decode()
    lines = [line for line in csv.reader(io.StringIO(text)) if line]
    check(len(lines) >= bad, f"CSV download has {len(lines)} lines for {bad} errors")
    check(any("not-a-number" in ",".join(line) for line in lines), "CSV download lacks the rejected rows")

    # Back on the list: the job is there, complete.
    d.execute_script("location.hash = '#/'")
    wait_until(lambda: d.execute_script(
        "const li = document.querySelector(`#job-list li[data-id='${arguments[0]}']`);"
        "return li && li.dataset.state === 'completed' && li.querySelector('.job-percent').textContent === '100%';", job),
        15, "the job list does not show the completed job")

    # The embedding example shows the same finished job and reports its completion event.
    b.open(f"{ctx.server.url}/embed.html?job={job}")
    wait_until(lambda: d.execute_script(
        "const p = document.getElementById('progress'); const s = p.snapshot;"
        "return s && s.state === 'completed' && !document.getElementById('done').hidden"
        " && p.shadowRoot.querySelector('[role=progressbar]').getAttribute('aria-valuenow') === '100';"),
        20, "embed.html did not show the completed job")
    done = d.find_element(By.ID, "done").text
    check(f"{rows - bad} orders imported" in done, f"embed completion text {done!r}")
    return f"{rows} rows, {bad} rejected, errors paged and downloadable, embed page agrees"


def scenario_no_websocket(ctx):
    proxy = WebSocketRefusingProxy(ctx.server.port)
    try:
        b = ctx.browser
        b.open(proxy.url + "/")
        rows, bad_every = 20000, 500
        path = ctx.file("no-ws.csv")
        bad = write_csv(path, rows, bad_every)
        b.upload(path, table="nows")
        p = b.wait_state("completed", 120)
        s = p["snap"]
        check(s["succeeded"] == rows - bad and s["failed"] == bad, f"counts {s['succeeded']}/{s['failed']}")
        check(proxy.refused >= 1, "the proxy never saw a WebSocket attempt")
        live = [state for state in p["states"] if state.startswith("live:") or state.startswith("polling:")]
        check(live and all(state != "live:websocket" for state in live), f"states {p['states']}")
        check("live:longpoll" in live, f"never live over long-poll: {p['states']}")
        wait_until(lambda: b.probe()["valuenow"] == "100", 5, "bar not at 100")
        return f"WebSocket refused {proxy.refused}×, finished over long-poll"
    finally:
        proxy.close()


def scenario_upload_progress(ctx):
    """The bytes going up are part of the wait: with the browser's upload throttled, the page
    shows the upload's own progress before the import's."""
    b = ctx.browser
    d = ctx.driver
    path = ctx.file("big-upload.csv")
    write_csv(path, 150_000, 0)
    size = os.path.getsize(path)
    b.open(ctx.server.url + "/")
    # About six seconds of upload, whatever the file's exact size.
    d.set_network_conditions(offline=False, latency=5, download_throughput=64 * 1024 * 1024,
                             upload_throughput=max(64 * 1024, size // 6))
    try:
        d.find_element(By.ID, "file").send_keys(path)
        d.find_element(By.ID, "upload-button").click()
        value = wait_until(lambda: (lambda v: int(v) if v and 0 < int(v) < 100 else None)(
            d.find_element(By.ID, "upload-bar").get_attribute("aria-valuenow")), 30, "no upload progress shown")
        status = d.find_element(By.ID, "upload-status").text
        check(re.search(r"Uploading: [\d.]+ [KM]?B of [\d.]+ MB", status), f"upload status {status!r}")
        check(d.find_element(By.ID, "upload-abort").is_displayed(), "no way to stop the upload")
        job = b.wait_job_page()
    finally:
        d.delete_network_conditions()
    b.wait_state("completed", 120)
    return f"upload bar seen at {value} % ({status}), then job {job} completed"


def scenario_restart(ctx):
    b = ctx.browser
    path, rows, bad = ctx.long_csv("restart.csv", 14)
    marker = b.open(ctx.server.url + "/")
    b.upload(path, table="restart")
    wait_until(lambda: (lambda s: s and s.get("state") == "running" and (s.get("percent") or 0) >= 5)(b.probe()["snap"]),
               120, f"import never got going: {b._summary()}")
    ctx.server.stop()
    wait_until(lambda: b.probe()["conn"] in ("reconnecting",), 40, f"page never showed the lost connection: {b._summary()}")
    p = b.probe()
    check("Connection lost" in p["alert"], f"no lost-connection message: {p['alert']!r}")
    time.sleep(2)
    ctx.server.start()
    p = b.wait_state("completed", 300)
    s = p["snap"]
    check(p["marker"] == marker, "the page was reloaded")
    check(s["processed"] == rows and s["succeeded"] == rows - bad and s["failed"] == bad,
          f"counts after resume: processed {s['processed']}, succeeded {s['succeeded']}, failed {s['failed']} (want {rows}, {rows - bad}, {bad})")
    seqs = p["seqs"]
    check(all(a < b2 for a, b2 in zip(seqs, seqs[1:])), f"events out of order or twice: {seqs[:50]}")
    wait_until(lambda: not b.probe()["alert"].startswith("Connection lost"), 10, "lost-connection message stayed")
    states = [x.split(":")[0] for x in p["states"]]
    check("reconnecting" in states and states.index("reconnecting") < len(states) - 1, f"states {p['states']}")
    return f"{rows:,} rows across a restart; states {' → '.join(dict.fromkeys(p['states']))}"


ETA_TEXT = re.compile(r"^(almost done|less than a minute left|about \d+ min left|about \d+ h( \d+ min)? left|estimating…)$")
RATE_TEXT = re.compile(r"^[\d.,]+[kM]? rows/s$")


def scenario_slow(ctx):
    b = ctx.browser
    path, rows, _ = ctx.long_csv("slow.csv", 15, bad_every=0)
    b.open(ctx.server.url + "/")
    b.upload(path, table="slow")
    samples = []
    while True:
        p = b.probe()
        s = p["snap"] or {}
        now = time.monotonic()
        if s.get("state") == "running" and (s.get("percent") or 0) > 0:
            samples.append((now, s, p["rate"], p["eta"]))
        if s.get("state") in ("completed", "failed", "cancelled"):
            finished = now
            break
        check(not samples or now - samples[0][0] < 600, "slow import did not finish in 10 min")
        time.sleep(0.25)
    check(s["state"] == "completed", f"slow import ended {s['state']}: {s.get('error')}")
    check(len(samples) >= 4, f"too few running samples ({len(samples)}) to judge the ETA; states {p['states']}, seqs {p['seqs'][:40]}")
    duration = finished - samples[0][0]
    average = rows * (1 - (samples[0][1]["percent"] / 100)) / max(duration, 0.001)
    checked = 0
    for at, snap, rate_text, eta_text in samples:
        check(RATE_TEXT.match(rate_text or ""), f"rate shown as {rate_text!r}")
        check(ETA_TEXT.match(eta_text or ""), f"ETA shown as {eta_text!r}")
        check(snap.get("rate") is None or snap["rate"] > 0, f"rate {snap.get('rate')}")
        # Judge the estimate once it had something to go on, and not at the very end.
        if snap["percent"] < 15 or snap["percent"] > 90 or snap.get("eta") is None:
            continue
        remaining = finished - at
        check(snap["eta"] >= 0, f"negative ETA {snap['eta']}")
        # Sane, not exact: the server's estimate follows the import's speed, which varies on
        # a shared machine; an ETA off by more than this is a bug (units, sign, stale rate).
        check(abs(snap["eta"] - remaining) <= max(10.0, 2 * remaining),
              f"ETA {snap['eta']:.1f} s at {snap['percent']:.0f} % but {remaining:.1f} s were left")
        check(average / 4 <= snap["rate"] <= average * 4,
              f"rate {snap['rate']:.0f} rows/s far from the measured {average:.0f} rows/s")
        checked += 1
    check(checked >= 2, f"only {checked} samples between 15 and 90 %")
    return f"{rows:,} rows in {duration:.1f} s; {checked} ETA/rate samples within bounds (e.g. {samples[len(samples) // 2][2]}, {samples[len(samples) // 2][3]})"


def scenario_cancel(ctx):
    b = ctx.browser
    d = ctx.driver
    path, rows, bad = ctx.long_csv("cancel.csv", 25)
    b.open(ctx.server.url + "/")
    job = b.upload(path, table="cancelme")
    wait_until(lambda: (lambda s: s and s.get("state") == "running")(b.probe()["snap"]), 60, f"never running: {b._summary()}")
    if ctx.args.screenshot:
        wait_until(lambda: (b.probe()["snap"].get("percent") or 0) >= 25, 60, "import never reached 25 %")
        save_screenshot(ctx)
        wait_until(lambda: b.probe()["conn"] in ("live", "polling"), 20, "job page did not reconnect after the screenshot")
    wait_until(lambda: d.find_element(By.ID, "job-cancel").is_displayed(), 10, "cancel button not shown")
    d.find_element(By.ID, "job-cancel").click()
    wait_until(lambda: d.find_element(By.ID, "confirm").is_displayed(), 5, "no confirmation dialog")
    d.find_element(By.ID, "confirm-no").click()
    time.sleep(0.5)
    check(b.probe()["snap"]["state"] == "running", "declining the confirmation still cancelled")
    d.find_element(By.ID, "job-cancel").click()
    wait_until(lambda: d.find_element(By.ID, "confirm").is_displayed(), 5, "no confirmation dialog")
    d.find_element(By.ID, "confirm-yes").click()
    p = b.wait_state("cancelled", 60)
    check(p["snap"]["processed"] < rows, "the import finished before the cancel took effect")
    check("Cancelled" in (p["final"] or ""), f"final text {p['final']!r}")
    wait_until(lambda: d.find_element(By.ID, "job-retry").is_displayed(), 5, "retry button not offered")
    check(not d.find_element(By.ID, "job-cancel").is_displayed(), "cancel button still shown")
    server_state = ctx.server.api("GET", f"/api/jobs/{job}")["state"]
    check(server_state == "cancelled", f"server says {server_state}")
    stopped_at = p["snap"]["processed"]

    # Retry resumes from the checkpoint and the same page follows it to the end.
    d.find_element(By.ID, "job-retry").click()
    wait_until(lambda: d.find_element(By.ID, "confirm").is_displayed(), 5, "no confirmation dialog for retry")
    d.find_element(By.ID, "confirm-yes").click()
    p = b.wait_state("completed", 300)
    s = p["snap"]
    check(s["processed"] == rows and s["failed"] == bad, f"after retry: processed {s['processed']}, failed {s['failed']} (want {rows}, {bad})")
    check(not d.find_element(By.ID, "job-retry").is_displayed(), "retry still offered after completion")
    return f"cancelled at {stopped_at:,} of {rows:,} rows, then retried to completion"


SECRET = "e2e-secret-0123456789abcdef0123456789abcdef"
API_KEY = "e2e-admin-key-0123456789abcdef"


def set_credential(d, field, value):
    """Types a credential into the dashboard's import options, as a person would."""
    details = d.find_element(By.CSS_SELECTOR, "details.options")
    if not details.get_attribute("open"):
        d.find_element(By.CSS_SELECTOR, "details.options summary").click()
    box = d.find_element(By.ID, field)
    box.clear()
    if value:
        box.send_keys(value)
    # The dashboard takes the value on change (when the field loses focus).
    d.execute_script("arguments[0].dispatchEvent(new Event('change'))", box)


def scenario_auth(ctx):
    """With auth on: no credential → a clear refusal; a subscribe token for all jobs → the list
    loads but uploading asks for the API key; the API key → uploads work; a subscribe token for
    the job → the embed page follows it; a token for another job → a clear stop."""
    b = ctx.browser
    d = ctx.driver
    ctx.server.restart_with(["--token-secret", SECRET, "--api-key", API_KEY])
    try:
        b.open(ctx.server.url + "/")
        wait_until(lambda: "Could not load the job list" in d.find_element(By.ID, "banner").text, 15,
                   "no message when the server refuses the job list")
        reader = subprocess.run([ctx.args.tally, "token", "--token-secret", SECRET, "--job", "*", "--ttl", "600"],
                                check=True, capture_output=True, text=True).stdout.strip()
        b.open(ctx.server.url + "/?token=" + urllib.parse.quote(reader))
        wait_until(lambda: not d.find_element(By.ID, "banner").is_displayed(), 15, "a subscribe token did not open the job list")
        check(d.execute_script("return sessionStorage.getItem('tally.apiKey')") is None, "an API key was stored from nowhere")
        path = ctx.file("auth.csv")
        bad = write_csv(path, 3000, 300)
        details = d.find_element(By.CSS_SELECTOR, "details.options")
        if not details.get_attribute("open"):
            d.find_element(By.CSS_SELECTOR, "details.options summary").click()
        d.find_element(By.ID, "file").send_keys(path)
        wait_until(lambda: d.find_element(By.ID, "upload-button").is_enabled(), 5, "upload button enabled after choosing a file")
        d.find_element(By.ID, "upload-button").click()
        wait_until(lambda: "needs an API key" in d.find_element(By.ID, "upload-error").text, 15,
                   "an upload with only a subscribe token was not refused with advice")

        d.execute_script("document.getElementById('file').value = ''")
        set_credential(d, "opt-api-key", API_KEY)
        check(d.execute_script("return sessionStorage.getItem('tally.apiKey')") == API_KEY, "the API key was not kept for the session")
        check(d.execute_script("return sessionStorage.getItem('tally.token')") == reader, "the subscribe token was lost")
        job = b.upload(path, table="authed")
        p = b.wait_state("completed", 120)
        check(p["snap"]["failed"] == bad, f"failed {p['snap']['failed']} != {bad}")
        if ctx.websocket:
            check("live:websocket" in p["states"], f"never live over WebSocket with a token: {p['states']}")

        # The API key alone reads too, after a reload of the tab.
        b.open(ctx.server.url + "/")
        set_credential(d, "opt-token", "")
        check(d.execute_script("return sessionStorage.getItem('tally.token')") is None, "a cleared token was kept")
        b.open(ctx.server.url + "/")
        check(d.find_element(By.ID, "opt-api-key").get_attribute("value") == API_KEY, "the API key field was not refilled")
        wait_until(lambda: any(li.get_attribute("data-id") == job for li in d.find_elements(By.CSS_SELECTOR, "#job-list > li")),
                   15, "the API key alone did not list the job")
        check(not d.find_element(By.ID, "banner").is_displayed(), "the job list was refused with the API key")
        # The rejected rows download with the key in a header, never in the link.
        d.execute_script("location.hash = arguments[0]", f"#/jobs/{job}")
        wait_until(lambda: d.find_element(By.ID, "errors-download").is_displayed(), 15, "no errors download on the job page")
        href = d.find_element(By.ID, "errors-download").get_attribute("href")
        check(API_KEY not in href and "token=" not in href, f"the API key went into a link: {href}")
        d.execute_script("const made = URL.createObjectURL; window.__e2eBlob = 0;"
                         "URL.createObjectURL = (blob) => { window.__e2eBlob = blob.size; return made(blob); };")
        d.find_element(By.ID, "errors-download").click()
        wait_until(lambda: d.execute_script("return window.__e2eBlob") > 0, 15, "the errors CSV was not fetched with the API key")

        token = subprocess.run([ctx.args.tally, "token", "--token-secret", SECRET, "--job", job, "--ttl", "600"],
                               check=True, capture_output=True, text=True).stdout.strip()
        b.open(f"{ctx.server.url}/embed.html?job={job}&token={urllib.parse.quote(token)}")
        wait_until(lambda: d.execute_script("const s = document.getElementById('progress').snapshot; return s && s.state === 'completed';"),
                   20, "embed.html with a subscribe token did not show the job")

        other = subprocess.run([ctx.args.tally, "token", "--token-secret", SECRET, "--job", "someotherjob", "--ttl", "600"],
                               check=True, capture_output=True, text=True).stdout.strip()
        b.open(f"{ctx.server.url}/embed.html?job={job}&token={urllib.parse.quote(other)}")
        wait_until(lambda: d.execute_script("return document.getElementById('progress').connectionState") == "stopped", 30,
                   "a token for another job did not stop the element")
        info = d.execute_script("const i = document.getElementById('progress').connectionInfo; return {reason: i.reason, code: i.error && i.error.code};")
        check(info["reason"] == "error" and str(info["code"]).startswith("auth."), f"stop reason {info}")
        check(d.execute_script("return document.getElementById('progress').snapshot") is None, "a wrong token still showed the job")
        return f"refused without a credential, token reads but cannot upload, API key uploads, wrong job stopped with {info['code']}"
    finally:
        ctx.server.restart_with([])


def save_screenshot(ctx):
    """The dashboard mid-import, for the README: the job list beside the running job."""
    d = ctx.driver
    current = d.execute_script("return location.hash")
    size = d.get_window_size()
    d.set_window_size(1280, 1000)
    d.execute_script("location.hash = '#/'; document.querySelector('details.options').open = false;"
                     "document.getElementById('opt-table').value = '';")
    time.sleep(1.5)
    d.execute_script("window.scrollTo(0, 0)")
    d.save_screenshot(ctx.args.screenshot)
    d.set_window_size(size["width"], size["height"])
    d.execute_script("location.hash = arguments[0]", current)
    time.sleep(0.3)
    print(f"  (screenshot saved to {ctx.args.screenshot})")


SCENARIOS = [
    ("upload", scenario_upload),
    ("no-websocket", scenario_no_websocket),
    ("upload-progress", scenario_upload_progress),
    ("restart", scenario_restart),
    ("slow", scenario_slow),
    ("cancel", scenario_cancel),
    ("auth", scenario_auth),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tally", required=True, help="the tally executable")
    parser.add_argument("--web", default="web", help="the dashboard directory")
    parser.add_argument("--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser"))
    parser.add_argument("--chromedriver", default=shutil.which("chromedriver"))
    parser.add_argument("--screenshot", help="save a screenshot of the dashboard mid-import here")
    parser.add_argument("--only", action="append", help="run only these scenarios")
    parser.add_argument("--no-expect-websocket", dest="expect_websocket", action="store_false",
                        help="do not require the pages to use WebSocket even when the server offers it")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    args.web = os.path.abspath(args.web)
    args.tally = os.path.abspath(args.tally)
    if args.screenshot:
        args.screenshot = os.path.abspath(args.screenshot)

    workdir = tempfile.mkdtemp(prefix="tally-browser-e2e-")
    ctx = Context(args, workdir)
    failures = 0
    try:
        ctx.server.start()
        ctx.websocket = args.expect_websocket and ctx.server.offers_websocket()
        if not ctx.websocket:
            print("  (this server offers no WebSocket: the pages must get by with long-polling)")
        ctx.driver = make_driver(args.chromium, args.chromedriver)
        ctx.browser = Browser(ctx.driver)
        for name, run in SCENARIOS:
            if args.only and name not in args.only:
                continue
            started = time.monotonic()
            try:
                if ctx.server.process.poll() is not None:
                    ctx.server.start()
                detail = run(ctx)
                errors = ctx.browser.console_errors()
                check(not errors, f"console errors: {errors[:3]}")
                print(f"PASS {name} ({time.monotonic() - started:.1f} s): {detail}", flush=True)
            except Exception as error:
                failures += 1
                print(f"FAIL {name} ({time.monotonic() - started:.1f} s): {error}", flush=True)
                if not isinstance(error, Failure):
                    traceback.print_exc()
                print("  server log tail:\n    " + ctx.server.log_tail().replace("\n", "\n    "), flush=True)
                try:
                    shot = os.path.join(workdir, f"fail-{name}.png")
                    ctx.driver.save_screenshot(shot)
                    print(f"  screenshot: {shot}")
                except Exception:
                    pass
    finally:
        if ctx.driver:
            ctx.driver.quit()
        ctx.server.stop()
        if failures == 0 and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"work directory kept: {workdir}")
    if failures:
        print(f"browser e2e: {failures} scenario(s) failed")
        return 1
    print("browser e2e: all scenarios passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
