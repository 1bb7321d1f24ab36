// Small DOM helpers shared by the page modules. Text always goes in as text (textContent),
// never as HTML, so nothing a user typed can become markup or script.

// el('button', {type: 'button', onclick: fn, class: 'danger'}, 'Revoke')
export function el(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') element.addEventListener(name.slice(2), value);
    else if (name === 'class') element.className = value;
    else if (value === true) element.setAttribute(name, '');
    else element.setAttribute(name, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

// A labelled input: returns {field (the wrapper to append), input}. `id` must be unique.
export function labelled(id, label, attributes = {}) {
  const input = el(attributes.tag || 'input', { id, name: id, ...attributes, tag: undefined });
  return { field: el('div', { class: 'field' }, el('label', { for: id }, label), input), input };
}

// A table with a caption; columns: [{label, value: (row) => text or Node}]. An empty list
// shows `empty` instead.
export function table(caption, columns, rows, empty = 'None yet.') {
  if (!rows.length) return el('p', { class: 'empty' }, empty);
  return el('div', { class: 'table-wrap' },
    el('table', {},
      el('caption', {}, caption),
      el('thead', {}, el('tr', {}, columns.map((c) => el('th', { scope: 'col' }, c.label)))),
      el('tbody', {}, rows.map((row) => el('tr', {}, columns.map((c) => el('td', { 'data-label': c.label }, c.value(row))))))));
}

// RFC 3339 from the server ("" when absent) → a short readable UTC time, or '—'.
export function formatTime(text) {
  if (!text) return '—';
  const time = new Date(text);
  return Number.isNaN(time.getTime()) ? text : `${time.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}
