// The caller's own account: their record (whoami), their API keys and their password.
// Every signed-in user sees it, readers included.
import { ApiError } from '../api.js';
import { el, formatTime, labelled, table } from '../ui.js';

async function renderKeys(section, ctx) {
  let keys;
  try {
    keys = (await ctx.api.call('list-api-keys', { user_id: ctx.session.id })).api_keys || [];
  } catch (error) {
    // The gateway decides who may manage keys; a refusal is shown, not hidden.
    if (error instanceof ApiError && error.status === 403) {
      section.replaceChildren(el('h2', {}, 'Your API keys'),
        el('p', { id: 'own-keys-refused' }, 'Your roles do not let you list or create API keys. Ask an administrator.'));
      return;
    }
    throw error;
  }
  const rerender = () => renderKeys(section, ctx).catch((error) => ctx.notify(error.message, 'error'));
  const revoke = async (key) => {
    if (!await ctx.confirm(`Revoke the API key "${key.name}" (${key.prefix}…)? Programs using it stop working at once.`)) return;
    try {
      await ctx.api.call('revoke-api-key', { key_id: key.id });
      ctx.notify(`API key "${key.name}" revoked.`, 'info');
      await rerender();
    } catch (error) {
      ctx.notify(`Not revoked: ${error.message}`, 'error');
    }
  };
  const name = labelled('own-key-name', 'Key name', { required: true, autocomplete: 'off' });
  const expires = labelled('own-key-expires', 'Expires (optional)', { type: 'date' });
  const form = el('form', { id: 'own-key-form', class: 'card inline', novalidate: true },
    name.field, expires.field, el('button', { type: 'submit' }, 'Create API key'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!name.input.value.trim()) return ctx.notify('Give the key a name.', 'error');
    const key = { user_id: ctx.session.id, name: name.input.value.trim() };
    if (expires.input.value) key.expires = expires.input.value;
    try {
      const answer = await ctx.api.call('create-api-key', { key });
      await ctx.showOnce('Your new API key', answer.api_key_plaintext,
        'Copy this key now. It is shown once and cannot be shown again.');
      ctx.notify(`API key "${key.name}" created.`, 'info');
      await rerender();
    } catch (error) {
      if (error instanceof ApiError) ctx.notify(`Not created: ${error.message}`, 'error');
      else throw error;
    }
  });
  section.replaceChildren(
    el('h2', {}, 'Your API keys'),
    table('Your API keys', [
      { label: 'Name', value: (k) => k.name },
      { label: 'Prefix', value: (k) => el('code', {}, k.prefix) },
      { label: 'Created', value: (k) => formatTime(k.created) },
      { label: 'Expires', value: (k) => formatTime(k.expires) },
      { label: 'Last used', value: (k) => formatTime(k.last_used) },
      { label: 'Actions', value: (k) => el('button', { type: 'button', class: 'danger', onclick: () => revoke(k) }, `Revoke ${k.name}`) },
    ], keys, 'You have no API keys.'),
    form);
}

function passwordSection(ctx) {
  const current = labelled('own-current-password', 'Current password', { type: 'password', autocomplete: 'current-password', required: true });
  const next = labelled('own-new-password', 'New password', { type: 'password', autocomplete: 'new-password', required: true });
  const repeat = labelled('own-repeat-password', 'Repeat the new password', { type: 'password', autocomplete: 'new-password', required: true });
  const form = el('form', { id: 'own-password-form', class: 'card', novalidate: true },
    current.field, next.field, repeat.field, el('button', { type: 'submit' }, 'Change password'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!current.input.value || !next.input.value) return ctx.notify('Fill in every password field.', 'error');
    if (next.input.value !== repeat.input.value) return ctx.notify('The new passwords differ.', 'error');
    try {
      await ctx.api.changePassword(current.input.value, next.input.value);
      form.reset();
      ctx.notify('Your password has been changed.', 'info');
    } catch (error) {
      if (error instanceof ApiError) ctx.notify(`Password not changed: ${error.message}`, 'error');
      else throw error;
    }
  });
  return el('section', { 'aria-labelledby': 'own-password-title' }, el('h2', { id: 'own-password-title' }, 'Change password'), form);
}

export const page = {
  id: 'account',
  title: 'My account',
  requires: (session) => Boolean(session),
  async render(container, ctx) {
    const user = await ctx.api.whoami();
    const facts = [
      ['Username', user.username], ['Name', user.name || '—'], ['Email', user.email || '—'],
      ['Workspace', user.workspace], ['Roles', (user.roles || []).join(', ') || '—'], ['Created', formatTime(user.created)],
    ];
    const keys = el('section', { id: 'own-keys', 'aria-live': 'polite' }, el('p', {}, 'Loading your API keys…'));
    container.replaceChildren(
      el('section', { 'aria-labelledby': 'own-account-title' },
        el('h2', { id: 'own-account-title' }, 'Your account'),
        el('dl', { id: 'own-account', class: 'facts' }, facts.map(([term, value]) => [el('dt', {}, term), el('dd', {}, value)]))),
      keys,
      passwordSection(ctx));
    await renderKeys(keys, ctx);
  },
};
