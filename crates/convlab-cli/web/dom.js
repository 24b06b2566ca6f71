// Building the page's elements. Every string that comes from the server, a file or the user
// goes in as text (text nodes, `textContent`, attribute values set one by one), never as
// markup: the page parses no string as HTML.

// A `tag` element with class `cls` and text `text`.
export function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

// A `tag` element holding `parts` in order: strings become text nodes, nodes are added as
// they are, arrays are flattened, null and undefined are skipped.
export function rich(tag, cls, ...parts) {
  const e = el(tag, cls);
  e.append(...flat(parts));
  return e;
}

// Replaces the content of `node` with `parts` (as `rich`).
export function fill(node, ...parts) {
  node.replaceChildren(...flat(parts));
  return node;
}

export function flat(parts) {
  return parts.flat(Infinity).filter(p => p !== null && p !== undefined && p !== false).map(p => (p instanceof Node ? p : String(p)));
}

export const bold = text => el('b', '', text);
export const italic = text => el('i', '', text);

// `v` with `digits` decimals (4 by default); non-numbers as themselves.
export function fmt(v, digits) {
  if (v === null || v === undefined || !isFinite(v)) return String(v);
  return Number(v).toFixed(digits === undefined ? 4 : digits);
}

export function shapeText(s) { return s.join('×'); }

// The cell of an h×w canvas under a mouse event.
export function cellAt(ev, canvas, h, w) {
  const r = canvas.getBoundingClientRect();
  const x = Math.floor((ev.clientX - r.left) / r.width * w), y = Math.floor((ev.clientY - r.top) / r.height * h);
  return [Math.max(0, Math.min(h - 1, y)), Math.max(0, Math.min(w - 1, x))];
}

// The tooltip beside the mouse: one line per argument (a string, a node or an array of both).
export function tip(ev, ...lines) {
  const t = document.getElementById('tooltip');
  t.replaceChildren();
  lines.forEach((line, k) => {
    if (k) t.append(el('br'));
    t.append(...flat([line]));
  });
  t.hidden = false;
  t.style.left = (ev.clientX + 14) + 'px';
  t.style.top = (ev.clientY + 12) + 'px';
}

export function hideTip() { document.getElementById('tooltip').hidden = true; }
