// API keys of one user: list (name, prefix, created, expires, last used), create (the
// plaintext shown once), revoke. The plaintext is never kept: it goes to ctx.showOnce and
// nowhere else, so navigating back shows only the key's prefix.
import {act, can, el, field, form, intro, section, table, when, show} from '../admin.js';

function userSelect(users, selected) {
  const select = el('select', {name: 'user_id', id: 'keys-user'});
  select.append(el('option', {value: ''}, 'Choose a user'));
  for (const user of users)
    select.append(el('option', {value: user.id, selected: user.id === selected},
                     `${user.username} (${user.workspace}${user.enabled ? '' : ', disabled'})`));
  return select;
}

function createForm(ctx, user, reload) {
  const name = el('input', {name: 'name', required: true, autocomplete: 'off', maxlength: 256});
  const expires = el('input', {name: 'expires', type: 'date'});
  return form(ctx, {id: 'create-key', 'aria-label': `Create an API key for ${user.username}`}, [
    field('Key name', name, 'What the key is for, e.g. "ci-pipeline".'),
    field('Expires (optional)', expires, 'Midnight UTC of that day; leave empty for a key that does not expire.'),
  ], 'Create key', async (node) => {
    const key = {user_id: user.id, name: name.value};
    if (expires.value) key.expires = expires.value;
    const answer = await ctx.api.call('create-api-key', {key});
    node.reset();
    await ctx.showOnce(`API key "${answer.api_key.name}" for ${user.username}`, answer.api_key_plaintext,
                       'Copy it now: it is shown only once and cannot be recovered. Anyone holding it acts as ' +
                       `${user.username}. Revoke it here if it leaks.`);
    ctx.notify(`API key "${answer.api_key.name}" created for ${user.username}.`, 'info');
    await reload();
  });
}

export const page = {
  id: 'keys',
  title: 'API keys',
  requires: (session) => can(session, 'keys:admin'),
  render: async (container, ctx) => {
    // The user list needs users:read; an operator with keys:admin alone types the id.
    let users = [];
    if (can(ctx.session, 'users:read')) {
      users = ((await ctx.api.call('list-users', {})).users || [])
        .sort((a, b) => a.username.localeCompare(b.username));
    }
    const wanted = (ctx.params && ctx.params.user_id) || '';
    const chooser = users.length > 0 ? userSelect(users, wanted)
                                     : el('input', {name: 'user_id', id: 'keys-user', value: wanted, autocomplete: 'off'});
    const keysArea = el('div', {id: 'keys-area', 'aria-live': 'polite'});

    const showKeys = async () => {
      const userId = chooser.value;
      if (!userId) {
        show(keysArea, el('p', {class: 'empty'}, 'Choose a user to see their keys.'));
        return;
      }
      const user = users.find((u) => u.id === userId) || {id: userId, username: userId, enabled: true};
      const answer = await ctx.api.call('list-api-keys', {user_id: userId});
      const keys = answer.api_keys || [];
      const rows = keys.map((key) => {
        const revoke = el('button', {type: 'button', class: 'small danger', 'data-action': 'revoke',
                                     'aria-label': `Revoke ${key.name}`}, 'Revoke');
        revoke.addEventListener('click', () => act(ctx, revoke, async () => {
          if (!await ctx.confirm(`Revoke the key "${key.name}" (${key.prefix}…)? Clients using it are refused ` +
                                 'at once. This cannot be undone.')) return;
          await ctx.api.call('revoke-api-key', {key_id: key.id});
          ctx.notify(`Key ${key.name} revoked.`, 'info');
          await showKeys();
        }));
        return {attributes: {'data-key-name': key.name},
                cells: [key.name, el('code', {}, `${key.prefix}…`), when(key.created), when(key.expires, 'never'),
                        when(key.last_used, 'never'), revoke]};
      });
      show(keysArea,
        table(`API keys of ${user.username}`, ['Name', 'Prefix', 'Created', 'Expires', 'Last used', 'Actions'], rows,
              user.enabled ? 'No API keys.' : 'No API keys: disabling a user revokes all of them.'),
        user.enabled ? section('Create an API key', createForm(ctx, user, showKeys))
                     : el('p', {class: 'hint'}, `${user.username} is disabled: enable them before creating a key.`));
    };
    chooser.addEventListener('change', () => act(ctx, null, showKeys));

    show(container,
      intro('Keys let programs act as a user. Only a prefix is stored in the clear.'),
      el('div', {class: 'toolbar'}, field('User', chooser)),
      keysArea);
    await showKeys();
  },
};
