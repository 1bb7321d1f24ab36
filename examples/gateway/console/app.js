// The console shell: log in, the forced password change, the session (its expiry sends the
// user back to the login form), navigation between page modules, and the shared dialogs.
// Page modules (pages/index.js) get a `ctx` described in README.md.
import { ApiError, createApi } from './api.js';
import { capabilitiesOf } from './roles.js';
import { pages } from './pages/index.js';

// sessionStorage, never localStorage: the JWT dies with the tab.
const TOKEN_KEY = 'iam-console.jwt';
const EXPIRES_KEY = 'iam-console.jwt-expires';
const EXPIRED_MESSAGE = 'Your session has expired. Please log in again.';
const MAX_TIMER_MS = 2 ** 31 - 1;

const $ = (id) => document.getElementById(id);

let token = sessionStorage.getItem(TOKEN_KEY);
let expiresAt = Number(sessionStorage.getItem(EXPIRES_KEY)) || 0;
let session = null;
let expiryTimer = null;
let renderGeneration = 0;  // a slower, older render must not overwrite a newer page

// The JWT's own exp (milliseconds), or 0 when it cannot be read.
function expiryOfJwt(jwt) {
  try {
    const payload = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const exp = JSON.parse(atob(payload)).exp;
    return typeof exp === 'number' ? exp * 1000 : 0;
  } catch (error) {
    return 0;
  }
}

function sessionIsLive() {
  return Boolean(token) && Date.now() < expiresAt;
}

function storeToken(jwt, jwtExpires) {
  token = jwt;
  // The earlier of the answer's jwt_expires and the token's exp: never trust it longer.
  const candidates = [Date.parse(jwtExpires), expiryOfJwt(jwt)].filter((t) => Number.isFinite(t) && t > 0);
  expiresAt = candidates.length ? Math.min(...candidates) : 0;
  sessionStorage.setItem(TOKEN_KEY, token);
  sessionStorage.setItem(EXPIRES_KEY, String(expiresAt));
  armExpiryTimer();
}

function armExpiryTimer() {
  clearTimeout(expiryTimer);
  if (!token) return;
  expiryTimer = setTimeout(() => {
    if (!sessionIsLive()) endSession(EXPIRED_MESSAGE, 'error');
    else armExpiryTimer();
  }, Math.min(Math.max(expiresAt - Date.now(), 0) + 50, MAX_TIMER_MS));
}

// Forgets the token and everything shown, and goes back to the login form with `message`.
function endSession(message, kind) {
  token = null;
  expiresAt = 0;
  session = null;
  clearTimeout(expiryTimer);
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(EXPIRES_KEY);
  for (const dialog of document.querySelectorAll('dialog[open]')) dialog.close();
  $('page').replaceChildren();
  $('nav-list').replaceChildren();
  showLogin(message, kind);
}

const api = createApi({
  getToken() {
    if (token && !sessionIsLive()) {
      endSession(EXPIRED_MESSAGE, 'error');
      return null;
    }
    return token;
  },
  onUnauthorized() {
    if (token || session) endSession(EXPIRED_MESSAGE, 'error');
    else if (!$('login-view').hidden) notify(EXPIRED_MESSAGE, 'error');
  },
});

// A password change ends the JWTs issued before it: log in again with the new password so
// the session goes on.
async function changeOwnPassword(currentPassword, newPassword) {
  await api.changePassword(currentPassword, newPassword);
  const answer = await api.login(session.username, newPassword);
  storeToken(answer.jwt, answer.jwt_expires);
  return {};
}

// What pages get as ctx.api: the client, with the password change that keeps the session.
const pageApi = { ...api, changePassword: changeOwnPassword };

// ------------------------------------------------------------------ views

function showView(id) {
  for (const view of ['login-view', 'change-password-view', 'app-view']) $(view).hidden = view !== id;
  const inApp = id !== 'login-view';
  $('logout').hidden = !inApp;
  $('whoami').hidden = !inApp || !session;
}

function showLogin(message, kind) {
  showView('login-view');
  $('login-form').reset();
  if (message) notify(message, kind);
  $('login-username').focus();
}

function showForcedPasswordChange() {
  showView('change-password-view');
  $('change-password-form').reset();
  $('forced-current-password').focus();
}

function notify(message, kind = 'info') {
  const notice = $('notice');
  notice.dataset.kind = kind;
  notice.setAttribute('aria-live', kind === 'error' ? 'assertive' : 'polite');
  notice.textContent = message;
}

function clearNotice() {
  $('notice').textContent = '';
  delete $('notice').dataset.kind;
}

// ------------------------------------------------------------------ session

function makeSession(user) {
  const roles = Array.isArray(user.roles) ? user.roles : [];
  const granted = capabilitiesOf(roles);
  return Object.freeze({
    id: user.id,
    handle: user.id,
    username: user.username,
    name: user.name,
    roles,
    workspace: user.workspace,
    mustChangePassword: Boolean(user.must_change_password),
    user,
    // True when every argument is a role the user holds or a capability one of their
    // roles grants (in some workspace). Only decides what to offer; the server decides.
    can(...wanted) {
      return wanted.every((w) => roles.includes(w) || granted.has(w));
    },
  });
}

async function startSession() {
  const user = await api.whoami();
  session = makeSession(user);
  $('whoami').textContent = `${session.username} · ${session.workspace}`;
  if (session.mustChangePassword) return showForcedPasswordChange();
  showView('app-view');
  renderRoute();
}

// ------------------------------------------------------------------ navigation

function allowedPages() {
  return session ? pages.filter((page) => safeRequires(page)) : [];
}

function safeRequires(page) {
  try {
    return Boolean(page.requires(session));
  } catch (error) {
    return false;  // a page that cannot decide is not offered
  }
}

function parseHash() {
  const [path, query] = location.hash.replace(/^#\/?/, '').split('?');
  return { id: decodeURIComponent(path || ''), params: Object.fromEntries(new URLSearchParams(query || '')) };
}

function navigate(pageId, params = {}) {
  const query = new URLSearchParams(params).toString();
  const hash = `#/${encodeURIComponent(pageId)}${query ? `?${query}` : ''}`;
  if (location.hash === hash) renderRoute();
  else location.hash = hash;  // hashchange renders
}

function buildNav(allowed, currentId) {
  const items = allowed.map((page) => {
    const link = document.createElement('a');
    link.href = `#/${encodeURIComponent(page.id)}`;
    link.textContent = page.title;
    link.id = `nav-${page.id}`;
    if (page.id === currentId) link.setAttribute('aria-current', 'page');
    const item = document.createElement('li');
    item.append(link);
    return item;
  });
  $('nav-list').replaceChildren(...items);
}

async function renderRoute() {
  if (!session || session.mustChangePassword) return;
  if (!sessionIsLive()) return endSession(EXPIRED_MESSAGE, 'error');
  const allowed = allowedPages();
  const route = parseHash();
  const page = allowed.find((p) => p.id === route.id) || allowed[0];
  buildNav(allowed, page && page.id);
  const container = $('page');
  if (!page) {
    container.replaceChildren(Object.assign(document.createElement('p'), { textContent: 'Nothing to show.' }));
    return;
  }
  const generation = ++renderGeneration;
  const heading = Object.assign(document.createElement('h1'), { textContent: page.title, tabIndex: -1, id: 'page-title' });
  const body = document.createElement('div');
  body.className = 'page-body';
  body.id = `page-${page.id}`;
  container.replaceChildren(heading, body);
  document.title = `${page.title} · IAM console`;
  try {
    await page.render(body, makeContext(route.params, generation));
  } catch (error) {
    if (generation === renderGeneration && session) notify(messageOf(error), 'error');
  }
  if (generation === renderGeneration && session && !document.querySelector('dialog[open]')) heading.focus();
}

function messageOf(error) {
  return error instanceof ApiError ? error.message : 'Something went wrong in the console.';
}

// ------------------------------------------------------------------ dialogs

function confirmDialog(text) {
  const dialog = $('confirm-dialog');
  $('confirm-text').textContent = text;
  return new Promise((resolve) => {
    const finish = (answer) => {
      $('confirm-ok').removeEventListener('click', onOk);
      $('confirm-cancel').removeEventListener('click', onCancel);
      dialog.removeEventListener('close', onClose);
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    const onOk = () => finish(true);
    const onCancel = () => finish(false);
    const onClose = () => finish(false);  // Escape
    $('confirm-ok').addEventListener('click', onOk);
    $('confirm-cancel').addEventListener('click', onCancel);
    dialog.addEventListener('close', onClose);
    dialog.showModal();
    $('confirm-cancel').focus();  // the safe answer is the default
  });
}

function showOnce(title, secret, warning) {
  const dialog = $('secret-dialog');
  $('secret-title').textContent = title;
  $('secret-warning').textContent = warning || 'This is shown once. Copy it now: it cannot be shown again.';
  $('secret-value').value = secret;
  $('secret-copied').textContent = '';
  return new Promise((resolve) => {
    const onCopy = async () => {
      try {
        await navigator.clipboard.writeText(secret);
      } catch (error) {
        $('secret-value').select();
        document.execCommand('copy');  // clipboard API refused (no secure context): the old way
      }
      $('secret-copied').textContent = 'Copied.';
    };
    const onDone = () => dialog.close();
    const onClose = () => {
      $('secret-copy').removeEventListener('click', onCopy);
      $('secret-done').removeEventListener('click', onDone);
      dialog.removeEventListener('close', onClose);
      $('secret-value').value = '';  // the secret does not outlive the dialog
      resolve();
    };
    $('secret-copy').addEventListener('click', onCopy);
    $('secret-done').addEventListener('click', onDone);
    dialog.addEventListener('close', onClose);
    dialog.showModal();
    $('secret-value').focus();
    $('secret-value').select();
  });
}

function makeContext(params, generation) {
  return {
    api: pageApi,
    session,
    params,
    notify,
    confirm: confirmDialog,
    showOnce,
    navigate,
    // False once the user has moved to another page (skip late DOM updates).
    isCurrent: () => generation === renderGeneration && session !== null,
  };
}

// ------------------------------------------------------------------ forms

async function onLogin(event) {
  event.preventDefault();
  const username = $('login-username').value.trim();
  const password = $('login-password').value;
  if (!username || !password) return notify('Enter your username and password.', 'error');
  const button = event.submitter || $('login-form').querySelector('button');
  button.disabled = true;
  try {
    const answer = await api.login(username, password);
    storeToken(answer.jwt, answer.jwt_expires);
    clearNotice();
    await startSession();
  } catch (error) {
    if (!token) {
      notify(`Log in failed: ${messageOf(error)}`, 'error');
      $('login-password').value = '';
      $('login-password').focus();
    }
  } finally {
    button.disabled = false;
  }
}

async function onForcedChange(event) {
  event.preventDefault();
  const current = $('forced-current-password').value;
  const next = $('forced-new-password').value;
  if (!current || !next) return notify('Fill in every field.', 'error');
  if (next !== $('forced-repeat-password').value) return notify('The new passwords differ.', 'error');
  try {
    await changeOwnPassword(current, next);
    notify('Your password has been changed.', 'info');
    await startSession();
  } catch (error) {
    if (session) notify(`Password not changed: ${messageOf(error)}`, 'error');
  }
}

function start() {
  $('login-form').addEventListener('submit', onLogin);
  $('change-password-form').addEventListener('submit', onForcedChange);
  $('logout').addEventListener('click', () => endSession('You have logged out.', 'info'));
  // A click on the menu starts afresh; a page's own navigate() keeps its notice ("User created").
  $('nav-list').addEventListener('click', (event) => {
    if (event.target.closest('a')) clearNotice();
  });
  window.addEventListener('hashchange', renderRoute);
  if (sessionIsLive()) {
    armExpiryTimer();
    startSession().catch((error) => {
      if (token) endSession(messageOf(error), 'error');
    });
  } else {
    const hadToken = Boolean(token);
    token = null;
    endSession(hadToken ? EXPIRED_MESSAGE : '', hadToken ? 'error' : 'info');
  }
}

start();
