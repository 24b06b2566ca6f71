// Dense layers: how the flattened maps feed one unit (or class), and the softmax.
import { state } from './state.js';
import { bold, cellAt, el, fill, fmt, hideTip, rich, tip } from './dom.js';
import { absMax, bigMap, cellSize, diverging } from './draw.js';
import { isOutput } from './overview.js';

export function linearView(body, d, n, tut) {
  const xs = d.inputs, ws = d.weights, k = d.channel;
  const terms = xs.map((x, i) => x * ws[i]);
  const R = absMax(terms);
  const output = isOutput(n);
  const target = output ? 'class ' + state.model.classes[k] : 'unit ' + k;
  const ff = d.flatten_from;
  const box = el('div');
  if (ff && ff.length === 3 && ff[0] * ff[1] * ff[2] === xs.length) {
    const [C, H, W] = ff;
    box.appendChild(el('div', 'cap', `Flatten: the ${C} maps of ${H}×${W} before it are read row by row into ${xs.length} inputs (input i = c·${H * W} + y·${W} + x). Each cell shows input × weight for ${target}: blue pushes the value up, red down.`));
    const row = el('div', 'det-row');
    for (let c = 0; c < Math.min(C, 32); c++) {
      const col = el('div', 'det-col');
      const cv = el('canvas');
      const m = { h: H, w: W, data: terms.slice(c * H * W, (c + 1) * H * W) };
      bigMap(cv, m, v => diverging(v, R), cellSize(H, W, 70));
      cv.onmousemove = ev => {
        const [y, x] = cellAt(ev, cv, H, W), i = c * H * W + y * W + x;
        tip(ev, `input ${i} = map ${c} at (${y}, ${x})`, `x = ${fmt(xs[i])}, w = ${fmt(ws[i])}`, `x·w = ${fmt(terms[i])}`);
      };
      cv.onmouseleave = hideTip;
      col.append(cv, el('div', 'cap', `map ${c}`));
      row.appendChild(col);
    }
    box.appendChild(row);
  } else {
    const cv = el('canvas');
    bigMap(cv, { h: 1, w: xs.length, data: terms }, v => diverging(v, R), Math.max(2, Math.min(12, Math.floor(600 / xs.length))));
    box.append(el('div', 'cap', `the ${xs.length} inputs × weights`), cv);
  }
  body.appendChild(box);
  const top = terms.map((t, i) => i).sort((a, b) => Math.abs(terms[b]) - Math.abs(terms[a])).slice(0, 8);
  const bias = d.bias || 0;
  const sum = terms.reduce((a, b) => a + b, 0) + bias;
  const f = el('div', 'formula');
  const engine = el('span', 'value', fmt(d.output, 5));
  engine.id = 'dense-output';
  f.append(
    el('div', '', `${output ? 'logit' : 'value'} = Σᵢ xᵢ·wᵢ + b over ${xs.length} inputs; the largest terms:`),
    ...top.map(i => el('div', '', `x${i}·w${i} = ${fmt(xs[i], 3)}×${fmt(ws[i], 3)} = ${fmt(terms[i], 4)}`)),
    el('div', '', `… all ${xs.length} terms sum to ${fmt(sum - bias, 5)}; + bias ${fmt(bias, 5)} = ${fmt(sum, 5)}`),
    rich('div', 'eq', 'engine: ', engine),
  );
  body.appendChild(f);
  if (output) body.appendChild(softmaxView(k));
  fill(tut, 
    'A dense (fully connected) layer gives every output a weight for every input. ',
    ff ? ['The maps before it are first ', bold('flattened'), ': laid out one after another as a single long vector, so each pixel of each map becomes one input. '] : null,
    'The value is the weighted sum plus a bias.',
    output ? [' The output layer\'s values (logits) become probabilities through the ', bold('softmax'), ': exponentiate each, divide by the sum, so they are positive and add up to 1.'] : null,
  );
}

// The softmax of the run's logits, class by class, with class `k` highlighted.
function softmaxView(k) {
  const L = state.run.logits, P = state.run.probs, classes = state.model.classes;
  const m = Math.max(...L);
  const e = L.map(l => Math.exp(l - m));
  const s = e.reduce((a, b) => a + b, 0);
  const shifted = Math.abs(m) > 30;
  const ex = v => (shifted ? v : v * Math.exp(m));
  const box = el('div', 'formula');
  const p = el('span', 'value', fmt(P[k], 5));
  p.id = 'softmax-p';
  box.appendChild(rich('div', '', bold('Softmax'), shifted ? ` (computed as e^(l − ${fmt(m, 3)}) to avoid overflow)` : '',
    `: p(${classes[k]}) = e^${fmt(L[k], 4)} / Σⱼ e^lⱼ = ${ex(e[k]).toPrecision(5)} / ${ex(s).toPrecision(5)} = `, p));
  const table = el('table', 'softmax');
  const head = el('tr');
  head.append(el('th', 'name', 'class'), el('th', '', 'logit l'), el('th', '', 'e^l'), el('th', '', 'p'));
  table.appendChild(head);
  L.forEach((l, i) => {
    const tr = el('tr', i === k ? 'sel' : '');
    tr.append(el('td', 'name', classes[i]), el('td', '', fmt(l, 4)), el('td', '', ex(e[i]).toPrecision(5)), el('td', '', fmt(P[i], 5)));
    table.appendChild(tr);
  });
  box.appendChild(table);
  return box;
}
