// Fakes for the client's environment: a clock whose time moves only when a test says so, a
// WebSocket the test drives from the server side, a fetch answered by a scripted job server,
// and event targets standing in for document visibility and navigator.onLine.

/** A manual clock: setTimeout/clearTimeout/now that run only inside `advance`. */
export class FakeClock {
  constructor(start = 1_700_000_000_000) {
    this.time = start;
    this.timers = new Map();
    this.nextId = 1;
    this.setTimeout = (fn, ms = 0) => {
      const id = this.nextId++;
      this.timers.set(id, { fn, at: this.time + Math.max(0, Number(ms) || 0), id });
      return id;
    };
    this.clearTimeout = (id) => {
      this.timers.delete(id);
    };
    this.now = () => this.time;
  }

  /** Delays of the pending timers, soonest first. */
  pending() {
    return [...this.timers.values()].map((t) => t.at - this.time).sort((a, b) => a - b);
  }

  /** Moves time forward by `ms`, running due timers in order and settling promises between. */
  async advance(ms) {
    const target = this.time + ms;
    await settle();
    for (;;) {
      let next = null;
      for (const t of this.timers.values()) {
        if (t.at <= target && (next === null || t.at < next.at || (t.at === next.at && t.id < next.id))) next = t;
      }
      if (!next) break;
      this.timers.delete(next.id);
      this.time = Math.max(this.time, next.at);
      next.fn();
      await settle();
    }
    this.time = target;
    await settle();
  }
}

/** Lets every queued promise callback run (several rounds, as chains are awaited). */
export async function settle() {
  for (let i = 0; i < 5; i += 1) await new Promise((resolve) => setImmediate(resolve));
}

/** A sequence of numbers to stand in for Math.random. */
export function fixedRandom(values) {
  let i = 0;
  const list = Array.isArray(values) ? values : [values];
  return () => list[Math.min(i++, list.length - 1)];
}

/** A simple event target with listener bookkeeping. */
export class FakeTarget {
  constructor(props = {}) {
    Object.assign(this, props);
    this.listeners = new Map();
  }

  addEventListener(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(fn);
  }

  removeEventListener(type, fn) {
    this.listeners.get(type)?.delete(fn);
  }

  dispatch(type) {
    for (const fn of [...(this.listeners.get(type) || [])]) fn({ type });
  }

  count(type) {
    return this.listeners.get(type)?.size ?? 0;
  }
}

/**
 * A scripted job on a scripted server: an event log with seqs 1, 2, 3…, answering the
 * WebSocket subscribe message, long-poll and snapshot requests as docs/PROTOCOL.md says.
 */
export class FakeJobServer {
  constructor(clock, jobId = 'job1') {
    this.clock = clock;
    this.jobId = jobId;
    this.events = [];
    this.sockets = [];
    this.requests = [];
    this.parked = [];
    /** When set, (url, init) → a response object or undefined to fall through. */
    this.override = null;
    this.wsMode = 'accept';
    this.processed = 0;
    const server = this;

    this.WebSocket = class FakeWebSocket {
      constructor(url) {
        this.url = url;
        this.sent = [];
        this.readyState = 0;
        this.closedByClient = null;
        this.onopen = this.onmessage = this.onclose = this.onerror = null;
        this.subscriptions = [];
        server.sockets.push(this);
        const mode = server.wsMode;
        if (mode === 'throw') throw new Error('blocked');
        if (mode === 'accept') clock.setTimeout(() => this.serverOpen(), 1);
        if (mode === 'refuse') clock.setTimeout(() => this.serverClose(1006), 1);
        // "silent": opens, then never says anything; "hang": never even opens.
        if (mode === 'silent') clock.setTimeout(() => this.serverOpen(), 1);
      }

      send(text) {
        if (this.readyState !== 1) throw new Error('not open');
        this.sent.push(text);
        if (server.wsMode === 'silent') return;
        let message;
        try {
          message = JSON.parse(text);
        } catch {
          return;
        }
        if (message.type === 'subscribe') {
          this.subscriptions.push(message);
          this.serverSend({ type: 'subscribed', job: message.job });
          for (const event of server.eventsAfter(message.after)) this.serverSend(event);
          this.live = true;
        } else if (message.type === 'ping') {
          this.serverSend({ type: 'pong' });
        }
      }

      close(code = 1000) {
        if (this.readyState >= 2) return;
        this.closedByClient = code;
        this.readyState = 3;
      }

      serverOpen() {
        if (this.readyState !== 0) return;
        this.readyState = 1;
        this.onopen?.({});
        // /ws/jobs/{id}[?after=N] follows its job from the start, as the server does.
        const url = new URL(this.url);
        if (url.pathname.startsWith('/ws/jobs/') && server.wsMode === 'accept') {
          const after = url.searchParams.get('after');
          for (const event of server.eventsAfter(after === null ? undefined : Number(after))) this.serverSend(event);
          this.live = true;
        }
      }

      serverSend(obj) {
        if (this.readyState !== 1) return;
        this.onmessage?.({ data: typeof obj === 'string' ? obj : JSON.stringify(obj) });
      }

      serverClose(code = 1006) {
        if (this.readyState === 3) return;
        this.readyState = 3;
        this.onerror?.({});
        this.onclose?.({ code });
      }
    };

    this.fetch = (url, init = {}) => {
      const request = { url, init, at: clock.now() };
      server.requests.push(request);
      if (server.override) {
        const answer = server.override(url, init);
        if (answer !== undefined) return answer instanceof Promise ? answer : Promise.resolve(answer);
      }
      const parsed = new URL(url, 'http://tally.test');
      const path = parsed.pathname;
      const events = path.match(/^\/api\/jobs\/([^/]+)\/events$/);
      if (events) {
        const after = Number(parsed.searchParams.get('after') || 0);
        const wait = Number(parsed.searchParams.get('wait') || 25);
        const ready = server.eventsAfter(after);
        if (ready.length > 0 || server.isTerminal() || wait === 0) return Promise.resolve(json(200, server.pollBody(after)));
        return new Promise((resolve, reject) => {
          const entry = { after, resolve, reject };
          server.parked.push(entry);
          const timer = clock.setTimeout(() => {
            server.parked = server.parked.filter((p) => p !== entry);
            resolve(json(200, server.pollBody(after)));
          }, wait * 1000);
          entry.timer = timer;
          init.signal?.addEventListener('abort', () => {
            clock.clearTimeout(timer);
            server.parked = server.parked.filter((p) => p !== entry);
            reject(new Error('aborted'));
          });
        });
      }
      if (path === `/api/jobs/${server.jobId}`) return Promise.resolve(json(200, server.snapshot()));
      if (path === '/api/jobs') return Promise.resolve(json(200, { jobs: [server.snapshot()] }));
      return Promise.resolve(json(404, { error: { code: 'http.not_found', message: 'no route' } }));
    };
  }

  snapshot() {
    const last = this.events[this.events.length - 1];
    if (!last) return { id: this.jobId, seq: 0, state: 'pending', processed: 0 };
    const { type, resync, ...rest } = last;
    return rest;
  }

  isTerminal() {
    const s = this.snapshot().state;
    return s === 'completed' || s === 'failed' || s === 'cancelled';
  }

  eventsAfter(after) {
    if (after === undefined || after === null) {
      const last = this.events[this.events.length - 1];
      return last ? [{ ...this.snapshot(), type: 'snapshot' }] : [];
    }
    return this.events.filter((e) => e.seq > after);
  }

  pollBody(after) {
    const events = this.eventsAfter(after);
    const last = events.length ? events[events.length - 1].seq : after;
    return { id: this.jobId, events, last, state: this.snapshot().state };
  }

  /** Publishes the next event to open sockets and parked long-polls. */
  publish(fields = {}) {
    const seq = this.events.length + 1;
    this.processed += 10;
    const event = {
      type: fields.state && fields.state !== 'running' ? 'state' : 'progress',
      id: this.jobId,
      seq,
      state: 'running',
      processed: this.processed,
      ...fields,
    };
    this.events.push(event);
    for (const socket of this.sockets) {
      if (socket.readyState === 1 && socket.live) socket.serverSend(event);
    }
    const parked = this.parked;
    this.parked = [];
    for (const entry of parked) {
      this.clock.clearTimeout(entry.timer);
      entry.resolve(json(200, this.pollBody(entry.after)));
    }
    return event;
  }

  openSockets() {
    return this.sockets.filter((s) => s.readyState === 1);
  }

  lastSocket() {
    return this.sockets[this.sockets.length - 1];
  }
}

/** A minimal Response. */
export function json(status, body, headers = {}) {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return {
    status,
    ok: status >= 200 && status < 300,
    headers: { get: (name) => lower[String(name).toLowerCase()] ?? null },
    text: () => Promise.resolve(typeof body === 'string' ? body : JSON.stringify(body)),
  };
}

/** Everything `subscribe` needs from its environment, all fake. */
export function fakeEnvironment(server, clock, extra = {}) {
  const document = new FakeTarget({ visibilityState: 'visible' });
  const window = new FakeTarget();
  const navigator = { onLine: true };
  return {
    server: 'http://tally.test',
    WebSocket: server.WebSocket,
    fetch: server.fetch,
    AbortController: globalThis.AbortController,
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
    now: clock.now,
    random: () => 0.5,
    document,
    window,
    navigator,
    location: { origin: 'http://tally.test' },
    hiddenDelay: 0,
    ...extra,
  };
}

/** Records what a subscription reports. */
export function recorder() {
  const log = { events: [], states: [], errors: [] };
  log.onEvent = (e) => log.events.push(e);
  log.onState = (s, info) => log.states.push({ state: s, ...info });
  log.onError = (e) => log.errors.push(e);
  log.seqs = () => log.events.map((e) => e.seq);
  log.stateNames = () => log.states.map((s) => s.state);
  log.lastState = () => log.states[log.states.length - 1];
  return log;
}
