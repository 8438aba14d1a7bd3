// Small DOM helpers. Everything the client shows is built with `h`, which only ever sets
// text (never HTML), so a message cannot inject markup; the one exception, the search
// highlight, goes through `markedText`, which keeps only text and <mark>.

/** Creates an element: h('button', {class: 'x', onclick: f, 'aria-label': 'Send'}, 'Send'). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'class') {
      el.className = value;
    } else if (key === 'dataset') {
      Object.assign(el.dataset, value);
    } else if (key === 'style') {
      // Through the CSSOM: the page's CSP refuses style attributes.
      el.style.cssText = value;
    } else if (key === 'value') {
      el.value = value;
    } else if (key === 'checked' || key === 'selected' || key === 'disabled' || key === 'hidden' || key === 'multiple') {
      el[key] = Boolean(value);
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces an element's children. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** Says something to screen readers (the polite live region of index.html). */
export function announce(text) {
  const live = document.getElementById('live');
  if (!live) return;
  live.textContent = '';
  // A change after a tick is announced even when the text repeats.
  setTimeout(() => { live.textContent = text; }, 30);
}

/** Text with <mark> spans, from the server's HTML-escaped highlight: only text and <mark> survive. */
export function markedText(html) {
  const template = document.createElement('template');
  template.innerHTML = html;
  const out = document.createDocumentFragment();
  for (const node of template.content.childNodes) {
    if (node.nodeName === 'MARK') out.append(h('mark', {}, node.textContent));
    else out.append(document.createTextNode(node.textContent));
  }
  return out;
}

/**
 * A modal dialog (<dialog> with showModal: focus is trapped and Escape closes it). `build`
 * gets a `close(value)` function and returns the dialog's content; the promise resolves to
 * the value given to close (undefined when dismissed).
 */
export function modal(title, build) {
  return new Promise((resolve) => {
    const titleId = `dlg-${Math.random().toString(36).slice(2)}`;
    const dialog = h('dialog', { 'aria-labelledby': titleId, class: 'modal' });
    // Resolved as it closes, not on its close event (a task later): whatever the choice
    // does happens before anything else sees the dialog gone. Escape resolves undefined.
    const close = (value) => { dialog.close(); resolve(value); };
    dialog.addEventListener('close', () => { dialog.remove(); resolve(undefined); });
    mount(dialog, h('h2', { id: titleId }, title), build(close));
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** Initials for an avatar. */
export function initials(name) {
  const parts = String(name || '?').trim().split(/\s+/).filter(Boolean);
  const letters = parts.length > 1 ? parts[0][0] + parts[parts.length - 1][0] : (parts[0] || '?').slice(0, 2);
  return letters.toUpperCase();
}

/** A stable colour for a person (hue from their id), dark enough for white text. */
export function avatarColor(id) {
  let hash = 0;
  for (const ch of String(id)) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return `hsl(${hash % 360} 55% 28%)`;
}

export function avatar(party, size = 'md') {
  const name = party?.display_name || party?.username || '?';
  return h('span', { class: `avatar avatar-${size}`, style: `background:${avatarColor(party?.id || name)}`, 'aria-hidden': 'true' }, initials(name));
}

/** Runs `fn` at most once per `ms`, the last call winning. */
export function debounce(fn, ms) {
  let timer;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}

/**
 * People typed into a field, split on commas and spaces: email addresses (with an @ past
 * the first character) and usernames (a leading @ dropped).
 */
export function splitPeople(text) {
  const usernames = [];
  const addresses = [];
  for (const entry of text.split(/[\s,;]+/).filter(Boolean)) {
    if (entry.indexOf('@', 1) > 0) addresses.push(entry);
    else usernames.push(entry.replace(/^@/, '').toLowerCase());
  }
  return { usernames: usernames.filter(Boolean), addresses };
}

/** A random id for client_txn_id. */
export function randomId() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Human size: 1.2 MB. */
export function formatSize(bytes, lang) {
  const units = ['B', 'kB', 'MB', 'GB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) { value /= 1000; unit += 1; }
  return `${new Intl.NumberFormat(lang, { maximumFractionDigits: unit ? 1 : 0 }).format(value)} ${units[unit]}`;
}

// Interface icons, drawn as SVG (a glyph would depend on the fonts a machine has). Each
// is decoration: the control around it carries the accessible name.
const ICONS = {
  info: [['circle', { cx: 12, cy: 12, r: 9 }], ['path', { d: 'M12 11v6' }], ['circle', { cx: 12, cy: 7.5, r: 0.6, fill: 'currentColor' }]],
  attach: [['path', { d: 'M20.5 11.5l-8.4 8.4a5 5 0 0 1-7.1-7.1l8.8-8.8a3.4 3.4 0 0 1 4.8 4.8l-8.8 8.8a1.7 1.7 0 0 1-2.4-2.4l8-8' }]],
  pin: [['path', { d: 'M12 21s-7-6.2-7-11.5a7 7 0 0 1 14 0C19 14.8 12 21 12 21z' }], ['circle', { cx: 12, cy: 9.5, r: 2.5 }]],
  smile: [['circle', { cx: 12, cy: 12, r: 9 }], ['path', { d: 'M8 14.5s1.5 2 4 2 4-2 4-2' }], ['circle', { cx: 9, cy: 9.5, r: 0.6, fill: 'currentColor' }], ['circle', { cx: 15, cy: 9.5, r: 0.6, fill: 'currentColor' }]],
  back: [['path', { d: 'M19 12H5M11 18l-6-6 6-6' }]],
  reply: [['path', { d: 'M9 15L4 10l5-5' }], ['path', { d: 'M4 10h10a6 6 0 0 1 6 6v3' }]],
  more: [['circle', { cx: 5, cy: 12, r: 1.2, fill: 'currentColor' }], ['circle', { cx: 12, cy: 12, r: 1.2, fill: 'currentColor' }], ['circle', { cx: 19, cy: 12, r: 1.2, fill: 'currentColor' }]],
  plus: [['path', { d: 'M12 5v14M5 12h14' }]],
  close: [['path', { d: 'M6 6l12 12M18 6L6 18' }]],
  file: [['path', { d: 'M14 3H7a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V8z' }], ['path', { d: 'M14 3v5h5' }]],
};

export function icon(name) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  for (const [k, v] of Object.entries({ viewBox: '0 0 24 24', width: 20, height: 20, fill: 'none', stroke: 'currentColor', 'stroke-width': 2, 'stroke-linecap': 'round', 'stroke-linejoin': 'round', 'aria-hidden': 'true', focusable: 'false', class: 'icon' })) {
    svg.setAttribute(k, v);
  }
  for (const [tag, attrs] of ICONS[name] || []) {
    const shape = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) shape.setAttribute(k, v);
    svg.append(shape);
  }
  return svg;
}

/** A page with a back link, a title and tabs (links to `#/…/<tab>`); tabs: [[key, href, label]]. */
export function tabbedPage({ title, back, label, tabs, current }, body) {
  return h('div', { class: 'page' },
    h('header', { class: 'page-head' }, h('a', { href: '#/', class: 'back icon-button', 'aria-label': back }, icon('back')), h('h1', {}, title)),
    h('nav', { class: 'tabs', 'aria-label': label }, tabs.map(([key, href, text]) => h('a', { href, 'aria-current': key === current ? 'page' : null }, text))),
    body);
}

/**
 * What has focus inside `root`, in a form that survives a redraw: the element's id, its
 * `data-focus` key, or its message and accessible name (a message's buttons have no id).
 */
export function focusKey(root) {
  const el = document.activeElement;
  if (!el || !root.contains(el) || el === root) return null;
  return {
    id: el.id,
    key: el.dataset?.focus,
    message: el.closest('article')?.dataset.id,
    label: el.getAttribute('aria-label') || el.textContent,
  };
}

/**
 * Puts focus back on the redrawn element `key` names; when it is gone, on its message, or
 * on `fallback` (something that takes focus), so it never drops to the page's body.
 */
export function restoreFocus(root, key, fallback) {
  if (!key || root.contains(document.activeElement)) return;
  const scope = (key.message && root.querySelector(`article[data-id="${CSS.escape(key.message)}"]`)) || root;
  const el = (key.id && root.querySelector(`#${CSS.escape(key.id)}`))
    || (key.key && scope.querySelector(`[data-focus="${CSS.escape(key.key)}"]`))
    || [...scope.querySelectorAll('button, a, input, select, textarea')]
      .find((c) => (c.getAttribute('aria-label') || c.textContent) === key.label)
    || (scope !== root ? scope : fallback);
  el?.focus({ preventScroll: true });
}
