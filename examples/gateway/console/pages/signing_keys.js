// Signing keys: every stored key with its place in the staged rotation, as
// list-signing-keys reports it (next, current, retired with the time its grace ends), the
// JWKS (GET /api/v1/auth/jwks) that publishes them, and rotate-signing-key.
import {act, canEverywhere, el, intro, section, table, show, when} from '../admin.js';

// What the page shows for a key: list-signing-keys' status, with a retired key split by
// whether it still verifies (grace) or waits for the next rotation to delete it (expired).
export function displayStatus(key, nowMs = Date.now()) {
  if (key.status !== 'retired') return key.status;
  return Date.parse(key.grace_ends) > nowMs ? 'grace' : 'expired';
}

const MEANING = {
  current: 'signs every new token',
  next: 'published; signs after the next rotation',
  grace: 'retired; verifies the tokens it signed until its grace ends',
  expired: 'retired; no longer verifies (deleted at the next rotation)',
};

export const page = {
  id: 'signing-keys',
  title: 'Signing keys',
  requires: (session) => canEverywhere(session, 'iam:admin'),
  render: async (container, ctx) => {
    const listArea = el('div', {id: 'signing-keys-list', 'aria-live': 'polite'});
    const reload = async () => {
      const keys = (await ctx.api.call('list-signing-keys', {})).signing_keys || [];
      const answer = await fetch('/api/v1/auth/jwks', {credentials: 'omit', cache: 'no-store'});
      if (!answer.ok) throw new Error(`JWKS: HTTP ${answer.status}`);
      const published = new Map(((await answer.json()).keys || []).map((jwk) => [jwk.kid, jwk]));
      const current = keys.find((key) => key.status === 'current');
      const rows = keys.map((key) => {
        const status = displayStatus(key);
        const jwk = published.get(key.kid);
        return {attributes: {'data-kid': key.kid, 'data-status': status, 'data-grace-ends': key.grace_ends || ''},
                cells: [el('code', {class: 'kid'}, key.kid), el('span', {class: `badge badge-${status}`}, status),
                        MEANING[status], when(key.created), when(key.activated), when(key.grace_ends),
                        jwk ? `${jwk.kty} ${jwk.crv} (${jwk.alg})` : 'not published']};
      });
      show(listArea,
        el('p', {}, 'Current key id: ', el('code', {id: 'current-kid'}, current ? current.kid : 'none')),
        table('Signing keys', ['Key id', 'Status', 'Meaning', 'Created', 'Signing since', 'Grace ends', 'JWKS'],
              rows, 'No signing keys yet.'));
    };
    const rotate = el('button', {type: 'button', id: 'rotate-signing-key', class: 'danger'}, 'Rotate now');
    rotate.addEventListener('click', () => act(ctx, rotate, async () => {
      if (!await ctx.confirm('Rotate the signing key? The published next key starts signing; the current key ' +
                             'only verifies tokens it signed, until its grace period ends; a fresh next key is ' +
                             'published. Clients that fetched the JWKS since the last rotation need nothing.')) return;
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
