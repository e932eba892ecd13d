// <tally-progress job="ID" server="https://tally.example.com" token="…">: a self-contained,
// accessible progress display for one Tally job, for the dashboard and for other sites'
// admin portals. Styles live in the shadow root (constructed style sheets, so a strict CSP
// without 'unsafe-inline' still applies them) and are themed through CSS custom properties:
//
//   --tally-font            font family                    (inherits the page's)
//   --tally-text            main text colour               (inherits the page's)
//   --tally-muted           secondary text colour          #6b7280
//   --tally-bg              card background                transparent
//   --tally-border          card border                    1px solid rgba(127,127,127,.25)
//   --tally-radius          card and bar corner radius     10px
//   --tally-padding         card padding                   1rem
//   --tally-bar-height      height of the bar              0.75rem
//   --tally-track           bar track colour               rgba(127,127,127,.2)
//   --tally-accent          bar colour while running       #2563eb
//   --tally-success         bar colour when completed      #16a34a
//   --tally-danger          bar colour when failed, and failed counts   #dc2626
//   --tally-warning         bar colour when cancelled, reconnecting dot  #d97706
//
// Parts (`::part(...)`): card, header, name, connection, bar, fill, percent, message, stats,
// final. Events (bubbling, composed; `detail` is the job snapshot): `tally-progress` on every
// update, then one of `tally-complete`, `tally-failed`, `tally-cancelled`; `tally-connection`
// (detail `{state, info}`) when the connection state changes.

import { subscribe, isTerminal } from './tally-client.js';
import {
  clampPercent, describeError, formatConnection, formatETA, formatNumber, formatPercent,
  formatProgressCount, formatRate, formatState,
} from './tally-format.js';

const CSS = `
:host {
  display: block;
  font-family: var(--tally-font, inherit);
  color: var(--tally-text, inherit);
  --_accent: var(--tally-accent, #2563eb);
  --_muted: var(--tally-muted, #6b7280);
  --_danger: var(--tally-danger, #dc2626);
  --_success: var(--tally-success, #16a34a);
  --_warning: var(--tally-warning, #d97706);
  --_radius: var(--tally-radius, 10px);
}
:host([hidden]) { display: none; }
.card {
  background: var(--tally-bg, transparent);
  border: var(--tally-border, 1px solid rgba(127, 127, 127, 0.25));
  border-radius: var(--_radius);
  padding: var(--tally-padding, 1rem);
  display: grid;
  gap: 0.6rem;
  min-width: 0;
}
.header { display: flex; align-items: baseline; justify-content: space-between; gap: 0.75rem; flex-wrap: wrap; }
.name { font-weight: 600; overflow-wrap: anywhere; }
.connection { display: inline-flex; align-items: center; gap: 0.4em; font-size: 0.8em; color: var(--_muted); white-space: nowrap; }
.dot { width: 0.6em; height: 0.6em; border-radius: 50%; background: var(--_muted); flex: none; }
.card[data-connection="live"] .dot, .card[data-connection="polling"] .dot { background: var(--_success); }
.card[data-connection="reconnecting"] .dot, .card[data-connection="connecting"] .dot { background: var(--_warning); animation: blink 1s steps(2, start) infinite; }
.card[data-connection="offline"] .dot { background: var(--_danger); }
.bar {
  position: relative;
  height: var(--tally-bar-height, 0.75rem);
  background: var(--tally-track, rgba(127, 127, 127, 0.2));
  border-radius: var(--_radius);
  overflow: hidden;
}
.fill {
  position: absolute; inset: 0 auto 0 0;
  width: 0;
  background: var(--_accent);
  border-radius: inherit;
  transition: width 0.3s ease-out, background-color 0.3s;
}
.card[data-indeterminate] .fill { width: 30%; animation: slide 1.4s ease-in-out infinite; }
.card[data-state="completed"] .fill { background: var(--_success); }
.card[data-state="failed"] .fill { background: var(--_danger); }
.card[data-state="cancelled"] .fill { background: var(--_warning); }
.line { display: flex; justify-content: space-between; gap: 0.75rem; align-items: baseline; flex-wrap: wrap; }
.percent { font-size: 1.4em; font-weight: 650; font-variant-numeric: tabular-nums; }
.message { color: var(--_muted); text-align: end; overflow-wrap: anywhere; }
.stats { display: grid; grid-template-columns: repeat(auto-fit, minmax(6.5rem, 1fr)); gap: 0.35rem 1rem; margin: 0; }
.stats div { min-width: 0; }
.stats dt { font-size: 0.75em; text-transform: uppercase; letter-spacing: 0.04em; color: var(--_muted); }
.stats dd { margin: 0; font-variant-numeric: tabular-nums; }
.stats .failed dd { color: var(--_danger); }
.stats .failed[data-zero] dd { color: inherit; }
.final { margin: 0; padding: 0.5rem 0.75rem; border-radius: calc(var(--_radius) * 0.6); background: rgba(127, 127, 127, 0.12); }
.card[data-state="completed"] .final { background: color-mix(in srgb, var(--_success) 15%, transparent); }
.card[data-state="failed"] .final { background: color-mix(in srgb, var(--_danger) 15%, transparent); }
.card[data-state="cancelled"] .final { background: color-mix(in srgb, var(--_warning) 15%, transparent); }
.final[hidden] { display: none; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); clip-path: inset(50%); white-space: nowrap; }
@keyframes slide { from { transform: translateX(-100%); } to { transform: translateX(340%); } }
@keyframes blink { to { opacity: 0.35; } }
@media (prefers-reduced-motion: reduce) {
  .fill { transition: none; }
  .card[data-indeterminate] .fill { animation: none; width: 100%; opacity: 0.4; }
  .dot { animation: none !important; }
}
`;

let sharedSheet = null;

function adoptStyles(root) {
  const Sheet = globalThis.CSSStyleSheet;
  if (Sheet && 'adoptedStyleSheets' in root) {
    try {
      if (!sharedSheet) {
        sharedSheet = new Sheet();
        sharedSheet.replaceSync(CSS);
      }
      root.adoptedStyleSheets = [sharedSheet];
      return;
    } catch {
      // Older engines without constructable sheets fall through to a <style> element.
    }
  }
  const style = root.ownerDocument.createElement('style');
  style.textContent = CSS;
  root.append(style);
}

const TEMPLATE = `
<div class="card" part="card" data-state="pending" data-connection="connecting" data-indeterminate>
  <div class="header" part="header">
    <span class="name" part="name"></span>
    <span class="connection" part="connection"><span class="dot" aria-hidden="true"></span><span class="connection-label">Connecting…</span></span>
  </div>
  <div class="bar" part="bar" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-label="Import progress">
    <div class="fill" part="fill"></div>
  </div>
  <div class="line">
    <span class="percent" part="percent">–</span>
    <span class="message" part="message"></span>
  </div>
  <dl class="stats" part="stats">
    <div class="processed"><dt>Processed</dt><dd>–</dd></div>
    <div class="succeeded"><dt>Succeeded</dt><dd>–</dd></div>
    <div class="failed"><dt>Failed</dt><dd>–</dd></div>
    <div class="rate"><dt>Rate</dt><dd>–</dd></div>
    <div class="eta"><dt>Time left</dt><dd>–</dd></div>
  </dl>
  <p class="final" part="final" hidden></p>
  <div class="sr-only" role="status" aria-live="polite" aria-atomic="true"></div>
</div>
`;

/** Default server: where this module was loaded from, so a portal that loads the element
 * from its Tally server needs no `server` attribute. */
function moduleOrigin() {
  try {
    const url = new URL('.', import.meta.url);
    if (url.protocol === 'http:' || url.protocol === 'https:') return url.href.replace(/\/+$/, '');
  } catch {
    // import.meta.url is always a URL in browsers; be safe elsewhere.
  }
  return '';
}

// Loading the module outside a browser (node's test runner) must not throw.
const ElementBase = globalThis.HTMLElement ?? class {};

/** The `<tally-progress>` custom element. */
export class TallyProgress extends ElementBase {
  static get observedAttributes() {
    return ['job', 'server', 'token', 'transports', 'label'];
  }

  constructor() {
    super();
    const root = this.attachShadow({ mode: 'open' });
    adoptStyles(root);
    const holder = root.ownerDocument.createElement('div');
    holder.innerHTML = TEMPLATE;
    this._card = holder.firstElementChild;
    root.append(this._card);
    const q = (selector) => this._card.querySelector(selector);
    this._el = {
      name: q('.name'),
      connection: q('.connection-label'),
      bar: q('.bar'),
      fill: q('.fill'),
      percent: q('.percent'),
      message: q('.message'),
      processed: q('.processed dd'),
      succeeded: q('.succeeded dd'),
      failedBox: q('.failed'),
      failed: q('.failed dd'),
      rate: q('.rate dd'),
      eta: q('.eta dd'),
      final: q('.final'),
      live: q('[role="status"]'),
    };
    this._subscription = null;
    this._snapshot = null;
    this._connection = { state: 'connecting', info: {} };
    this._announced = null;
    this._restartQueued = false;
  }

  /** The latest job snapshot, or null before the first one. */
  get snapshot() {
    return this._snapshot;
  }

  /** The client's connection state ("live", "polling", "reconnecting", …). */
  get connectionState() {
    return this._connection.state;
  }

  /** Details of the connection state: `{transport, retryIn, reason, …}`. */
  get connectionInfo() {
    return this._connection.info;
  }

  /** Extra options for `subscribe` (tests inject fakes here); set before connecting. */
  get clientOptions() {
    return this._clientOptions || {};
  }

  set clientOptions(value) {
    this._clientOptions = value || {};
    this._queueRestart();
  }

  connectedCallback() {
    this._queueRestart();
  }

  disconnectedCallback() {
    this._stop();
  }

  attributeChangedCallback(name, oldValue, newValue) {
    if (oldValue === newValue) return;
    if (name === 'label') {
      this._renderName();
      return;
    }
    if (this.isConnected) this._queueRestart();
  }

  /** Follows the job again from scratch (after a retry, say). */
  restart() {
    this._snapshot = null;
    this._announced = null;
    this._stop();
    this._start();
  }

  _queueRestart() {
    // Several attributes often change in one go: connect once, after all of them.
    if (this._restartQueued) return;
    this._restartQueued = true;
    queueMicrotask(() => {
      this._restartQueued = false;
      if (this.isConnected) this.restart();
    });
  }

  _stop() {
    if (this._subscription) {
      this._subscription.unsubscribe();
      this._subscription = null;
    }
  }

  _start() {
    const job = (this.getAttribute('job') || '').trim();
    this._render();
    if (!job) return;
    const server = this.hasAttribute('server') ? this.getAttribute('server') : moduleOrigin();
    const options = {
      server,
      token: this.getAttribute('token') || '',
      onEvent: (event) => this._onEvent(event),
      onState: (state, info) => this._onConnection(state, info),
      ...this.clientOptions,
    };
    const transports = (this.getAttribute('transports') || '').split(/[\s,]+/).filter(Boolean);
    if (transports.length) options.transports = transports;
    this._subscription = subscribe(job, options);
  }

  _onEvent(event) {
    const previous = this._snapshot;
    const { type, resync, ...snapshot } = event;
    this._snapshot = snapshot;
    this._render();
    const detail = snapshot;
    this.dispatchEvent(new CustomEvent('tally-progress', { detail, bubbles: true, composed: true }));
    if (isTerminal(snapshot.state) && (!previous || previous.state !== snapshot.state)) {
      const name = snapshot.state === 'completed' ? 'tally-complete' : snapshot.state === 'failed' ? 'tally-failed' : 'tally-cancelled';
      this.dispatchEvent(new CustomEvent(name, { detail, bubbles: true, composed: true }));
    }
  }

  _onConnection(state, info) {
    this._connection = { state, info };
    this._card.dataset.connection = state;
    this._el.connection.textContent = this._connectionText();
    if (state === 'reconnecting' || state === 'offline') this._announce(this._connectionText());
    this.dispatchEvent(new CustomEvent('tally-connection', { detail: { state, info }, bubbles: true, composed: true }));
  }

  _connectionText() {
    const { state, info } = this._connection;
    if (state === 'stopped' && this._snapshot && isTerminal(this._snapshot.state)) return formatState(this._snapshot.state);
    return formatConnection(state, info);
  }

  _announce(text) {
    if (!text || text === this._announced) return;
    this._announced = text;
    this._el.live.textContent = text;
  }

  _renderName() {
    const s = this._snapshot;
    this._el.name.textContent = this.getAttribute('label') || (s && (s.name || s.id)) || this.getAttribute('job') || '';
  }

  _render() {
    const s = this._snapshot;
    const el = this._el;
    this._renderName();
    el.connection.textContent = this._connectionText();
    if (!s) {
      this._card.dataset.state = 'pending';
      this._card.toggleAttribute('data-indeterminate', true);
      el.bar.removeAttribute('aria-valuenow');
      el.bar.setAttribute('aria-valuetext', 'Waiting for progress');
      el.percent.textContent = '–';
      el.message.textContent = this.getAttribute('job') ? 'Connecting…' : 'No job';
      el.final.hidden = true;
      return;
    }
    const terminal = isTerminal(s.state);
    let percent = clampPercent(s.percent);
    if (s.state === 'completed') percent = 100;
    const indeterminate = percent === null || (s.state === 'pending' && !percent);
    this._card.dataset.state = s.state || 'pending';
    this._card.toggleAttribute('data-indeterminate', indeterminate && !terminal);
    if (indeterminate && !terminal) {
      el.fill.style.removeProperty('width');
      el.bar.removeAttribute('aria-valuenow');
    } else {
      const p = percent ?? 0;
      el.fill.style.width = `${p}%`;
      el.bar.setAttribute('aria-valuenow', String(Math.floor(p)));
    }
    const text = percent === null ? formatState(s.state) : formatPercent(percent);
    el.percent.textContent = text;
    el.bar.setAttribute('aria-valuetext', `${text}${s.message ? `, ${s.message}` : ''}`);
    el.message.textContent = s.message || formatState(s.state);
    el.processed.textContent = formatProgressCount(s.processed, s.total, s.totalExact);
    el.succeeded.textContent = formatNumber(s.succeeded ?? 0);
    el.failed.textContent = formatNumber(s.failed ?? 0);
    el.failedBox.toggleAttribute('data-zero', !s.failed);
    el.rate.textContent = s.state === 'running' ? (formatRate(s.rate) || '–') : '–';
    el.eta.textContent = s.state === 'running' ? (formatETA(s.eta) || 'estimating…') : terminal ? '–' : 'not started';
    const final = finalText(s);
    el.final.hidden = !final;
    el.final.textContent = final;
    this._announce(terminal ? final : formatState(s.state));
  }
}

function finalText(s) {
  const rows = `${formatNumber(s.succeeded ?? 0)} row${s.succeeded === 1 ? '' : 's'} imported`;
  const bad = s.failed ? `, ${formatNumber(s.failed)} rejected` : '';
  switch (s.state) {
    case 'completed':
      return `Completed: ${rows}${bad}.`;
    case 'failed':
      return `Failed: ${describeError(s.error) || 'the import failed.'} ${rows}${bad} before it stopped.`;
    case 'cancelled':
      return `Cancelled: ${rows}${bad} before it stopped.`;
    default:
      return '';
  }
}

if (globalThis.customElements && !globalThis.customElements.get('tally-progress')) {
  globalThis.customElements.define('tally-progress', TallyProgress);
}
