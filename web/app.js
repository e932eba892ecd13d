// The Tally dashboard: upload, live job list and job page. Plain DOM, no framework; live
// updates come from tally-client.js (one subscription to every job for the list, and the
// <tally-progress> element on the job page).
//
// Two credentials (tally-credentials.js): an API key for upload, cancel and retry, and a
// subscribe token for reading (the API key reads too when no token is set), each kept in
// sessionStorage for the tab's session.
// Page parameters: `?token=…` (a subscribe token) and `?transport=longpoll` or
// `?transport=polling` (skip the better transports: for diagnosing proxies).

import { subscribe, isTerminal } from './tally-client.js';
import {
  authorizationHeaders, loadCredentials, readCredential, refusalAdvice, updateCredential,
  withTokenParameter, writeCredential,
} from './tally-credentials.js';
import './tally-progress.js';
import {
  clampPercent, describeError, formatBytes, formatConnection, formatETA, formatNumber,
  formatPercent, formatProgressCount, formatRate, formatRelativeTime, formatState,
} from './tally-format.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const server = location.origin;

const TRANSPORT_CHOICES = {
  websocket: ['websocket', 'longpoll', 'polling'],
  longpoll: ['longpoll', 'polling'],
  polling: ['polling'],
};
const transports = TRANSPORT_CHOICES[params.get('transport')] || null;

// ---- credentials ----

const storage = (() => {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
})();
let credentials = loadCredentials(storage, params);

// ---- API ----

class APIError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(path, { method = 'GET', body } = {}) {
  // Reads show the subscribe token (or the API key); changes need the API key.
  const credential = method === 'GET' ? readCredential(credentials) : writeCredential(credentials);
  const headers = { Accept: 'application/json', ...authorizationHeaders(credential) };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(server + path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store',
    });
  } catch {
    throw new APIError(0, 'network', 'Cannot reach the Tally server. Check your connection.');
  }
  const text = await response.text().catch(() => '');
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = data && data.error ? data.error : {};
    throw new APIError(response.status, error.code || `http.${response.status}`, error.message || `The server answered ${response.status}.`);
  }
  return data;
}

/**
 * A URL the browser opens itself (a download link), with the subscribe token in it. An API
 * key never goes into a URL: with only a key, the link is fetched with the header instead
 * (see the errors download).
 */
function withToken(url) {
  return withTokenParameter(url, credentials.token);
}

function listOf(body, ...keys) {
  if (Array.isArray(body)) return body;
  for (const key of keys) if (body && Array.isArray(body[key])) return body[key];
  return [];
}

/** Paging of a `{items…, next, total?}` answer fetched with limit/offset. */
function pageInfo(body, page, count, perPage) {
  const b = body && !Array.isArray(body) ? body : {};
  const total = Number.isFinite(b.total) ? b.total : null;
  const pages = total !== null ? Math.max(1, Math.ceil(total / perPage)) : null;
  const hasNext = 'next' in b ? b.next !== null && b.next !== '' : pages !== null ? page < pages : count >= perPage;
  return { pages, hasNext: Boolean(hasNext), total };
}

// ---- small DOM helpers ----

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else node.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

function setBar(bar, percent, indeterminate = false) {
  const fill = bar.querySelector('.fill');
  bar.toggleAttribute('data-indeterminate', indeterminate);
  if (indeterminate || percent === null) {
    fill.style.removeProperty('width');
    bar.removeAttribute('aria-valuenow');
  } else {
    fill.style.width = `${percent}%`;
    bar.setAttribute('aria-valuenow', String(Math.floor(percent)));
  }
}

function showBanner(text) {
  const banner = $('banner');
  banner.hidden = !text;
  banner.textContent = text || '';
}

let confirmResolve = null;

function confirmAction(title, text, yesLabel) {
  const dialog = $('confirm');
  $('confirm-title').textContent = title;
  $('confirm-text').textContent = text;
  $('confirm-yes').textContent = yesLabel;
  if (typeof dialog.showModal !== 'function') return Promise.resolve(window.confirm(`${title}\n\n${text}`));
  return new Promise((resolve) => {
    confirmResolve = resolve;
    dialog.returnValue = '';
    dialog.showModal();
    $('confirm-no').focus();
  });
}

$('confirm').addEventListener('close', () => {
  const resolve = confirmResolve;
  confirmResolve = null;
  if (resolve) resolve($('confirm').returnValue === 'yes');
});

// ---- connection indicator (the all-jobs subscription) ----

function showConnection(state, info = {}) {
  const node = $('connection');
  node.dataset.state = state;
  $('connection-label').textContent = formatConnection(state, info);
}

// ---- job list ----

const JOBS_PER_PAGE = 20;
const ERRORS_PER_PAGE = 25;
const jobs = new Map();
const list = { page: 1, filter: '', order: [], hasNext: false, loading: false };
let listRenderQueued = false;

function matchesFilter(job) {
  if (!list.filter) return true;
  if (list.filter === 'running') return job.state === 'running' || job.state === 'pending';
  return job.state === list.filter;
}

async function loadJobs() {
  list.loading = true;
  const query = new URLSearchParams({ limit: String(JOBS_PER_PAGE), offset: String((list.page - 1) * JOBS_PER_PAGE) });
  if (list.filter) query.set('state', list.filter);
  try {
    const body = await api(`/api/jobs?${query}`);
    const items = listOf(body, 'jobs', 'items', 'data');
    list.order = [];
    for (const job of items) {
      if (!job || typeof job.id !== 'string') continue;
      const known = jobs.get(job.id);
      if (!known || !(known.seq > job.seq)) jobs.set(job.id, job);
      list.order.push(job.id);
    }
    const info = pageInfo(body, list.page, items.length, JOBS_PER_PAGE);
    list.hasNext = info.hasNext;
    list.pages = info.pages;
    showBanner('');
  } catch (error) {
    showBanner(`Could not load the job list: ${error.message}`);
  } finally {
    list.loading = false;
  }
  renderJobs();
}

function queueRenderJobs() {
  if (listRenderQueued) return;
  listRenderQueued = true;
  requestAnimationFrame(() => {
    listRenderQueued = false;
    renderJobs();
  });
}

function renderJobs() {
  const ul = $('job-list');
  const rows = new Map([...ul.children].map((li) => [li.dataset.id, li]));
  const visible = list.order.filter((id) => jobs.has(id) && matchesFilter(jobs.get(id)));
  visible.forEach((id, index) => {
    let li = rows.get(id);
    if (!li) li = jobRow(id);
    rows.delete(id);
    updateJobRow(li, jobs.get(id));
    if (ul.children[index] !== li) ul.insertBefore(li, ul.children[index] || null);
  });
  for (const li of rows.values()) li.remove();
  $('jobs-empty').hidden = visible.length > 0 || list.loading;
  $('jobs-empty').textContent = list.filter ? `No ${formatState(list.filter).toLowerCase()} jobs on this page.` : 'No imports yet. Drop a CSV file above to start one.';
  $('jobs-pager').hidden = list.page === 1 && !list.hasNext;
  $('jobs-prev').disabled = list.page <= 1;
  $('jobs-next').disabled = !list.hasNext;
  $('jobs-page').textContent = list.pages ? `Page ${list.page} of ${list.pages}` : `Page ${list.page}`;
}

function jobRow(id) {
  const bar = el('div', { class: 'bar', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100' }, el('div', { class: 'fill' }));
  const link = el('a', { class: 'job-link', href: `#/jobs/${encodeURIComponent(id)}` },
    el('span', { class: 'job-name' }),
    el('span', { class: 'badge' }),
    el('span', { class: 'job-percent' }),
    bar,
    el('span', { class: 'job-counts muted' }),
    el('span', { class: 'job-when muted' }));
  const li = el('li', { class: 'job' }, link);
  li.dataset.id = id;
  return li;
}

function updateJobRow(li, job) {
  const q = (selector) => li.querySelector(selector);
  li.dataset.state = job.state;
  const name = job.name || job.table || job.id;
  q('.job-name').textContent = name;
  const badge = q('.badge');
  badge.textContent = formatState(job.state);
  badge.dataset.state = job.state;
  let percent = clampPercent(job.percent);
  if (job.state === 'completed') percent = 100;
  q('.job-percent').textContent = percent === null ? '' : formatPercent(percent);
  const bar = q('.bar');
  bar.setAttribute('aria-label', `${name}: ${formatState(job.state)}`);
  setBar(bar, percent, percent === null && !isTerminal(job.state));
  const parts = [`${formatProgressCount(job.processed, job.total, job.totalExact)} rows`];
  if (job.failed) parts.push(`${formatNumber(job.failed)} failed`);
  if (job.state === 'running') {
    const rate = formatRate(job.rate);
    if (rate) parts.push(rate);
    const eta = formatETA(job.eta);
    if (eta) parts.push(eta);
  }
  if (job.state === 'failed' && job.error) parts.push(describeError(job.error));
  q('.job-counts').textContent = parts.join(' · ');
  q('.job-when').textContent = formatRelativeTime(job.createdAt);
  q('.job-when').title = job.createdAt || '';
}

function onListEvent(event) {
  const { type, resync, ...job } = event;
  if (!job.id) return;
  const known = jobs.get(job.id);
  jobs.set(job.id, known ? { ...known, ...job } : job);
  // A new job shows up at the top of the first page.
  if (!list.order.includes(job.id) && list.page === 1 && !known) list.order.unshift(job.id);
  if (currentView === 'home') queueRenderJobs();
}

let listSubscription = null;

function startListSubscription() {
  if (listSubscription) return;
  listSubscription = subscribe('*', {
    server,
    token: readCredential(credentials),
    transports: transports ? transports.filter((t) => t !== 'longpoll') : undefined,
    listPath: '/api/jobs',
    onEvent: onListEvent,
    onState: (state, info) => {
      if (currentView === 'home') showConnection(state, info);
      // Polling the list may miss jobs on other pages; after an outage reload the page we show.
      if ((state === 'live' || state === 'polling') && listSubscription && listSubscription.wasDown) {
        listSubscription.wasDown = false;
        loadJobs();
      }
      if (state === 'reconnecting' && listSubscription) listSubscription.wasDown = true;
    },
  });
}

for (const button of document.querySelectorAll('[data-filter]')) {
  button.addEventListener('click', () => {
    list.filter = button.dataset.filter;
    list.page = 1;
    for (const b of document.querySelectorAll('[data-filter]')) b.setAttribute('aria-pressed', String(b === button));
    loadJobs();
  });
}
$('jobs-prev').addEventListener('click', () => {
  if (list.page > 1) {
    list.page -= 1;
    loadJobs();
  }
});
$('jobs-next').addEventListener('click', () => {
  if (list.hasNext) {
    list.page += 1;
    loadJobs();
  }
});

// Relative times ("3 min ago") drift; refresh them now and then.
setInterval(() => {
  if (currentView === 'home') for (const li of $('job-list').children) {
    const job = jobs.get(li.dataset.id);
    if (job) li.querySelector('.job-when').textContent = formatRelativeTime(job.createdAt);
  }
}, 30000);

// ---- upload ----

let selectedFile = null;
let uploadRequest = null;

function chooseFile(file) {
  selectedFile = file || null;
  $('upload-error').hidden = true;
  $('upload-button').disabled = !selectedFile;
  $('file-name').textContent = selectedFile
    ? `${selectedFile.name} · ${formatBytes(selectedFile.size)}`
    : 'CSV or TSV, any size: it is streamed, never held in memory.';
  $('dropzone').classList.toggle('has-file', Boolean(selectedFile));
  if (selectedFile && /\.tsv$/i.test(selectedFile.name)) $('opt-delimiter').value = 'tab';
}

const dropzone = $('dropzone');
dropzone.addEventListener('click', () => $('file').click());
dropzone.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' || event.key === ' ') {
    event.preventDefault();
    $('file').click();
  }
});
$('file').addEventListener('change', () => chooseFile($('file').files[0]));
for (const type of ['dragenter', 'dragover']) {
  dropzone.addEventListener(type, (event) => {
    event.preventDefault();
    dropzone.classList.add('dragging');
  });
}
for (const type of ['dragleave', 'dragend', 'drop']) {
  dropzone.addEventListener(type, () => dropzone.classList.remove('dragging'));
}
dropzone.addEventListener('drop', (event) => {
  event.preventDefault();
  const file = event.dataTransfer && event.dataTransfer.files[0];
  if (file) chooseFile(file);
});
// A file dropped next to the zone must not make the browser navigate away from the dashboard.
window.addEventListener('dragover', (event) => event.preventDefault());
window.addEventListener('drop', (event) => event.preventDefault());

function restartReading() {
  // The list subscription and the job page hold the read credential they started with.
  if (listSubscription) {
    listSubscription.unsubscribe();
    listSubscription = null;
  }
  startListSubscription();
  if (currentView === 'home') loadJobs();
  if (currentView === 'job' && page.id) {
    const id = page.id;
    closeJob();
    openJob(id);
  }
}

for (const [field, which] of [['opt-api-key', 'apiKey'], ['opt-token', 'token']]) {
  $(field).value = credentials[which];
  $(field).addEventListener('change', () => {
    const before = readCredential(credentials);
    credentials = updateCredential(storage, credentials, which, $(field).value);
    if (readCredential(credentials) !== before) restartReading();
  });
}

function uploadError(text) {
  const node = $('upload-error');
  node.hidden = !text;
  node.textContent = text || '';
}

$('upload-form').addEventListener('submit', (event) => {
  event.preventDefault();
  if (!selectedFile || uploadRequest) return;
  uploadError('');
  const query = new URLSearchParams();
  const table = $('opt-table').value.trim();
  if (table) query.set('table', table);
  const delimiter = $('opt-delimiter').value;
  query.set('delimiter', delimiter === 'tab' ? '\t' : delimiter);
  query.set('header', $('opt-header').checked ? 'true' : 'false');
  const schemaText = $('opt-schema').value.trim();
  let schema = null;
  if (schemaText) {
    schema = schemaDocument(schemaText);
    if (!schema) {
      uploadError('The schema is not valid JSON. See docs/SCHEMA.md: {"columns":[{"name":"id","type":"integer"}]}, or the short form {"id":"integer","email":"text"}.');
      $('opt-schema').focus();
      return;
    }
  }
  upload(selectedFile, query, schema);
});

/**
 * The schema as the server wants it (docs/SCHEMA.md), from either that document or the short
 * form `{"id": "integer", "email": "text"}`; null when it is not JSON.
 */
function schemaDocument(text) {
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    return null;
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return null;
  if (Array.isArray(parsed.columns)) return JSON.stringify(parsed);
  const entries = Object.entries(parsed);
  if (entries.length === 0 || !entries.every(([, type]) => typeof type === 'string')) return null;
  return JSON.stringify({ columns: entries.map(([name, type]) => ({ name, type })) });
}

function upload(file, query, schema) {
  const xhr = new XMLHttpRequest();
  uploadRequest = xhr;
  const started = performance.now();
  const bar = $('upload-bar');
  $('upload-progress').hidden = false;
  $('upload-button').disabled = true;
  $('upload-abort').hidden = false;
  setBar(bar, 0);
  $('upload-status').textContent = `Uploading ${file.name}…`;
  xhr.upload.addEventListener('progress', (event) => {
    if (!event.lengthComputable) {
      setBar(bar, null, true);
      $('upload-status').textContent = `Uploading: ${formatBytes(event.loaded)} sent`;
      return;
    }
    const percent = (event.loaded / event.total) * 100;
    setBar(bar, percent);
    const seconds = (performance.now() - started) / 1000;
    const speed = seconds > 0.5 ? event.loaded / seconds : 0;
    const eta = speed > 0 ? (event.total - event.loaded) / speed : null;
    const parts = [`Uploading: ${formatBytes(event.loaded)} of ${formatBytes(event.total)} (${formatPercent(percent)})`];
    if (speed) parts.push(`${formatBytes(speed)}/s`);
    if (eta !== null && event.loaded < event.total) parts.push(formatETA(eta));
    $('upload-status').textContent = parts.filter(Boolean).join(' · ');
  });
  xhr.upload.addEventListener('load', () => {
    setBar(bar, 100);
    $('upload-status').textContent = 'Upload complete, starting the import…';
  });
  const finish = () => {
    uploadRequest = null;
    $('upload-abort').hidden = true;
    $('upload-button').disabled = !selectedFile;
  };
  xhr.addEventListener('load', () => {
    finish();
    let body = null;
    try {
      body = JSON.parse(xhr.responseText);
    } catch {
      body = null;
    }
    if (xhr.status >= 200 && xhr.status < 300 && body && typeof body.id === 'string') {
      $('upload-progress').hidden = true;
      jobs.set(body.id, body);
      chooseFile(null);
      $('file').value = '';
      location.hash = `#/jobs/${encodeURIComponent(body.id)}`;
      return;
    }
    $('upload-progress').hidden = true;
    const error = body && body.error ? body.error : {};
    const reason = xhr.status === 413
      ? 'The file is larger than this server accepts.'
      : refusalAdvice(xhr.status, error.code, credentials) || error.message || `The server answered ${xhr.status}.`;
    uploadError(`Upload failed: ${reason}`);
  });
  xhr.addEventListener('error', () => {
    finish();
    $('upload-progress').hidden = true;
    uploadError('Upload failed: the connection to the server was lost. Check your connection and try again.');
  });
  xhr.addEventListener('abort', () => {
    finish();
    $('upload-progress').hidden = true;
    uploadError('Upload stopped. Nothing was imported.');
  });
  xhr.open('POST', `${server}/api/imports?${query}`);
  const uploadCredential = writeCredential(credentials);
  if (uploadCredential) xhr.setRequestHeader('Authorization', `Bearer ${uploadCredential}`);
  xhr.setRequestHeader('Accept', 'application/json');
  // Options also go in the form, before the file, so that the server reads them first;
  // the schema goes only there, as it can be longer than a URL should be.
  const form = new FormData();
  for (const [key, value] of query) form.append(key, value);
  if (schema) form.append('schema', schema);
  form.append('file', file, file.name);
  xhr.send(form);
}

$('upload-abort').addEventListener('click', () => {
  if (uploadRequest) uploadRequest.abort();
});

// ---- job page ----

const page = {
  id: null,
  job: null,
  errorsPage: 1,
  errorsHasNext: false,
  errorsTimer: null,
  lastFailed: -1,
  lostAt: null,
};

const progress = $('job-progress');

function openJob(id) {
  if (page.id === id) return;
  page.id = id;
  page.job = jobs.get(id) || null;
  page.errorsPage = 1;
  page.lastFailed = -1;
  page.lostAt = null;
  $('job-title').textContent = page.job ? page.job.name || page.job.id : id;
  renderJobPage();
  progress.setAttribute('job', id);
  const readToken = readCredential(credentials);
  if (readToken) progress.setAttribute('token', readToken);
  else progress.removeAttribute('token');
  progress.setAttribute('server', server);
  if (transports) progress.setAttribute('transports', transports.join(','));
  api(`/api/jobs/${encodeURIComponent(id)}`).then((job) => {
    if (page.id !== id || !job) return;
    if (!page.job || !(page.job.seq > job.seq)) page.job = job;
    renderJobPage();
  }, (error) => {
    if (page.id !== id) return;
    if (error.status === 404) showJobAlert('No such job', 'It may have been removed, or the link is wrong.', 'failed');
  });
  loadErrors();
}

function closeJob() {
  page.id = null;
  page.job = null;
  clearTimeout(page.errorsTimer);
  page.errorsTimer = null;
  progress.removeAttribute('job');
}

progress.addEventListener('tally-progress', (event) => {
  const job = event.detail;
  if (!page.id || job.id !== page.id) return;
  page.job = { ...(page.job || {}), ...job };
  jobs.set(job.id, page.job);
  renderJobPage();
  if (job.failed !== page.lastFailed) {
    // Row errors arrive with the counts; refresh the table, at most every two seconds.
    page.lastFailed = job.failed;
    scheduleErrors(isTerminal(job.state) ? 0 : 2000);
  }
});

for (const type of ['tally-complete', 'tally-failed', 'tally-cancelled']) {
  progress.addEventListener(type, () => scheduleErrors(0));
}

progress.addEventListener('tally-connection', (event) => {
  const { state, info } = event.detail;
  if (currentView !== 'job') return;
  showConnection(state === 'stopped' && page.job && isTerminal(page.job.state) ? 'stopped' : state, info);
  if (state === 'reconnecting' || state === 'offline') {
    page.lostAt = page.lostAt || Date.now();
    if (!page.job || !isTerminal(page.job.state)) {
      showJobAlert(state === 'offline' ? 'You are offline' : 'Connection lost',
        state === 'offline'
          ? 'Progress will catch up as soon as your connection is back. The import keeps running on the server.'
          : `${formatConnection(state, info)}. The import keeps running on the server; nothing will be missed.`,
        'warning');
    }
  } else if (state === 'live' || state === 'polling') {
    if (page.lostAt) {
      page.lostAt = null;
      renderJobPage();
    }
  } else if (state === 'stopped' && info.reason === 'error' && info.error) {
    showJobAlert('Cannot follow this job', describeError({ code: info.error.code, message: info.error.message }), 'failed');
  }
});

function showJobAlert(title, text, kind) {
  const alert = $('job-alert');
  alert.hidden = !title;
  alert.dataset.kind = kind || '';
  $('job-alert-title').textContent = title || '';
  $('job-alert-text').textContent = text || '';
}

function renderJobPage() {
  const job = page.job;
  const state = job ? job.state : null;
  $('job-title').textContent = job ? job.name || job.id : page.id || '';
  document.title = job ? `${formatState(state)} · ${job.name || job.id} · Tally` : 'Tally';
  const badge = $('job-state');
  badge.textContent = state ? formatState(state) : '';
  badge.dataset.state = state || '';
  badge.hidden = !state;
  $('job-cancel').hidden = !(state === 'pending' || state === 'running');
  $('job-retry').hidden = !(state === 'failed' || state === 'cancelled');
  if (!page.lostAt) {
    if (state === 'failed') {
      const code = job.error && job.error.code;
      const title = code === 'import.timeout' ? 'The import timed out'
        : code === 'import.stalled' ? 'The import stalled' : 'The import failed';
      showJobAlert(title, `${describeError(job.error) || 'No reason was given.'} You can retry it: it resumes from its last checkpoint.`, 'failed');
    } else if (state === 'cancelled') {
      showJobAlert('Cancelled', 'This import was cancelled. Rows imported before that stay imported.', 'warning');
    } else {
      showJobAlert('', '', '');
    }
  }
  renderMeta(job);
  const base = `${server}/api/jobs/${encodeURIComponent(page.id || '')}/errors?format=csv`;
  $('errors-download').href = withToken(base);
  $('errors-download').setAttribute('download', `${(job && (job.table || job.name)) || page.id}-errors.csv`.replace(/\.csv-errors/, '-errors'));
}

function renderMeta(job) {
  const meta = $('job-meta');
  meta.replaceChildren();
  if (!job) return;
  const add = (label, value, title) => {
    if (value === null || value === undefined || value === '') return;
    meta.append(el('div', {}, el('dt', { text: label }), el('dd', { text: value, title })));
  };
  add('Table', job.table);
  add('Job id', job.id);
  if (job.bytesTotal) add('Read', `${formatBytes(job.bytesRead)} of ${formatBytes(job.bytesTotal)}`);
  add('Created', job.createdAt ? formatRelativeTime(job.createdAt) : null, job.createdAt);
  add('Started', job.startedAt ? formatRelativeTime(job.startedAt) : null, job.startedAt);
  add('Finished', job.finishedAt ? formatRelativeTime(job.finishedAt) : null, job.finishedAt);
  if (job.startedAt && job.finishedAt) {
    const seconds = (Date.parse(job.finishedAt) - Date.parse(job.startedAt)) / 1000;
    if (Number.isFinite(seconds)) add('Took', seconds < 60 ? `${Math.max(0, Math.round(seconds * 10) / 10)} s` : `${Math.round(seconds / 60)} min`);
  }
}

function scheduleErrors(delay) {
  // A throttle, not a debounce: while rows keep failing the table still refreshes.
  if (page.errorsTimer && delay > 0) return;
  clearTimeout(page.errorsTimer);
  page.errorsTimer = setTimeout(() => {
    page.errorsTimer = null;
    loadErrors();
  }, delay);
}

async function loadErrors() {
  const id = page.id;
  if (!id) return;
  const pageNumber = page.errorsPage;
  let body;
  try {
    body = await api(`/api/jobs/${encodeURIComponent(id)}/errors?limit=${ERRORS_PER_PAGE}&offset=${(pageNumber - 1) * ERRORS_PER_PAGE}`);
  } catch (error) {
    if (page.id === id && error.status !== 404) $('errors-empty').textContent = `Could not load the row errors: ${error.message}`;
    return;
  }
  if (page.id !== id || page.errorsPage !== pageNumber) return;
  const items = listOf(body, 'errors', 'items', 'data');
  const info = pageInfo(body, pageNumber, items.length, ERRORS_PER_PAGE);
  page.errorsHasNext = info.hasNext;
  const tbody = $('errors-table').querySelector('tbody');
  tbody.replaceChildren(...items.map((item) => errorRow(item)));
  $('errors-table').hidden = items.length === 0;
  $('errors-empty').hidden = items.length > 0;
  $('errors-empty').textContent = 'No row errors so far.';
  const total = info.total ?? (page.job ? page.job.failed : null);
  $('errors-count').textContent = total ? `(${formatNumber(total)})` : '';
  $('errors-download').hidden = !(total || items.length);
  $('errors-pager').hidden = pageNumber === 1 && !info.hasNext;
  $('errors-prev').disabled = pageNumber <= 1;
  $('errors-next').disabled = !info.hasNext;
  $('errors-page').textContent = info.pages ? `Page ${pageNumber} of ${info.pages}` : `Page ${pageNumber}`;
}

function errorRow(item) {
  // The file's line number (the header is line 1), or the data row's when that is all we have.
  const where = item.line ?? (item.row != null ? `row ${item.row}` : '');
  const problem = item.message || item.code || '';
  let raw = item.raw ?? '';
  if (typeof raw !== 'string') raw = JSON.stringify(raw);
  return el('tr', {},
    el('td', { class: 'num', text: String(where) }),
    el('td', { text: item.column ?? '' }),
    el('td', { text: problem, title: item.code || '' }),
    el('td', { class: 'value', text: raw, title: raw }));
}

$('errors-prev').addEventListener('click', () => {
  if (page.errorsPage > 1) {
    page.errorsPage -= 1;
    loadErrors();
  }
});
$('errors-next').addEventListener('click', () => {
  if (page.errorsHasNext) {
    page.errorsPage += 1;
    loadErrors();
  }
});

$('errors-download').addEventListener('click', async (event) => {
  if (credentials.token || !credentials.apiKey) return;
  // Only an API key: download through fetch with the Authorization header, not a URL.
  event.preventDefault();
  const link = event.currentTarget;
  try {
    const response = await fetch(link.href, { headers: authorizationHeaders(credentials.apiKey), cache: 'no-store' });
    if (!response.ok) throw new Error(`The server answered ${response.status}.`);
    const url = URL.createObjectURL(await response.blob());
    const save = el('a', { href: url, download: link.getAttribute('download') || 'errors.csv' });
    document.body.append(save);
    save.click();
    save.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (error) {
    $('errors-empty').hidden = false;
    $('errors-empty').textContent = `Could not download the row errors: ${error.message}`;
  }
});

$('job-cancel').addEventListener('click', async () => {
  const id = page.id;
  const ok = await confirmAction('Cancel this import?', 'Rows imported so far stay imported; the rest of the file is skipped. You can retry it later.', 'Cancel import');
  if (!ok || page.id !== id) return;
  $('job-cancel').disabled = true;
  try {
    const job = await api(`/api/jobs/${encodeURIComponent(id)}/cancel`, { method: 'POST' });
    if (job && job.id === id && page.id === id) {
      page.job = { ...(page.job || {}), ...job };
      renderJobPage();
    }
  } catch (error) {
    showJobAlert('Could not cancel', error.status === 409 ? 'The import had already finished.'
      : refusalAdvice(error.status, error.code, credentials) || error.message, 'warning');
  } finally {
    $('job-cancel').disabled = false;
  }
});

$('job-retry').addEventListener('click', async () => {
  const id = page.id;
  const ok = await confirmAction('Retry this import?', 'It resumes from its last checkpoint: rows already imported are not imported twice.', 'Retry');
  if (!ok || page.id !== id) return;
  $('job-retry').disabled = true;
  try {
    const job = await api(`/api/jobs/${encodeURIComponent(id)}/retry`, { method: 'POST' });
    if (job && job.id && job.id !== id) {
      location.hash = `#/jobs/${encodeURIComponent(job.id)}`;
    } else {
      page.job = job ? { ...(page.job || {}), ...job } : page.job;
      renderJobPage();
      progress.restart();
    }
  } catch (error) {
    showJobAlert('Could not retry', refusalAdvice(error.status, error.code, credentials) || error.message, 'failed');
  } finally {
    $('job-retry').disabled = false;
  }
});

// ---- routing ----

let currentView = null;

function route() {
  const match = location.hash.match(/^#\/jobs\/([^/?#]+)/);
  if (match) {
    currentView = 'job';
    $('view-home').hidden = true;
    $('view-job').hidden = false;
    openJob(decodeURIComponent(match[1]));
    showConnection(progress.connectionState || 'connecting');
    window.scrollTo(0, 0);
  } else {
    closeJob();
    currentView = 'home';
    $('view-job').hidden = true;
    $('view-home').hidden = false;
    document.title = 'Tally';
    showConnection(listSubscription ? listSubscription.state || 'connecting' : 'connecting');
    loadJobs();
  }
}

window.addEventListener('hashchange', route);
startListSubscription();
route();
