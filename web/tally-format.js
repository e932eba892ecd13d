// Pure formatting helpers shared by the progress element and the dashboard: numbers, rates,
// ETAs in human terms, sizes, states and error codes. No DOM, so node's test runner covers them.

const numberFormats = new Map();

function numberFormat(locale, options) {
  const key = `${locale}|${JSON.stringify(options)}`;
  let format = numberFormats.get(key);
  if (!format) {
    format = new Intl.NumberFormat(locale, options);
    numberFormats.set(key, format);
  }
  return format;
}

function finite(value) {
  return value !== null && value !== undefined && value !== '' && Number.isFinite(Number(value));
}

/** A count with digit grouping ("12,345"); "–" when unknown. */
export function formatNumber(value, locale = 'en-US') {
  if (!finite(value)) return '–';
  return numberFormat(locale, { maximumFractionDigits: 0 }).format(Math.round(Number(value)));
}

/**
 * A percentage for display. Rounds down so that "100%" appears only when the work is really
 * done; below 10 % one decimal shows that a slow import is moving.
 */
export function formatPercent(value) {
  if (!finite(value)) return '–';
  const p = Math.min(100, Math.max(0, Number(value)));
  if (p >= 100) return '100%';
  if (p < 10) return `${(Math.floor(p * 10) / 10).toFixed(p === 0 ? 0 : 1)}%`;
  return `${Math.floor(p)}%`;
}

/** Clamps a percent into [0, 100] for a progress bar; null when unknown. */
export function clampPercent(value) {
  if (!finite(value)) return null;
  return Math.min(100, Math.max(0, Number(value)));
}

/** Rows per second in a compact form: "850 rows/s", "12.5k rows/s", "0.4 rows/s"; "" when unknown. */
export function formatRate(rowsPerSecond, unit = 'rows/s') {
  if (!finite(rowsPerSecond)) return '';
  const r = Math.max(0, Number(rowsPerSecond));
  if (r === 0) return `0 ${unit}`;
  if (r < 10) return `${(Math.round(r * 10) / 10).toString()} ${unit}`;
  if (r < 10000) return `${formatNumber(r)} ${unit}`;
  if (r < 1e6) return `${trim(r / 1000)}k ${unit}`;
  return `${trim(r / 1e6)}M ${unit}`;
}

function trim(value) {
  const rounded = value < 100 ? Math.round(value * 10) / 10 : Math.round(value);
  return String(rounded);
}

/**
 * Seconds left, in words a person reads at a glance: "less than a minute left",
 * "about 2 min left", "about 1 h 20 min left". Empty when unknown; an absurd value (negative,
 * not a number, more than a year) counts as unknown rather than being shown.
 */
export function formatETA(seconds) {
  if (!finite(seconds)) return '';
  const s = Number(seconds);
  if (s < 0 || s > 366 * 86400) return '';
  if (s < 5) return 'almost done';
  if (s < 60) return 'less than a minute left';
  const minutes = Math.round(s / 60);
  if (minutes < 60) return `about ${minutes} min left`;
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  if (hours < 24) {
    if (hours >= 10 || rest === 0) {
      const rounded = Math.round(minutes / 60);
      return rounded >= 24 ? 'about 1 day left' : `about ${rounded} h left`;
    }
    // Five-minute steps: "1 h 17 min" claims a precision no estimate has.
    const step = Math.round(rest / 5) * 5;
    if (step === 0) return `about ${hours} h left`;
    if (step === 60) return `about ${hours + 1} h left`;
    return `about ${hours} h ${step} min left`;
  }
  const days = Math.round(s / 86400);
  return `about ${days} day${days === 1 ? '' : 's'} left`;
}

/** An elapsed time: "8 s", "2 min 5 s", "1 h 3 min". */
export function formatDuration(seconds) {
  if (!finite(seconds)) return '';
  const s = Math.max(0, Math.round(Number(seconds)));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 === 0 ? `${m} min` : `${m} min ${s % 60} s`;
  const h = Math.floor(m / 60);
  return m % 60 === 0 ? `${h} h` : `${h} h ${m % 60} min`;
}

/** A byte count: "512 B", "1.5 KB", "23 MB" (powers of 1024, as file pickers show them). */
export function formatBytes(bytes) {
  if (!finite(bytes)) return '';
  let value = Math.max(0, Number(bytes));
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  if (unit === 0) return `${Math.round(value)} B`;
  return `${value < 10 ? Math.round(value * 10) / 10 : Math.round(value)} ${units[unit]}`;
}

/** "processed / total" with "~" when the total is an estimate. */
export function formatProgressCount(processed, total, totalExact = true) {
  const done = formatNumber(processed ?? 0);
  if (!finite(total)) return done;
  return `${done} / ${totalExact === false ? '~' : ''}${formatNumber(total)}`;
}

const STATE_LABELS = {
  pending: 'Waiting',
  running: 'Running',
  completed: 'Completed',
  failed: 'Failed',
  cancelled: 'Cancelled',
};

/** The job state as a label. */
export function formatState(state) {
  return STATE_LABELS[state] || (state ? String(state) : 'Unknown');
}

const CONNECTION_LABELS = {
  connecting: 'Connecting…',
  live: 'Live',
  polling: 'Live (polling)',
  reconnecting: 'Reconnecting…',
  offline: 'Offline',
  paused: 'Paused',
  stopped: 'Finished',
};

/** The client's connection state as a label; `info.transport` and `info.retryIn` refine it. */
export function formatConnection(state, info = {}) {
  if (state === 'reconnecting' && finite(info.retryIn) && info.retryIn >= 1000) {
    return `Connection lost, retrying in ${Math.round(info.retryIn / 1000)} s`;
  }
  if (state === 'reconnecting') return 'Connection lost, reconnecting…';
  if (state === 'live' && info.transport === 'longpoll') return 'Live (long-poll)';
  if (state === 'stopped' && info.reason === 'error') return 'Disconnected';
  return CONNECTION_LABELS[state] || String(state || '');
}

const ERROR_TEXTS = {
  'import.timeout': 'The import took longer than the time allowed and was stopped.',
  'import.stalled': 'The import stalled: no rows were processed for too long, so it was stopped.',
  'import.cancelled': 'The import was cancelled.',
  'job.not_found': 'No such job: it may have been deleted, or the link is wrong.',
};

/**
 * A sentence for a failed job's error: a plain explanation for codes people meet (timeouts,
 * stalls), and the server's own message otherwise.
 */
export function describeError(error) {
  if (!error || typeof error !== 'object') return '';
  const code = typeof error.code === 'string' ? error.code : '';
  const message = typeof error.message === 'string' ? error.message.trim() : '';
  const known = ERROR_TEXTS[code];
  if (known) return message && !known.includes(message) ? `${known} (${message})` : known;
  if (code.startsWith('auth.') || code.startsWith('token.')) {
    return `Not allowed to see this job${message ? `: ${message}` : '.'}`;
  }
  return message || code || 'The import failed.';
}

/** "3 min ago" for an RFC 3339 time, relative to `nowMs`. */
export function formatRelativeTime(iso, nowMs = Date.now()) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '';
  const s = Math.round((nowMs - t) / 1000);
  if (s < 0) return 'just now';
  if (s < 45) return 'just now';
  if (s < 3600) return `${Math.max(1, Math.round(s / 60))} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  const days = Math.round(s / 86400);
  return `${days} day${days === 1 ? '' : 's'} ago`;
}
