// What the admin pages share beyond ui.js: labelled fields and checkboxes, tables whose
// rows carry attributes, forms that report failures, and the role table's reading (what a
// user's roles grant in a workspace), as the roles regime's policy decides.
import {el} from './ui.js';
import {ROLE_TABLE} from './roles.js';

export {el, formatTime as when} from './ui.js';

let nextId = 0;

export function uniqueId(prefix) {
  nextId += 1;
  return `${prefix}-${nextId}`;
}

// A labelled input: <div class="field"><label for=id>text</label><input id=id ...></div>.
export function field(labelText, control, hint) {
  if (!control.id) control.id = uniqueId('field');
  const parts = [el('label', {for: control.id}, labelText), control];
  if (hint) {
    const hintId = uniqueId('hint');
    control.setAttribute('aria-describedby', hintId);
    parts.push(el('p', {class: 'hint', id: hintId}, hint));
  }
  return el('div', {class: 'field'}, ...parts);
}

// A labelled checkbox: the box first, its label after.
export function checkbox(labelText, attributes = {}) {
  const box = el('input', {type: 'checkbox', id: uniqueId('check'), ...attributes});
  return {box, node: el('div', {class: 'field field-check'}, box, el('label', {for: box.id}, labelText))};
}

// A table with a caption (for screen readers) and a header row; `rows` holds arrays of
// cells (strings or nodes) or {cells, attributes} objects.
export function table(caption, headers, rows, emptyText = 'Nothing here yet.') {
  if (rows.length === 0) return el('p', {class: 'empty'}, emptyText);
  const head = el('thead', {}, el('tr', {}, headers.map((h) => el('th', {scope: 'col'}, h))));
  const body = el('tbody', {}, rows.map((row) => {
    const {cells, attributes} = Array.isArray(row) ? {cells: row, attributes: {}} : row;
    return el('tr', attributes, cells.map((cell, i) => el('td', {'data-label': headers[i]}, cell)));
  }));
  return el('div', {class: 'table-wrap'}, el('table', {}, el('caption', {}, caption), head, body));
}

export function section(title, ...children) {
  const headingId = uniqueId('section');
  return el('section', {'aria-labelledby': headingId}, el('h2', {id: headingId}, title), ...children);
}

export function errorText(error) {
  const type = error && error.type ? `${error.type}: ` : '';
  return `${type}${error && error.message ? error.message : String(error)}`;
}

// Runs an action from a button: disables the button meanwhile, reports failures.
export async function act(ctx, button, action) {
  if (button) button.disabled = true;
  try {
    return await action();
  } catch (error) {
    ctx.notify(errorText(error), 'error');
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

// A form whose submit runs `onSubmit(form)`; the submit button is disabled while it runs.
export function form(ctx, attributes, children, submitText, onSubmit) {
  const submit = el('button', {type: 'submit'}, submitText);
  const node = el('form', {class: 'card', ...attributes}, ...children, el('div', {class: 'actions'}, submit));
  node.addEventListener('submit', (event) => {
    event.preventDefault();
    act(ctx, submit, () => onSubmit(node));
  });
  return node;
}

// container.replaceChildren for lists that may hold arrays and absent (null) parts.
export function show(container, ...children) {
  container.replaceChildren(...children.flat().filter((child) => child !== null && child !== undefined && child !== false));
}

export function intro(text) {
  return el('p', {class: 'intro'}, text);
}

// Whether the session's roles grant `capability` (in some workspace): what to offer. The
// gateway decides every request anyway.
export function can(session, capability) {
  return Boolean(session && typeof session.can === 'function' && session.can(capability));
}

// Whether one of the session's roles grants `capability` in every workspace (the
// operations a gateway authorises against "*": list-workspaces, rotate-signing-key).
export function canEverywhere(session, capability) {
  return Boolean(session && (session.roles || []).some((role) => {
    const definition = ROLE_TABLE[role];
    return definition && definition.allWorkspaces && definition.capabilities.includes(capability);
  }));
}

// ---------------------------------------------------------------- the role table

// The capabilities a user's roles grant in `workspace`: Map capability → [role names],
// following contract.md "The roles regime's policy": a role grants where it is in scope
// (the home workspace, or every workspace); an unknown role grants nothing, a disabled
// user nothing at all. `workspace` null: a workspace other than the home one.
export function grantedIn(user, workspace) {
  const granted = new Map();
  if (!user.enabled) return granted;
  const home = user.workspace || user.default_workspace;
  for (const role of user.roles || []) {
    const definition = ROLE_TABLE[role];
    if (!definition || (!definition.allWorkspaces && workspace !== home)) continue;
    for (const capability of definition.capabilities) {
      if (!granted.has(capability)) granted.set(capability, []);
      granted.get(capability).push(role);
    }
  }
  return granted;
}

export function roleNames() {
  return Object.keys(ROLE_TABLE).sort();
}

export function roleScope(role) {
  const definition = ROLE_TABLE[role];
  if (!definition) return 'not in the role table: grants nothing';
  return definition.allWorkspaces ? 'every workspace' : 'home workspace';
}

export function roleCapabilities(role) {
  return ROLE_TABLE[role] ? [...ROLE_TABLE[role].capabilities] : [];
}

// Role checkboxes for create and edit: every role of the table, `chosen` ticked.
export function rolePicker(chosen, legendText = 'Roles') {
  const boxes = new Map();
  const fieldset = el('fieldset', {class: 'roles'}, el('legend', {}, legendText));
  for (const name of roleNames()) {
    const {box, node} = checkbox(`${name} (${roleScope(name)})`, {value: name, name: 'role', checked: chosen.includes(name)});
    boxes.set(name, box);
    fieldset.append(node);
  }
  return {fieldset, chosen: () => [...boxes].filter(([, box]) => box.checked).map(([name]) => name)};
}
