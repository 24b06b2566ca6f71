// Map-by-map layers (activations, pooling, normalization, dropout): one channel's input and
// output map with a player over the output positions, and the generic view for layers
// without a view of their own.
import { cellAt, el, fill, fmt } from './dom.js';
import { absMax, bigMap, cellSize, diverging, rect } from './draw.js';
import { player as makePlayer } from './detail.js';

// The engine's output value, as the formulas show it.
export function value(y) { return el('span', 'value', fmt(y, 5)); }

// Input map, `middle`, output map, player and formula. `show(p, i, j)` for output position
// `p` = (i, j) returns `{ cells, mark, parts }`: the flat input positions to outline, one to
// mark (or undefined) and the formula's parts (strings and nodes).
export function mapFrame(body, d, middle, show) {
  const inp = d.input, out = d.output;
  const Rin = absMax(inp.data), Rout = absMax(out.data);
  const row = el('div', 'det-row');
  const a = el('canvas'), b = el('canvas');
  const ci = el('div', 'det-col'), co = el('div', 'det-col');
  ci.append(el('div', 'cap', `input ${inp.h}×${inp.w}`), a);
  co.append(el('div', 'cap', `output ${out.h}×${out.w}`), b);
  row.append(ci, middle || el('div', 'op', '→'), co);
  body.appendChild(row);
  const formula = el('div', 'formula');
  const cin = cellSize(inp.h, inp.w, 170), cout = cellSize(out.h, out.w, 170);
  const player = makePlayer(body, out.h * out.w, p => draw(p));
  body.appendChild(formula);
  b.onmousemove = ev => { const [i, j] = cellAt(ev, b, out.h, out.w); player.stop(); player.go(i * out.w + j); };
  function draw(p) {
    const i = Math.floor(p / out.w), j = p % out.w;
    const { cells, mark, parts } = show(p, i, j);
    bigMap(a, inp, v => diverging(v, Rin), cin, (ctx, s) => {
      cells.forEach(k => rect(ctx, k % inp.w, Math.floor(k / inp.w), 1, 1, s, '#000'));
      if (mark !== undefined && mark !== null) rect(ctx, mark % inp.w, Math.floor(mark / inp.w), 1, 1, s, '#c0392b', 3);
    });
    bigMap(b, out, v => diverging(v, Rout), cout, (ctx, s) => rect(ctx, j, i, 1, 1, s, '#000'));
    fill(formula, parts);
  }
  player.go(0);
  player.start();
}

// A layer that works value by value without a view of its own (batch norm, dropout, ...).
export function mapView(body, d, n, tut) {
  const inp = d.input, out = d.output;
  mapFrame(body, d, null, (p, i, j) => {
    const k = i * inp.w + j;
    return { cells: [k], parts: [`x = ${fmt(inp.data[k], 5)} → y = `, value(out.data[p]), ` (${n.kind} ${n.describe})`] };
  });
  tut.textContent = `${n.kind} works map by map; the input and output of one channel are shown.`;
}
