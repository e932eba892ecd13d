// The dashboard's two credentials, kept apart because the server gives them different powers:
// an admin API key may upload, cancel and retry (and read everything); a subscribe token may
// only read the jobs its `sub` covers. Both live in sessionStorage (gone when the tab closes),
// never in localStorage. Pure functions over an injected storage, so node tests need no DOM.

/** sessionStorage keys. `tally.token` is the key the single-field dashboard used. */
export const STORAGE_KEYS = Object.freeze({ apiKey: 'tally.apiKey', token: 'tally.token' });

function read(storage, key) {
  try {
    return (storage && storage.getItem(key)) || '';
  } catch {
    return '';
  }
}

function write(storage, key, value) {
  try {
    if (value) storage.setItem(key, value);
    else storage.removeItem(key);
  } catch {
    // Storage may be disabled (private mode, sandboxed frame): the value lives for this page only.
  }
}

/**
 * The credentials to start with: a `?token=` page parameter (a subscribe token a portal
 * linked with) replaces the stored token; the API key only ever comes from its field, never
 * from a URL, where it would end up in history and server logs.
 */
export function loadCredentials(storage, params) {
  const fromURL = params && typeof params.get === 'function' ? (params.get('token') || '').trim() : '';
  if (fromURL) write(storage, STORAGE_KEYS.token, fromURL);
  return { apiKey: read(storage, STORAGE_KEYS.apiKey), token: fromURL || read(storage, STORAGE_KEYS.token) };
}

/** Sets one credential (`apiKey` or `token`), trimmed, and stores or forgets it. Returns the new credentials. */
export function updateCredential(storage, credentials, which, value) {
  if (which !== 'apiKey' && which !== 'token') throw new Error(`unknown credential ${which}`);
  const trimmed = String(value ?? '').trim();
  write(storage, STORAGE_KEYS[which], trimmed);
  return { ...credentials, [which]: trimmed };
}

/**
 * The credential for reading (job list, snapshots, events, row errors): the subscribe token
 * when there is one, otherwise the API key, which may read everything too.
 */
export function readCredential(credentials) {
  return (credentials && (credentials.token || credentials.apiKey)) || '';
}

/** The credential for changing things (upload, cancel, retry): only the API key can. */
export function writeCredential(credentials) {
  return (credentials && credentials.apiKey) || '';
}

/** `Authorization` header fields for a credential (none for an empty one). */
export function authorizationHeaders(credential) {
  return credential ? { Authorization: `Bearer ${credential}` } : {};
}

/** `url` with `token=` added, for what cannot send headers (a download link). */
export function withTokenParameter(url, credential) {
  if (!credential) return url;
  return `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(credential)}`;
}

/** What to tell the user when the server refused an action for want of the right credential. */
export function refusalAdvice(status, code, credentials) {
  if (status !== 401 && status !== 403) return '';
  if (code === 'auth.admin_disabled') return 'This server has no API key configured, so uploads, cancel and retry are turned off.';
  if (!writeCredential(credentials)) return 'This needs an API key: enter it in the import options.';
  return 'The API key was refused: check it in the import options.';
}
