// Signing keys: the JWKS (GET /api/v1/auth/jwks) with each key's place in the staged
// rotation, and rotate-signing-key. The JWKS lists the current, the next and the retired
// keys still in grace without saying which is which; the current one is the key
// get-signing-key-public returns, and the console tells the next key from a retired one
// by what it saw rotate (docs/decisions.md).
import {act, canEverywhere, el, intro, section, table, show} from '../admin.js';

// Keys this page has seen retire in this browser tab: kid → {retiredAt, graceSeconds}.
const retiredHere = new Map();
let previousCurrent = null;
let kidsBeforeLastRotation = null;

function base64ToBytes(text) {
  const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

function bytesToBase64url(bytes) {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

// An Ed25519 SubjectPublicKeyInfo is a fixed 12-byte prefix and the 32-byte key, which is
// the JWK's `x`.
export function pemToJwkX(pem) {
  const body = pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  const der = base64ToBytes(body);
  if (der.length !== 44) throw new Error('the signing key is not an Ed25519 public key');
  return bytesToBase64url(der.slice(12));
}

// The default grace (protocol.md "Grace"): the token lifetime plus the leeway, 3600 + 60 s.
// A gateway configured with a longer lifetime or grace keeps the key longer.
const DEFAULT_GRACE_SECONDS = 3660;

function statusOf(key, currentKid, keyCount) {
  if (key.kid === currentKid) return {status: 'current', note: 'signs every new token'};
  const retired = retiredHere.get(key.kid);
  if (retired) {
    const until = new Date(retired.retiredAt + retired.graceSeconds * 1000);
    return {status: 'grace', note: `retired; verifies the tokens it signed until about ${until.toISOString().slice(0, 16).replace('T', ' ')} UTC (default grace)`};
  }
  // The roles regime always holds a next key, so with two keys the other one is it.
  if (keyCount === 2 || (kidsBeforeLastRotation && !kidsBeforeLastRotation.has(key.kid)))
    return {status: 'next', note: 'published; signs after the next rotation'};
  return {status: 'next or grace', note: 'published for verification; retired before this page was opened, or the next key'};
}

export const page = {
  id: 'signing-keys',
  title: 'Signing keys',
  requires: (session) => canEverywhere(session, 'iam:admin'),
  render: async (container, ctx) => {
    const listArea = el('div', {id: 'signing-keys-list', 'aria-live': 'polite'});
    const reload = async () => {
      const answer = await fetch('/api/v1/auth/jwks', {credentials: 'omit', cache: 'no-store'});
      if (!answer.ok) throw new Error(`JWKS: HTTP ${answer.status}`);
      const jwks = await answer.json();
      const pem = (await ctx.api.call('get-signing-key-public', {})).signing_key_public;
      const currentX = pemToJwkX(pem);
      const current = (jwks.keys || []).find((k) => k.x === currentX);
      const currentKid = current ? current.kid : null;
      if (previousCurrent && currentKid && previousCurrent !== currentKid && !retiredHere.has(previousCurrent))
        retiredHere.set(previousCurrent, {retiredAt: Date.now(), graceSeconds: DEFAULT_GRACE_SECONDS});
      previousCurrent = currentKid;
      const rows = (jwks.keys || []).map((key) => {
        const {status, note} = statusOf(key, currentKid, (jwks.keys || []).length);
        return {attributes: {'data-kid': key.kid, 'data-status': status},
                cells: [el('code', {class: 'kid'}, key.kid), el('span', {class: `badge badge-${status.replace(/ /g, '-')}`}, status),
                        note, `${key.kty} ${key.crv} (${key.alg})`]};
      });
      show(listArea,
        el('p', {}, 'Current key id: ', el('code', {id: 'current-kid'}, currentKid || 'none')),
        table('Published keys (JWKS)', ['Key id', 'Status', 'Meaning', 'Type'], rows, 'No signing keys yet.'));
    };
    const rotate = el('button', {type: 'button', id: 'rotate-signing-key', class: 'danger'}, 'Rotate now');
    rotate.addEventListener('click', () => act(ctx, rotate, async () => {
      if (!await ctx.confirm('Rotate the signing key? The published next key starts signing; the current key ' +
                             'only verifies tokens it signed, until its grace period ends; a fresh next key is ' +
                             'published. Clients that fetched the JWKS since the last rotation need nothing.')) return;
      kidsBeforeLastRotation = new Set([...listArea.querySelectorAll('tr[data-kid]')].map((tr) => tr.dataset.kid));
      await ctx.api.call('rotate-signing-key', {});
      ctx.notify('Signing key rotated.', 'info');
      await reload();
    }));
    show(container,
      intro('Tokens are signed with Ed25519. The next key is published a rotation ' +
                     'before it signs, so verifiers that refresh the JWKS once per rotation never miss a key.'),
      listArea,
      section('Rotate', el('p', {}, 'iam-gateway --key-rotation-interval rotates on a schedule; rotate by hand ' +
                           'after a suspected leak.'), rotate));
    await reload();
  },
};
