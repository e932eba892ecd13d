// Tally's browser client: follows one job (or every job, with "*") over the best transport
// that works, WebSocket → long-poll → snapshot polling, and never shows an event twice or
// skips one. Everything environmental (WebSocket, fetch, timers, clock, randomness, page
// visibility, online state) can be injected, so the whole state machine runs under a fake
// clock in node's test runner. No dependencies; see docs/PROTOCOL.md for the wire shapes.

/** States after which the server sends no further event for a job. */
export const TERMINAL_STATES = Object.freeze(['completed', 'failed', 'cancelled']);

/** Connection states reported through `onState`. */
export const CONNECTION_STATES = Object.freeze([
  'connecting', 'live', 'polling', 'reconnecting', 'offline', 'paused', 'stopped',
]);

/**
 * Tunables. Defaults favour a fast first reconnect (a dropped proxy connection usually comes
 * straight back), a cap low enough that a restarted server is noticed within half a minute,
 * and a WebSocket liveness deadline shorter than typical proxy idle timeouts (60 s).
 */
export const DEFAULTS = Object.freeze({
  transports: ['websocket', 'longpoll', 'polling'],
  /** Ceiling of the first retry's random delay (ms). */
  firstRetryDelay: 250,
  /** Ceiling of the second retry's delay (ms); doubles on each further retry. */
  backoffBase: 500,
  /** Largest ceiling of a retry delay (ms). */
  backoffCap: 30000,
  /** Consecutive failures of one transport before falling back to the next. */
  fallbackAfter: 2,
  /** First wait (ms) before trying a better transport again; doubles after each failed try. */
  upgradeInterval: 30000,
  upgradeIntervalMax: 300000,
  /** Delay (ms) before trying a better transport once a lower one recovered from an outage. */
  upgradeAfterRecovery: 2000,
  /** A WebSocket must open and deliver its first message within this (ms). */
  wsConnectTimeout: 8000,
  /** After this much silence (ms) the client pings; browsers hide protocol pings from JS. */
  wsPingAfter: 15000,
  /** Any message must arrive this soon (ms) after a ping, or the socket counts as dead. */
  wsPongTimeout: 5000,
  /** Long-poll `wait` (s); the server caps it at 60. */
  longPollWait: 25,
  /**
   * Shortest time (ms) between two long-poll requests: a busy job's events then arrive in
   * batches, at most four requests a second, well inside the server's rate limit.
   */
  longPollMinInterval: 250,
  /** Extra time (ms) over `wait` before a long-poll request counts as silently dead. */
  longPollGrace: 10000,
  /** Deadline (ms) of a plain request (snapshot polling). */
  requestTimeout: 10000,
  /** Snapshot polling: first interval, growth while nothing changes, and ceiling (ms). */
  pollMin: 1000,
  pollGrowth: 1.5,
  pollMax: 15000,
  /** How long (ms) a hidden page keeps its connection before pausing. */
  hiddenDelay: 5000,
  /** Send the token as `Authorization: Bearer` ("header") or `?token=` ("query"). */
  tokenIn: 'header',
  /** Path of the list polled when following every job ("*"). */
  listPath: '/api/jobs',
});

/**
 * Upper bound of the delay before retry number `attempt` (1-based): `firstRetryDelay`, then
 * `backoffBase` doubling each time, never above `backoffCap`.
 */
export function backoffCeiling(attempt, options = DEFAULTS) {
  const first = options.firstRetryDelay ?? DEFAULTS.firstRetryDelay;
  const base = options.backoffBase ?? DEFAULTS.backoffBase;
  const cap = options.backoffCap ?? DEFAULTS.backoffCap;
  if (attempt <= 1) return Math.min(cap, first);
  return Math.min(cap, base * 2 ** Math.min(attempt - 2, 40));
}

/**
 * "Full jitter" backoff: a uniformly random delay in [0, ceiling), so that many clients cut
 * off together do not come back together.
 */
export function backoffDelay(attempt, options = DEFAULTS, random = Math.random) {
  const r = Math.min(Math.max(Number(random()) || 0, 0), 0.999999);
  return Math.floor(r * backoffCeiling(attempt, options));
}

/**
 * Parses a `Retry-After` header (delta-seconds or an HTTP date, RFC 9110 §10.2.3) into
 * milliseconds from `nowMs`; null when absent or unreadable.
 */
export function parseRetryAfter(value, nowMs = Date.now()) {
  if (value == null) return null;
  const text = String(value).trim();
  if (text === '') return null;
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const date = Date.parse(text);
  if (Number.isNaN(date)) return null;
  return Math.max(0, date - nowMs);
}

/** True for `completed`, `failed` and `cancelled`. */
export function isTerminal(state) {
  return TERMINAL_STATES.includes(state);
}

/** Normalises a server base URL ("" means the page's own origin) without a trailing slash. */
export function serverBase(server, location) {
  let base = server == null ? '' : String(server).trim();
  if (base === '' && location && location.origin && location.origin !== 'null') {
    base = location.origin;
  }
  return base.replace(/\/+$/, '');
}

/** The WebSocket URL for a path on `base` (http → ws, https → wss). */
export function webSocketURL(base, path, location) {
  let origin = base;
  if (!/^[a-z][a-z0-9+.-]*:/i.test(origin)) {
    const pageOrigin = location && location.origin && location.origin !== 'null' ? location.origin : 'http://localhost';
    origin = pageOrigin + origin;
  }
  return origin.replace(/^http(s?):/i, 'ws$1:') + path;
}

function resolveEnvironment(options) {
  const g = globalThis;
  const pick = (name, fallback) => (Object.prototype.hasOwnProperty.call(options, name) ? options[name] : fallback);
  const setTimeoutFn = pick('setTimeout', g.setTimeout ? g.setTimeout.bind(g) : undefined);
  const clearTimeoutFn = pick('clearTimeout', g.clearTimeout ? g.clearTimeout.bind(g) : undefined);
  return {
    WebSocket: pick('WebSocket', g.WebSocket),
    fetch: pick('fetch', g.fetch ? g.fetch.bind(g) : undefined),
    AbortController: pick('AbortController', g.AbortController),
    setTimeout: setTimeoutFn,
    clearTimeout: clearTimeoutFn,
    now: pick('now', () => Date.now()),
    random: pick('random', Math.random),
    document: pick('document', g.document),
    navigator: pick('navigator', g.navigator),
    window: pick('window', g.window),
    location: pick('location', g.location),
  };
}

/** An error reported by the client: a stable `code`, a message and the HTTP status if any. */
export class TallyClientError extends Error {
  constructor(code, message, status = null) {
    super(message);
    this.name = 'TallyClientError';
    this.code = code;
    this.status = status;
  }
}

const noop = () => {};

/**
 * Follows a job's progress. `jobId` is a job id, or "*" for every job (WebSocket, falling
 * back to polling the job list; never stops by itself).
 *
 * Options: `server` (base URL, default the page's origin), `token`, `after` (resume after
 * this seq), `onEvent(event)`, `onState(state, info)` with state one of CONNECTION_STATES and
 * info `{transport, attempt, retryIn, reason, error}`, `onError(error)`, any DEFAULTS key,
 * and the environment: `WebSocket`, `fetch`, `AbortController`, `setTimeout`,
 * `clearTimeout`, `now`, `random`, `document`, `navigator`, `window`, `location`.
 * Returns `{unsubscribe(), state, lastSeq, transport}`.
 */
export function subscribe(jobId, options = {}) {
  if (typeof jobId !== 'string' || jobId === '') throw new TypeError('subscribe: job id required');
  const config = { ...DEFAULTS };
  for (const [key, value] of Object.entries(options)) if (value !== undefined) config[key] = value;
  const env = resolveEnvironment(options);
  const all = jobId === '*';
  const onEvent = options.onEvent || noop;
  const onState = options.onState || noop;
  const onError = options.onError || noop;
  const base = serverBase(config.server, env.location);
  const token = config.token ? String(config.token) : '';

  const available = (name) => {
    if (name === 'websocket') return typeof env.WebSocket === 'function';
    if (name === 'longpoll') return !all && typeof env.fetch === 'function';
    if (name === 'polling') return typeof env.fetch === 'function';
    return false;
  };
  const transports = config.transports.filter(available);

  const initialAfter = Number.isFinite(Number(options.after)) && options.after !== null && options.after !== undefined
    ? Math.max(0, Math.floor(Number(options.after))) : null;
  let lastSeq = initialAfter ?? 0;
  /** Whether a baseline is known: before one, the first event is taken whatever its seq. */
  let anchored = initialAfter !== null;
  const seqByJob = new Map();

  let level = 0;
  let strikes = 0;
  let attempt = 0;
  let gapStrikes = 0;
  let current = null;
  let probe = null;
  let retryTimer = null;
  let upgradeTimer = null;
  let hiddenTimer = null;
  let upgradeDelay = config.upgradeInterval;
  /** Set when a fallback transport failed too: the server, not WebSocket, was the problem. */
  let outage = false;
  let stopped = false;
  let hidden = false;
  let offline = false;
  let pausedFor = null;
  let state = null;
  let stateInfo = {};

  function setState(next, info = {}) {
    const full = { transport: current ? current.name : (transports[level] ?? null), ...info };
    const same = next === state && full.transport === stateInfo.transport && full.retryIn === stateInfo.retryIn;
    state = next;
    stateInfo = full;
    if (!same) safeCall(onState, next, full);
  }

  function safeCall(fn, ...args) {
    try {
      fn(...args);
    } catch (error) {
      // A throwing callback must not wedge the connection state machine.
      if (fn !== onError) safeCall(onError, error);
    }
  }

  function later(fn, ms) {
    return env.setTimeout(fn, Math.max(0, ms));
  }

  function cancel(timer) {
    if (timer != null) env.clearTimeout(timer);
    return null;
  }

  function authHeaders() {
    const headers = { Accept: 'application/json' };
    if (token && config.tokenIn !== 'query') headers.Authorization = `Bearer ${token}`;
    return headers;
  }

  function withToken(url, always = false) {
    if (!token || (!always && config.tokenIn !== 'query')) return url;
    return url + (url.includes('?') ? '&' : '?') + 'token=' + encodeURIComponent(token);
  }

  // ---- event acceptance: dedupe by seq, resync snapshots, gap detection ----

  /** Returns "ok", "dup", "gap" or "stopped". */
  function accept(event) {
    if (stopped) return 'stopped';
    if (!event || typeof event !== 'object' || Array.isArray(event)) return 'dup';
    const seq = Number(event.seq);
    if (!Number.isFinite(seq)) return 'dup';
    if (all) {
      if (typeof event.id !== 'string') return 'dup';
      const known = seqByJob.get(event.id);
      if (!event.resync && known !== undefined && seq <= known) return 'dup';
      seqByJob.set(event.id, seq);
      safeCall(onEvent, event);
      return 'ok';
    }
    if (event.id != null && event.id !== jobId) return 'dup';
    const isSnapshot = event.type === 'snapshot';
    if (!event.resync) {
      if (anchored && seq <= lastSeq) return 'dup';
      if (anchored && !isSnapshot && seq !== lastSeq + 1 && gapStrikes < 1) {
        gapStrikes += 1;
        return 'gap';
      }
    }
    gapStrikes = 0;
    lastSeq = seq;
    anchored = true;
    safeCall(onEvent, event);
    if (isTerminal(event.state)) {
      finish({ reason: event.state });
      return 'stopped';
    }
    return 'ok';
  }

  /** Delivers a batch in order; stops at a gap so the transport can ask again. */
  function deliver(events) {
    for (const event of events) {
      const result = accept(event);
      if (result === 'gap' || result === 'stopped') return result;
    }
    return 'ok';
  }

  // ---- transports ----

  function makeContext(name, role) {
    const ctx = {
      name,
      role,
      dead: false,
      isLive: false,
      handle: null,
      live() {
        if (ctx.dead || ctx.isLive) return;
        ctx.isLive = true;
        if (ctx.role === 'probe') promote(ctx);
        else becameLive(ctx);
      },
      deliver(events) {
        if (ctx.dead) return 'stopped';
        const result = deliver(events);
        if (result === 'gap' && !ctx.dead) restart(ctx);
        return result;
      },
      fail(info) {
        if (ctx.dead) return;
        if (ctx.role === 'probe') probeFailed(ctx, info);
        else failed(ctx, info);
      },
      close() {
        if (ctx.dead) return;
        ctx.dead = true;
        if (ctx.handle) {
          try {
            ctx.handle.close();
          } catch {
            // Closing an already broken transport may throw; it is gone either way.
          }
        }
      },
    };
    return ctx;
  }

  function start(name, role) {
    const ctx = makeContext(name, role);
    const runner = name === 'websocket' ? runWebSocket : name === 'longpoll' ? runLongPoll : runPolling;
    ctx.handle = runner(ctx);
    return ctx;
  }

  function runWebSocket(ctx) {
    // One job: /ws/jobs/{id}, which checks the token at the handshake and resumes with
    // ?after=; every job: the multiplexed /ws with a subscribe message. Both answer a ping,
    // which is what tells a quiet socket from a dead one.
    const path = all ? '/ws'
      : `/ws/jobs/${encodeURIComponent(jobId)}${anchored ? `?after=${lastSeq}` : ''}`;
    const url = withToken(webSocketURL(base, path, env.location), true);
    let socket;
    let timer = null;
    let subscribed = false;
    let closing = false;
    const stopTimer = () => { timer = cancel(timer); };
    const dead = (reason) => {
      stopTimer();
      closing = true;
      try {
        socket.close();
      } catch {
        // The socket may already be closing.
      }
      ctx.fail({ reason });
    };
    const armIdle = () => {
      stopTimer();
      timer = later(() => {
        // The deadline is armed before sending, so that an answer, however quick, re-arms it.
        timer = later(() => dead('ws-silent'), config.wsPongTimeout);
        try {
          socket.send(JSON.stringify({ type: 'ping' }));
        } catch {
          dead('ws-send-failed');
        }
      }, config.wsPingAfter);
    };
    try {
      socket = new env.WebSocket(url);
    } catch {
      later(() => ctx.fail({ reason: 'ws-refused' }), 0);
      return { close() {} };
    }
    timer = later(() => dead('ws-connect-timeout'), config.wsConnectTimeout);
    socket.onopen = () => {
      if (ctx.dead) return;
      // An open socket is not yet a working one (some proxies accept the upgrade and then
      // pass nothing): the first answer, to the ping or the subscribe, makes it live.
      const message = all ? { type: 'subscribe', job: jobId } : { type: 'ping' };
      try {
        socket.send(JSON.stringify(message));
      } catch {
        dead('ws-send-failed');
      }
    };
    socket.onmessage = (frame) => {
      if (ctx.dead) return;
      let message;
      try {
        message = JSON.parse(typeof frame.data === 'string' ? frame.data : '');
      } catch {
        // A frame we cannot read says the server is alive but is no event; skip it.
        armIdle();
        return;
      }
      armIdle();
      if (!message || typeof message !== 'object') return;
      // On /ws only the subscription's answer confirms it; on /ws/jobs/{id} any answer does
      // (an older server's bad_message reply to the ping included).
      const confirms = all
        ? message.type !== 'error' && message.type !== 'pong' && message.type !== 'unsubscribed'
        : message.type !== 'error' || message.code === 'ws.bad_message';
      if (!subscribed && confirms) {
        // Live once the subscription is confirmed (or its first event arrives), not merely
        // open: a socket whose subscription is refused must count as a failure.
        subscribed = true;
        ctx.live();
        if (ctx.dead) return;
      }
      switch (message.type) {
        case 'subscribed':
          return;
        case 'unsubscribed':
        case 'pong':
          return;
        case 'error': {
          const code = String(message.code || '');
          const error = new TallyClientError(code || 'ws.error', String(message.message || code));
          if (isFatalCode(code)) {
            ctx.fail({ fatal: true, error });
          } else if (!subscribed) {
            // The subscription itself was refused (a limit, say): this socket is no use.
            safeCall(onError, error);
            dead('ws-subscribe-refused');
          } else if (code !== 'ws.bad_message') {
            // An older server may not know "ping": its bad_message answer still proves liveness.
            safeCall(onError, error);
          }
          return;
        }
        default:
          ctx.deliver([message]);
      }
    };
    socket.onerror = () => {};
    socket.onclose = (event) => {
      if (ctx.dead || closing) return;
      stopTimer();
      ctx.fail({ reason: 'ws-closed', code: event && event.code });
    };
    return {
      close() {
        stopTimer();
        closing = true;
        socket.onopen = socket.onmessage = socket.onerror = socket.onclose = null;
        try {
          socket.close(1000);
        } catch {
          // Closing a socket that never opened may throw in some engines.
        }
      },
    };
  }

  function isFatalCode(code) {
    return code === 'job.not_found' || code.startsWith('auth.') || code.startsWith('token.');
  }

  /** One HTTP GET with a deadline; resolves to `{ok: true, body}` or `{ok: false, ...info}`. */
  function request(path, timeoutMs, handle) {
    const url = withToken(base + path);
    const Controller = env.AbortController;
    const controller = typeof Controller === 'function' ? new Controller() : null;
    return new Promise((resolve) => {
      let settled = false;
      const settle = (value) => {
        if (settled) return;
        settled = true;
        timer = cancel(timer);
        handle.abort = null;
        resolve(value);
      };
      let timer = later(() => {
        if (controller) controller.abort();
        settle({ ok: false, reason: 'timeout' });
      }, timeoutMs);
      handle.abort = () => {
        if (controller) controller.abort();
        settle({ ok: false, reason: 'aborted' });
      };
      const init = { method: 'GET', headers: authHeaders(), cache: 'no-store' };
      if (controller) init.signal = controller.signal;
      let pending;
      try {
        pending = Promise.resolve(env.fetch(url, init));
      } catch {
        pending = Promise.reject(new Error('fetch threw'));
      }
      pending.then(async (response) => {
        if (settled) return;
        const status = Number(response.status);
        let text = '';
        try {
          text = await response.text();
        } catch {
          settle({ ok: false, reason: 'network' });
          return;
        }
        let body = null;
        let parsed = true;
        try {
          body = text === '' ? null : JSON.parse(text);
        } catch {
          parsed = false;
        }
        if (status >= 200 && status < 300) {
          if (!parsed || body === null || typeof body !== 'object') {
            settle({ ok: false, reason: 'malformed', status });
          } else {
            settle({ ok: true, body, status });
          }
          return;
        }
        const code = body && body.error && typeof body.error.code === 'string' ? body.error.code : `http.${status}`;
        const message = body && body.error && typeof body.error.message === 'string' ? body.error.message : `HTTP ${status}`;
        const headerValue = response.headers && typeof response.headers.get === 'function'
          ? response.headers.get('Retry-After') : null;
        const info = { ok: false, reason: `http-${status}`, status, code, message };
        if (status === 429 || status === 503) {
          info.retryAfter = parseRetryAfter(headerValue, env.now());
          info.throttled = true;
        } else if (status === 401 || status === 403 || (status === 404 && code === 'job.not_found')) {
          info.fatal = true;
          info.error = new TallyClientError(code, message, status);
        } else if (status >= 400 && status < 500) {
          // The route itself is missing or refused (an old server, a proxy): try the next transport.
          info.unsupported = true;
        }
        settle(info);
      }, () => settle({ ok: false, reason: 'network' }));
    });
  }

  function runLongPoll(ctx) {
    const handle = { abort: null, close() { if (handle.abort) handle.abort(); } };
    const enc = encodeURIComponent(jobId);
    (async () => {
      // The first request does not wait: it proves the route works (so the state turns live
      // at once, even for a quiet job) and brings the client up to date.
      let first = true;
      let sentAt = null;
      while (!ctx.dead) {
        const wait = first ? 0 : Math.max(0, Math.min(60, Number(config.longPollWait) || 0));
        first = false;
        if (sentAt !== null) {
          const pause = config.longPollMinInterval - (env.now() - sentAt);
          if (pause > 0) {
            await new Promise((resolve) => {
              const timer = later(resolve, pause);
              handle.abort = () => {
                cancel(timer);
                resolve();
              };
            });
            handle.abort = null;
            if (ctx.dead) return;
          }
        }
        sentAt = env.now();
        const path = `/api/jobs/${enc}/events?after=${anchored ? lastSeq : 0}&wait=${wait}`;
        const result = await request(path, wait * 1000 + config.longPollGrace, handle);
        if (ctx.dead) return;
        if (!result.ok) {
          ctx.fail(result);
          return;
        }
        const body = result.body;
        if (!Array.isArray(body.events)) {
          ctx.fail({ reason: 'malformed' });
          return;
        }
        ctx.live();
        if (ctx.dead) return;
        const outcome = ctx.deliver(body.events);
        if (outcome === 'stopped' || outcome === 'gap' || ctx.dead) return;
        if (isTerminal(body.state) && body.events.length === 0) {
          // Terminal, yet nothing newer than what we hold: take the final snapshot.
          const snap = await request(`/api/jobs/${enc}`, config.requestTimeout, handle);
          if (ctx.dead) return;
          if (snap.ok && snap.body && typeof snap.body === 'object') {
            accept({ ...snap.body, type: 'snapshot' });
            if (stopped || ctx.dead) return;
            finish({ reason: body.state });
          } else {
            ctx.fail(snap.ok ? { reason: 'malformed' } : snap);
          }
          return;
        }
      }
    })();
    return handle;
  }

  function runPolling(ctx) {
    let interval = config.pollMin;
    let timer = null;
    const handle = {
      abort: null,
      close() {
        timer = cancel(timer);
        if (handle.abort) handle.abort();
      },
    };
    const path = all ? config.listPath : `/api/jobs/${encodeURIComponent(jobId)}`;
    const tick = async () => {
      timer = null;
      const result = await request(path, config.requestTimeout, handle);
      if (ctx.dead) return;
      if (!result.ok) {
        ctx.fail(result);
        return;
      }
      const snapshots = all ? listOf(result.body) : [result.body];
      if (!snapshots) {
        ctx.fail({ reason: 'malformed' });
        return;
      }
      ctx.live();
      if (ctx.dead) return;
      let changed = false;
      for (const snapshot of snapshots) {
        if (!snapshot || typeof snapshot !== 'object') continue;
        const outcome = accept({ ...snapshot, type: 'snapshot' });
        if (outcome === 'stopped') return;
        if (outcome === 'ok') changed = true;
      }
      if (ctx.dead) return;
      // Quiet jobs are asked less and less often; any change brings the pace back up.
      interval = changed ? config.pollMin : Math.min(config.pollMax, interval * config.pollGrowth);
      timer = later(tick, interval);
    };
    tick();
    return handle;
  }

  function listOf(body) {
    if (Array.isArray(body)) return body;
    if (body && typeof body === 'object') {
      for (const key of ['jobs', 'items', 'data']) {
        if (Array.isArray(body[key])) return body[key];
      }
    }
    return null;
  }

  // ---- the state machine ----

  function connect() {
    retryTimer = cancel(retryTimer);
    if (stopped || pausedFor) return;
    if (transports.length === 0) {
      finish({ reason: 'error', error: new TallyClientError('client.no_transport', 'No transport available') });
      return;
    }
    if (state === null) setState('connecting', { transport: transports[level] });
    current = start(transports[level], 'main');
  }

  function becameLive(ctx) {
    attempt = 0;
    strikes = 0;
    setState(ctx.name === 'polling' ? 'polling' : 'live', { transport: ctx.name });
    if (level > 0) {
      // After an outage the better transport is probably back too: try it soon.
      scheduleUpgrade(outage ? Math.min(config.upgradeAfterRecovery, upgradeDelay) : upgradeDelay);
    }
    outage = false;
  }

  function failed(ctx, info) {
    ctx.close();
    if (current === ctx) current = null;
    if (info.fatal) {
      safeCall(onError, info.error);
      finish({ reason: 'error', error: info.error });
      return;
    }
    upgradeTimer = cancel(upgradeTimer);
    closeProbe();
    attempt += 1;
    if (level > 0 && !info.throttled) outage = true;
    if (!info.throttled) strikes += 1;
    if (info.unsupported) strikes = Math.max(strikes, config.fallbackAfter);
    let delay;
    if (strikes >= config.fallbackAfter && level < transports.length - 1) {
      level += 1;
      strikes = 0;
      delay = backoffDelay(1, config, env.random);
    } else {
      delay = backoffDelay(attempt, config, env.random);
    }
    if (info.retryAfter != null) {
      // Honour the server's wish, plus a little jitter so throttled clients spread out.
      delay = info.retryAfter + Math.floor(Math.min(1000, info.retryAfter * 0.1) * env.random());
    }
    setState('reconnecting', {
      transport: transports[level], attempt, retryIn: delay, reason: info.reason || 'error', status: info.status ?? null,
    });
    retryTimer = later(connect, delay);
  }

  function restart(ctx) {
    // A hole in the seqs: ask the same transport again from the last seq we hold.
    ctx.close();
    if (current === ctx) current = null;
    connect();
  }

  function scheduleUpgrade(delay) {
    upgradeTimer = cancel(upgradeTimer);
    if (level === 0 || stopped) return;
    upgradeTimer = later(() => {
      upgradeTimer = null;
      if (stopped || pausedFor || probe || level === 0) return;
      probe = start(transports[0], 'probe');
    }, delay);
  }

  function promote(ctx) {
    // The better transport works: it takes over, and the lower one is closed.
    probe = null;
    ctx.role = 'main';
    if (current) current.close();
    current = ctx;
    level = 0;
    strikes = 0;
    attempt = 0;
    upgradeDelay = config.upgradeInterval;
    setState('live', { transport: ctx.name });
  }

  function probeFailed(ctx) {
    ctx.close();
    if (probe === ctx) probe = null;
    upgradeDelay = Math.min(config.upgradeIntervalMax, upgradeDelay * 2);
    if (current && current.isLive && !current.dead) scheduleUpgrade(upgradeDelay);
  }

  function closeProbe() {
    if (probe) {
      probe.close();
      probe = null;
    }
  }

  function closeAll() {
    retryTimer = cancel(retryTimer);
    upgradeTimer = cancel(upgradeTimer);
    closeProbe();
    if (current) {
      current.close();
      current = null;
    }
  }

  function finish(info) {
    if (stopped) return;
    stopped = true;
    hiddenTimer = cancel(hiddenTimer);
    closeAll();
    detach();
    setState('stopped', info);
  }

  function updatePause() {
    const want = offline ? 'offline' : hidden ? 'paused' : null;
    if (stopped || want === pausedFor) return;
    const was = pausedFor;
    pausedFor = want;
    if (want) {
      if (!was) closeAll();
      setState(want, { reason: want === 'offline' ? 'offline' : 'hidden' });
    } else {
      // Back: catch up at once from the last seq, with a fresh backoff.
      attempt = 0;
      strikes = 0;
      setState('reconnecting', { reason: was === 'offline' ? 'online' : 'visible', retryIn: 0 });
      connect();
    }
  }

  const onVisibility = () => {
    const doc = env.document;
    const isHidden = !!doc && doc.visibilityState === 'hidden';
    hiddenTimer = cancel(hiddenTimer);
    if (isHidden && !hidden) {
      if (config.hiddenDelay > 0) {
        hiddenTimer = later(() => {
          hiddenTimer = null;
          hidden = true;
          updatePause();
        }, config.hiddenDelay);
      } else {
        hidden = true;
        updatePause();
      }
    } else if (!isHidden && hidden) {
      hidden = false;
      updatePause();
    }
  };
  const onOffline = () => {
    offline = true;
    updatePause();
  };
  const onOnline = () => {
    offline = false;
    updatePause();
  };

  function attach() {
    if (env.document && typeof env.document.addEventListener === 'function') {
      env.document.addEventListener('visibilitychange', onVisibility);
    }
    if (env.window && typeof env.window.addEventListener === 'function') {
      env.window.addEventListener('offline', onOffline);
      env.window.addEventListener('online', onOnline);
    }
  }

  function detach() {
    if (env.document && typeof env.document.removeEventListener === 'function') {
      env.document.removeEventListener('visibilitychange', onVisibility);
    }
    if (env.window && typeof env.window.removeEventListener === 'function') {
      env.window.removeEventListener('offline', onOffline);
      env.window.removeEventListener('online', onOnline);
    }
  }

  attach();
  hidden = !!env.document && env.document.visibilityState === 'hidden';
  offline = !!env.navigator && env.navigator.onLine === false;
  if (hidden || offline) updatePause();
  else connect();

  return {
    unsubscribe() {
      finish({ reason: 'unsubscribed' });
    },
    get state() {
      return state;
    },
    get transport() {
      return current ? current.name : null;
    },
    get lastSeq() {
      return lastSeq;
    },
  };
}
