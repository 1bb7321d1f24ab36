// Users: list (filtered by home workspace), create, edit name/email/roles, disable/enable,
// reset password (the temporary password shown once), delete. Only through /api/v1/iam.
import {act, can, checkbox, el, field, form, intro, rolePicker, section, table, when, show} from '../admin.js';

async function workspacesOf(ctx) {
  // list-my-workspaces needs no capability: the caller's home workspace, or all for an admin.
  const answer = await ctx.api.call('list-my-workspaces', {});
  return (answer.workspaces || []).map((w) => w.id);
}

function workspaceSelect(ids, selected, withAll) {
  const select = el('select', {name: 'workspace'});
  if (withAll) select.append(el('option', {value: ''}, 'All workspaces'));
  for (const id of ids) select.append(el('option', {value: id, selected: id === selected}, id));
  return select;
}

function createForm(ctx, workspaces, defaultWorkspace, reload) {
  const username = el('input', {name: 'username', required: true, autocomplete: 'off', maxlength: 256});
  const name = el('input', {name: 'name', autocomplete: 'off'});
  const email = el('input', {name: 'email', type: 'email', autocomplete: 'off'});
  const password = el('input', {name: 'password', type: 'password', required: true, autocomplete: 'new-password', minlength: 8});
  const workspace = workspaceSelect(workspaces, defaultWorkspace, false);
  const roles = rolePicker(['reader']);
  const mustChange = checkbox('Must change password at first login', {name: 'must_change_password', checked: true});
  return form(ctx, {id: 'create-user', 'aria-label': 'Create a user'}, [
    field('Username', username),
    field('Name', name),
    field('Email', email),
    field('Initial password', password, 'At least 8 characters, not the username.'),
    field('Home workspace', workspace),
    roles.fieldset,
    mustChange.node,
  ], 'Create user', async (node) => {
    const answer = await ctx.api.call('create-user', {
      workspace: workspace.value,
      user: {username: username.value, name: name.value, email: email.value, password: password.value,
             roles: roles.chosen(), must_change_password: mustChange.box.checked},
    });
    password.value = '';
    node.reset();
    ctx.notify(`User ${answer.user.username} created.`, 'info');
    await reload();
  });
}

function editForm(ctx, user, reload) {
  const name = el('input', {name: 'name', value: user.name || '', autocomplete: 'off'});
  const email = el('input', {name: 'email', type: 'email', value: user.email || '', autocomplete: 'off'});
  const roles = rolePicker(user.roles || []);
  const cancel = el('button', {type: 'button', class: 'secondary'}, 'Cancel');
  const node = form(ctx, {class: 'edit-user', 'aria-label': `Edit ${user.username}`}, [
    field('Name', name), field('Email', email), roles.fieldset,
  ], 'Save', async () => {
    const chosen = roles.chosen();
    if (chosen.length === 0) throw new Error('choose at least one role');
    await ctx.api.call('update-user', {user_id: user.id, user: {name: name.value, email: email.value, roles: chosen}});
    ctx.notify(`User ${user.username} updated.`, 'info');
    await reload();
  });
  cancel.addEventListener('click', () => reload());
  node.querySelector('.actions').append(cancel);
  return node;
}

function actionsFor(ctx, user, editArea, reload) {
  const buttons = [];
  const selfNote = user.id === ctx.session.id ? ' This is your own account: your session ends with it.' : '';
  const button = (text, action, handler, danger = false) => {
    const b = el('button', {type: 'button', class: danger ? 'small danger' : 'small', 'data-action': action,
                            'aria-label': `${text} ${user.username}`}, text);
    b.addEventListener('click', () => act(ctx, b, () => handler(b)));
    buttons.push(b);
  };
  if (can(ctx.session, 'users:write')) {
    button('Edit', 'edit', async () => {
      show(editArea, section(`Edit ${user.username}`, editForm(ctx, user, reload)));
      editArea.querySelector('input').focus();
    });
  }
  if (can(ctx.session, 'keys:admin')) {
    button('Keys', 'keys', async () => ctx.navigate('keys', {user_id: user.id}));
  }
  if (can(ctx.session, 'users:admin')) {
    if (user.enabled) {
      button('Disable', 'disable', async () => {
        if (!await ctx.confirm(`Disable ${user.username}? They can no longer log in, their sessions end and ` +
                               'all their API keys are revoked for good (enabling them again does not bring ' +
                               `the keys back).${selfNote}`)) return;
        await ctx.api.call('disable-user', {user_id: user.id});
        ctx.notify(`User ${user.username} disabled; their API keys are revoked.`, 'info');
        await reload();
      }, true);
    } else {
      button('Enable', 'enable', async () => {
        await ctx.api.call('enable-user', {user_id: user.id});
        ctx.notify(`User ${user.username} enabled.`, 'info');
        await reload();
      });
    }
    button('Reset password', 'reset-password', async () => {
      if (!await ctx.confirm(`Reset the password of ${user.username}? Their current password stops working; ` +
                             'they must choose a new one at their next login.')) return;
      const answer = await ctx.api.call('reset-password', {user_id: user.id});
      ctx.showOnce(`Temporary password for ${user.username}`, answer.temporary_password,
                   'Give it to the user over a safe channel. It is shown only now; they must change it at ' +
                   'their next login.');
      await reload();
    });
    button('Delete', 'delete', async () => {
      if (!await ctx.confirm(`Delete ${user.username} and all their API keys? This cannot be undone.${selfNote}`)) return;
      await ctx.api.call('delete-user', {user_id: user.id});
      ctx.notify(`User ${user.username} deleted.`, 'info');
      await reload();
    }, true);
  }
  return el('div', {class: 'row-actions'}, buttons);
}

export const page = {
  id: 'users',
  title: 'Users',
  requires: (session) => can(session, 'users:read'),
  render: async (container, ctx) => {
    const workspaces = await workspacesOf(ctx);
    const filter = workspaceSelect(workspaces, (ctx.params && ctx.params.workspace) || '', workspaces.length > 1);
    const listArea = el('div', {id: 'users-list', 'aria-live': 'polite'});
    const editArea = el('div', {id: 'user-edit'});

    const reload = async () => {
      editArea.replaceChildren();
      const fields = filter.value ? {workspace: filter.value} : {};
      const answer = await ctx.api.call('list-users', fields);
      const users = (answer.users || []).slice().sort((a, b) => a.username.localeCompare(b.username));
      show(listArea, table(filter.value ? `Users of ${filter.value}` : 'All users',
        ['Username', 'Name', 'Roles', 'Workspace', 'Enabled', 'Created', 'Actions'],
        users.map((user) => ({
          attributes: {'data-username': user.username, class: user.enabled ? '' : 'disabled'},
          cells: [user.username, user.name || '', (user.roles || []).join(', '), user.workspace,
                  user.enabled ? 'yes' : 'no', when(user.created), actionsFor(ctx, user, editArea, reload)],
        })), 'No users in this workspace.'));
    };
    filter.addEventListener('change', () => act(ctx, null, reload));

    show(container,
      intro('Everyone who can log in or hold API keys, by home workspace.'),
      el('div', {class: 'toolbar'}, field('Workspace', filter)),
      listArea,
      editArea,
      can(ctx.session, 'users:admin')
        ? section('Create a user', createForm(ctx, workspaces, ctx.session.workspace, reload))
        : null);
    await reload();
  },
};
