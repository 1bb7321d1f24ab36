// What the admin pages share: building elements without innerHTML (so nothing a user
// typed is ever parsed as markup), labelled form fields, tables, and the role table the
// who-can-do-what view and the role pickers read.

let nextId = 0;

// el('button', {class: 'x', onclick: fn, 'data-action': 'y'}, 'text', child, ...)
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') node.addEventListener(name.slice(2), value);
    else if (name === 'class') node.className = value;
    else if (name === 'text') node.textContent = value;
    else if (value === true) node.setAttribute(name, '');
    else node.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

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
  return el('section', {'aria-labelledby': headingId, class: 'panel'}, el('h2', {id: headingId}, title), ...children);
}

// Times come as RFC 3339 UTC or "" when absent (protocol.md "Times").
export function when(text, absent = '—') {
  return text ? text.replace('T', ' ').replace('Z', ' UTC') : absent;
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
  const node = el('form', {novalidate: false, ...attributes}, ...children, el('div', {class: 'actions'}, submit));
  node.addEventListener('submit', (event) => {
    event.preventDefault();
    act(ctx, submit, () => onSubmit(node));
  });
  return node;
}

export function pageHeading(title, intro) {
  return [el('h1', {tabindex: '-1', class: 'page-title'}, title), intro ? el('p', {class: 'intro'}, intro) : null];
}

// Whether the session holds a capability in every workspace (the console offers global
// actions only then) or in the named one.
export function can(session, capability, workspace) {
  return Boolean(session && typeof session.can === 'function' && session.can(capability, workspace));
}

// ---------------------------------------------------------------- the role table

let roleTablePromise = null;

// role-table.json is generated at build time from iam::default_role_table(), the table
// iam-gateway's roles regime uses (docs/decisions.md): {roles: {name: {capabilities: [..],
// all_workspaces: bool}}}.
export function roleTable() {
  if (!roleTablePromise) {
    roleTablePromise = fetch(new URL('role-table.json', document.baseURI), {credentials: 'omit'})
      .then((answer) => {
        if (!answer.ok) throw new Error(`role table: HTTP ${answer.status}`);
        return answer.json();
      })
      .catch((error) => {
        roleTablePromise = null;  // try again next time
        throw error;
      });
  }
  return roleTablePromise;
}

// The capabilities a user's roles grant in `workspace`: Map capability → [role names],
// following contract.md "The roles regime's policy" (a role grants where it is in scope:
// the home workspace, or every workspace; an unknown role grants nothing; a disabled user
// nothing at all).
export function grantedIn(table, user, workspace) {
  const granted = new Map();
  if (!user.enabled) return granted;
  const home = user.workspace || user.default_workspace;
  for (const role of user.roles || []) {
    const definition = table.roles[role];
    if (!definition) continue;
    if (!definition.all_workspaces && workspace !== home) continue;
    for (const capability of definition.capabilities) {
      if (!granted.has(capability)) granted.set(capability, []);
      granted.get(capability).push(role);
    }
  }
  return granted;
}

// Role checkboxes for create and edit: every role of the table, `chosen` ticked.
export function rolePicker(table, chosen, legendText = 'Roles') {
  const boxes = new Map();
  const fieldset = el('fieldset', {class: 'roles'}, el('legend', {}, legendText));
  for (const name of Object.keys(table.roles).sort()) {
    const definition = table.roles[name];
    const scope = definition.all_workspaces ? 'every workspace' : 'home workspace';
    const {box, node} = checkbox(`${name} (${scope})`, {value: name, name: 'role', checked: chosen.includes(name)});
    boxes.set(name, box);
    fieldset.append(node);
  }
  return {fieldset, chosen: () => [...boxes].filter(([, box]) => box.checked).map(([name]) => name)};
}
