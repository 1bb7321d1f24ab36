// Workspaces: list, create, rename, disable (the cascade explained first), enable.
import {act, canEverywhere, el, field, form, intro, section, table, when, show} from '../admin.js';

// What disable-workspace does in the roles regime (regimes/roles/workspaces.cpp): one
// atomic change disables the workspace, every user whose home it is, and deletes all their
// API keys; their sessions end. Enabling it again enables none of that.
async function cascadeText(ctx, workspace) {
  const users = (await ctx.api.call('list-users', {workspace: workspace.id})).users || [];
  const enabled = users.filter((u) => u.enabled);
  let keys = 0;
  for (const user of enabled) keys += ((await ctx.api.call('list-api-keys', {user_id: user.id})).api_keys || []).length;
  const names = enabled.map((u) => u.username).slice(0, 10).join(', ');
  const self = ctx.session.workspace === workspace.id && enabled.some((u) => u.username === ctx.session.username);
  return `Disable workspace ${workspace.id}? This also, at once and together:\n` +
         `• disables the ${enabled.length} enabled user(s) whose home it is${names ? ` (${names}${enabled.length > 10 ? ', …' : ''})` : ''}: ` +
         'they cannot log in and their sessions end;\n' +
         `• revokes their ${keys} API key(s) for good;\n` +
         '• refuses logins bound to this workspace.\n' +
         'Enabling the workspace later does not enable those users or bring their keys back.' +
         (self ? '\nYour own account lives here: you will be logged out.' : '');
}

function createForm(ctx, reload) {
  const id = el('input', {name: 'id', required: true, autocomplete: 'off', maxlength: 64,
                          pattern: '[A-Za-z0-9][A-Za-z0-9._\\-]{0,63}'});
  const name = el('input', {name: 'name', autocomplete: 'off'});
  return form(ctx, {id: 'create-workspace', 'aria-label': 'Create a workspace'}, [
    field('Workspace id', id, 'Letters, digits, ".", "_" and "-", starting with a letter or digit; never changes.'),
    field('Display name (optional)', name),
  ], 'Create workspace', async (node) => {
    const record = {id: id.value};
    if (name.value) record.name = name.value;
    const answer = await ctx.api.call('create-workspace', {workspace_record: record});
    node.reset();
    ctx.notify(`Workspace ${answer.workspace.id} ready.`, 'info');
    await reload();
  });
}

function renameForm(ctx, workspace, area, reload) {
  const name = el('input', {name: 'name', required: true, value: workspace.name || '', autocomplete: 'off'});
  const node = form(ctx, {class: 'rename-workspace', 'aria-label': `Rename ${workspace.id}`},
    [field(`New name for ${workspace.id}`, name)], 'Rename', async () => {
      await ctx.api.call('update-workspace', {workspace_record: {id: workspace.id, name: name.value}});
      ctx.notify(`Workspace ${workspace.id} renamed.`, 'info');
      await reload();
    });
  const cancel = el('button', {type: 'button', class: 'secondary'}, 'Cancel');
  cancel.addEventListener('click', () => area.replaceChildren());
  node.querySelector('.actions').append(cancel);
  return node;
}

export const page = {
  id: 'workspaces',
  title: 'Workspaces',
  // list-workspaces needs workspaces:admin in every workspace.
  requires: (session) => canEverywhere(session, 'workspaces:admin'),
  render: async (container, ctx) => {
    const listArea = el('div', {id: 'workspaces-list', 'aria-live': 'polite'});
    const editArea = el('div', {id: 'workspace-edit'});
    const reload = async () => {
      editArea.replaceChildren();
      const workspaces = ((await ctx.api.call('list-workspaces', {})).workspaces || [])
        .sort((a, b) => a.id.localeCompare(b.id));
      show(listArea, table('Workspaces', ['Id', 'Name', 'Enabled', 'Created', 'Actions'],
        workspaces.map((workspace) => {
          const rename = el('button', {type: 'button', class: 'small', 'data-action': 'rename',
                                       'aria-label': `Rename ${workspace.id}`}, 'Rename');
          rename.addEventListener('click', () => {
            show(editArea, section(`Rename ${workspace.id}`, renameForm(ctx, workspace, editArea, reload)));
            editArea.querySelector('input').focus();
          });
          const toggle = el('button', {type: 'button', class: workspace.enabled ? 'small danger' : 'small',
                                       'data-action': workspace.enabled ? 'disable' : 'enable',
                                       'aria-label': `${workspace.enabled ? 'Disable' : 'Enable'} ${workspace.id}`},
                            workspace.enabled ? 'Disable' : 'Enable');
          toggle.addEventListener('click', () => act(ctx, toggle, async () => {
            if (workspace.enabled) {
              if (!await ctx.confirm(await cascadeText(ctx, workspace))) return;
              await ctx.api.call('disable-workspace', {workspace_record: {id: workspace.id}});
              ctx.notify(`Workspace ${workspace.id} disabled, with its users and their keys.`, 'info');
            } else {
              await ctx.api.call('update-workspace', {workspace_record: {id: workspace.id, enabled: true}});
              ctx.notify(`Workspace ${workspace.id} enabled; its users stay disabled until enabled one by one.`,
                         'info');
            }
            await reload();
          }));
          return {attributes: {'data-workspace': workspace.id, class: workspace.enabled ? '' : 'disabled'},
                  cells: [workspace.id, workspace.name || '', workspace.enabled ? 'yes' : 'no', when(workspace.created),
                          el('div', {class: 'row-actions'}, rename, toggle)]};
        })));
    };
    show(container,
      intro('Each user has a home workspace; roles other than admin act only there.'),
      listArea, editArea, section('Create a workspace', createForm(ctx, reload)));
    await reload();
  },
};
