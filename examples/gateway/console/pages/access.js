// Who can do what: for a chosen user, the capabilities their roles grant in each workspace,
// computed from the role table as the roles regime's policy does (read-only).
import {act, can, el, field, grantedIn, intro, roleCapabilities, roleNames, roleScope, section, table, show} from '../admin.js';

// One row per capability granted anywhere, one column per workspace: whether it is
// granted there and by which roles.
function matrix(user, workspaces) {
  const columns = [...workspaces.map((w) => ({id: w.id, label: w.enabled ? w.id : `${w.id} (disabled)`})),
                   {id: '*', label: 'any other workspace'}];
  const granted = new Map(columns.map((column) => [column.id, grantedIn(user, column.id === '*' ? null : column.id)]));
  const capabilities = [...new Set([...granted.values()].flatMap((g) => [...g.keys()]))].sort();
  if (capabilities.length === 0) return el('p', {class: 'empty', id: 'access-nothing'}, `${user.username} may do nothing.`);
  const header = el('tr', {}, el('th', {scope: 'col'}, 'Capability'), columns.map((column) => el('th', {scope: 'col'}, column.label)));
  const rows = capabilities.map((capability) => el('tr', {'data-capability': capability},
    el('th', {scope: 'row'}, el('code', {}, capability)),
    columns.map((column) => {
      const roles = granted.get(column.id).get(capability);
      return el('td', {'data-label': column.label, 'data-workspace': column.id, 'data-granted': roles ? 'yes' : 'no',
                       class: roles ? 'granted' : 'denied'},
                roles ? `yes · ${roles.join(', ')}` : 'no');
    })));
  return el('div', {class: 'table-wrap'}, el('table', {class: 'access-matrix'},
    el('caption', {}, `What ${user.username} may do, by workspace`), el('thead', {}, header), el('tbody', {}, rows)));
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
      const shown = workspaces.some((w) => w.id === user.workspace) ? workspaces
        : [{id: user.workspace, enabled: true}, ...workspaces];
      show(result,
        el('p', {}, `${user.username} holds ${(user.roles || []).join(', ') || 'no roles'}; home workspace ${user.workspace}.`),
        user.enabled ? null : el('p', {class: 'warning', role: 'status'}, `${user.username} is disabled: every request is refused, whatever the roles say.`),
        unknown.length ? el('p', {class: 'warning'}, `Unknown roles grant nothing: ${unknown.join(', ')}.`) : null,
        table('Roles', ['Role', 'Scope', 'Capabilities'], roleRows, 'No roles.'),
        matrix(user, shown));
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
