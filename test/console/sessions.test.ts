// The console's session store: only an administrator's exact pair opens a session, sessions
// expire, and their number is bounded.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  SESSION_TTL_MS,
  SESSIONS_MAX,
  SessionStore,
  sessionCookie,
  tokenFromCookie,
} from '../../src/console/sessions.ts';

const admin = { accessKey: 'ADMINKEY', secretKey: 'admin-secret-1' };

test('a session opens only with the exact pair, and lasts SESSION_TTL_MS', () => {
  const store = new SessionStore([admin]);
  assert.equal(store.login('ADMINKEY', 'admin-secret', 0), undefined);
  assert.equal(store.login('ADMINKEY', 'admin-secret-12', 0), undefined);
  assert.equal(store.login('OTHER', 'admin-secret-1', 0), undefined);
  const token = store.login('ADMINKEY', 'admin-secret-1', 1_000);
  assert.ok(token);
  assert.equal(store.check(token, 1_000 + SESSION_TTL_MS - 1), 'ADMINKEY');
  assert.equal(store.check(token, 1_000 + SESSION_TTL_MS), undefined);
  assert.equal(store.check('forged', 1_000), undefined);
});

test('logout ends a session; the oldest goes past SESSIONS_MAX', () => {
  const store = new SessionStore([admin]);
  const first = store.login(admin.accessKey, admin.secretKey, 0);
  const second = store.login(admin.accessKey, admin.secretKey, 0);
  store.logout(second);
  assert.equal(store.check(second, 0), undefined);
  for (let i = 0; i < SESSIONS_MAX; i++) store.login(admin.accessKey, admin.secretKey, 0);
  assert.equal(store.size, SESSIONS_MAX);
  assert.equal(store.check(first, 0), undefined, 'the oldest session survived the cap');
});

test('the cookie is HttpOnly and SameSite=Strict, and its token reads back', () => {
  const cookie = sessionCookie('abc_-1');
  assert.match(cookie, /; HttpOnly;/);
  assert.match(cookie, /; SameSite=Strict;/);
  assert.equal(tokenFromCookie(`x=1; ${cookie.split(';')[0]}; y=2`), 'abc_-1');
  assert.equal(tokenFromCookie('x=1'), undefined);
});

test("with a lookup in the cluster's users, a session ends with its key", () => {
  const keys = new Map([[admin.accessKey, admin]]);
  const store = new SessionStore((accessKey) => keys.get(accessKey));
  const token = store.login(admin.accessKey, admin.secretKey, 0);
  assert.ok(token);
  assert.equal(store.check(token, 1), admin.accessKey);
  keys.delete(admin.accessKey); // deleted or rotated away in the users table
  assert.equal(store.check(token, 2), undefined);
  assert.equal(store.login(admin.accessKey, admin.secretKey, 3), undefined);
});
