// The dashboard's two credentials: which one each request shows, and where they are kept.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  STORAGE_KEYS, authorizationHeaders, loadCredentials, readCredential, refusalAdvice,
  updateCredential, withTokenParameter, writeCredential,
} from '../tally-credentials.js';

/** A sessionStorage stand-in that records what was stored. */
function memoryStorage(initial = {}) {
  const data = new Map(Object.entries(initial));
  return {
    data,
    getItem: (key) => (data.has(key) ? data.get(key) : null),
    setItem: (key, value) => data.set(key, String(value)),
    removeItem: (key) => data.delete(key),
  };
}

test('the API key and the subscribe token are stored under their own keys', () => {
  const storage = memoryStorage();
  let credentials = loadCredentials(storage, new URLSearchParams(''));
  assert.deepEqual(credentials, { apiKey: '', token: '' });
  credentials = updateCredential(storage, credentials, 'apiKey', '  admin-key  ');
  credentials = updateCredential(storage, credentials, 'token', 'eyJ.a.b');
  assert.deepEqual(credentials, { apiKey: 'admin-key', token: 'eyJ.a.b' });
  assert.equal(storage.getItem(STORAGE_KEYS.apiKey), 'admin-key');
  assert.equal(storage.getItem(STORAGE_KEYS.token), 'eyJ.a.b');
  assert.notEqual(STORAGE_KEYS.apiKey, STORAGE_KEYS.token);
  // A reload of the tab finds both again.
  assert.deepEqual(loadCredentials(storage, new URLSearchParams('')), credentials);
  // Clearing one forgets it and keeps the other.
  credentials = updateCredential(storage, credentials, 'apiKey', '');
  assert.equal(storage.data.has(STORAGE_KEYS.apiKey), false);
  assert.deepEqual(loadCredentials(storage, new URLSearchParams('')), { apiKey: '', token: 'eyJ.a.b' });
  assert.throws(() => updateCredential(storage, credentials, 'password', 'x'));
});

test('a token in the page URL replaces the stored token, never the API key', () => {
  const storage = memoryStorage({ [STORAGE_KEYS.apiKey]: 'admin-key', [STORAGE_KEYS.token]: 'old.t.t' });
  const credentials = loadCredentials(storage, new URLSearchParams('token=new.t.t&apiKey=evil'));
  assert.deepEqual(credentials, { apiKey: 'admin-key', token: 'new.t.t' });
  assert.equal(storage.getItem(STORAGE_KEYS.token), 'new.t.t');
  assert.equal(storage.getItem(STORAGE_KEYS.apiKey), 'admin-key', 'no URL parameter sets the API key');
});

test('reads use the subscribe token, or the API key without one; changes use only the API key', () => {
  const both = { apiKey: 'admin-key', token: 'sub.t.t' };
  assert.equal(readCredential(both), 'sub.t.t');
  assert.equal(writeCredential(both), 'admin-key');
  const keyOnly = { apiKey: 'admin-key', token: '' };
  assert.equal(readCredential(keyOnly), 'admin-key');
  assert.equal(writeCredential(keyOnly), 'admin-key');
  const tokenOnly = { apiKey: '', token: 'sub.t.t' };
  assert.equal(readCredential(tokenOnly), 'sub.t.t');
  assert.equal(writeCredential(tokenOnly), '', 'a subscribe token is never sent to change things');
  assert.equal(readCredential({ apiKey: '', token: '' }), '');
  assert.equal(readCredential(null), '');
});

test('headers and download links carry the chosen credential, and nothing when there is none', () => {
  assert.deepEqual(authorizationHeaders('k'), { Authorization: 'Bearer k' });
  assert.deepEqual(authorizationHeaders(''), {});
  assert.equal(withTokenParameter('/api/jobs/x/errors?format=csv', 'a b'), '/api/jobs/x/errors?format=csv&token=a%20b');
  assert.equal(withTokenParameter('/api/jobs/x/errors', 't'), '/api/jobs/x/errors?token=t');
  assert.equal(withTokenParameter('/api/jobs/x/errors', ''), '/api/jobs/x/errors');
});

test('refusals say which credential to fix', () => {
  assert.equal(refusalAdvice(409, 'job.finished', {}), '');
  assert.match(refusalAdvice(401, 'auth.missing_token', { apiKey: '', token: 'sub.t.t' }), /needs an API key/);
  assert.match(refusalAdvice(403, 'auth.admin_required', { apiKey: '', token: 'sub.t.t' }), /needs an API key/);
  assert.match(refusalAdvice(401, 'auth.invalid_api_key', { apiKey: 'wrong', token: '' }), /API key was refused/);
  assert.match(refusalAdvice(403, 'auth.admin_disabled', { apiKey: 'k', token: '' }), /no API key configured/);
});

test('a storage that throws (disabled storage) does not break the page', () => {
  const broken = {
    getItem() { throw new Error('SecurityError'); },
    setItem() { throw new Error('SecurityError'); },
    removeItem() { throw new Error('SecurityError'); },
  };
  const credentials = loadCredentials(broken, new URLSearchParams('token=t.t.t'));
  assert.deepEqual(credentials, { apiKey: '', token: 't.t.t' });
  assert.deepEqual(updateCredential(broken, credentials, 'apiKey', 'k'), { apiKey: 'k', token: 't.t.t' });
  assert.deepEqual(loadCredentials(null, null), { apiKey: '', token: '' });
});
