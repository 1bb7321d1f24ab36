// Who can do what: for a chosen user, the capabilities their roles grant in each workspace,
// computed from the role table as the roles regime's policy does (read-only).
import {act, can, el, field, grantedIn, intro, roleCapabilities, roleNames, roleScope, section, table, show} from '../admin.js';

function capabilityList(granted) {
  const names = [...granted.keys()].sort();
  if (names.length === 0) return el('p', {class: 'empty'}, 'Nothing.');
  return el('ul', {class: 'capabilities'}, names.map((name) =>
    el('li', {'data-capability': name}, el('code', {}, name), ' ', el('span', {class: 'via'}, `(${granted.get(name).join(', ')})`))));
}

export const page = {
  id: 'access',
  title: 'Who can do what',
  requires: (session) => can(session, 'users:read'),
  render: async (container, ctx) => {
    const users = ((await ctx.api.call('list-users', {})).users || []).sort((a, b) => a.username.localeCompare(b.username));
    const workspaces = ((await ctx.api.call('list-my-workspaces', {})).workspaces || []).sort((a, b) => a.id.localeCompare(b.id));
    const chooser = el('select', {id: 'access-user', name: 'user'}, el('option', {value: ''}, 'Choose a user'),
      users.map((u) => el('option', {value: u.id, selected: ctx.params && ctx.params.user_id === u.id}, `${u.username} (${u.workspace})`)));
    const result = el('div', {id: 'access-result', 'aria-live': 'polite'});

    const showUser = () => {
      const user = users.find((u) => u.id === chooser.value);
      if (!user) {
        show(result, el('p', {class: 'empty'}, 'Choose a user to see what their roles let them do.'));
        return;
      }
      const unknown = (user.roles || []).filter((r) => roleCapabilities(r).length === 0);
      const roleRows = (user.roles || []).map((r) => [r, roleScope(r), String(roleCapabilities(r).length)]);
      const ids = workspaces.map((w) => w.id);
      if (!ids.includes(user.workspace)) ids.unshift(user.workspace);
      show(result,
        el('p', {}, `${user.username} holds ${(user.roles || []).join(', ') || 'no roles'}; home workspace ${user.workspace}.`),
        user.enabled ? null : el('p', {class: 'warning', role: 'status'}, `${user.username} is disabled: every request is refused, whatever the roles say.`),
        unknown.length ? el('p', {class: 'warning'}, `Unknown roles grant nothing: ${unknown.join(', ')}.`) : null,
        table('Roles', ['Role', 'Scope', 'Capabilities'], roleRows, 'No roles.'),
        ids.map((id) => {
          const record = workspaces.find((w) => w.id === id);
          const disabled = record && !record.enabled;
          return el('section', {class: 'panel workspace-access', 'data-workspace': id, 'aria-label': `Capabilities in ${id}`},
            el('h3', {}, `In workspace ${id}`, disabled ? ' (disabled)' : ''),
            capabilityList(grantedIn(user, id)));
        }),
        el('section', {class: 'panel workspace-access', 'data-workspace': '*', 'aria-label': 'Capabilities elsewhere'},
          el('h3', {}, 'In any other workspace'),
          capabilityList(grantedIn(user, null))));
    };
    chooser.addEventListener('change', () => act(ctx, null, async () => showUser()));

    show(container,
      intro('The capabilities a user\u2019s roles grant, per workspace, from the role table ' +
                     'the gateway decides with. Read-only: change roles on the Users page.'),
      el('div', {class: 'toolbar'}, field('User', chooser)),
      result,
      section('The role table', table('Roles and their capabilities', ['Role', 'Scope', 'Capabilities'],
        roleNames().map((r) => [r, roleScope(r), el('span', {class: 'cap-list'}, roleCapabilities(r).join(' '))]))));
    showUser();
  },
};
