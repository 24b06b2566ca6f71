// Dense layers: how the flattened maps feed one unit (or class), and the softmax.
'use strict';
CL.linearView = function (body, d, n, tut) {
  const xs = d.inputs, ws = d.weights, k = d.channel;
  const terms = xs.map((x, i) => x * ws[i]);
  const R = Math.max(1e-6, ...terms.map(Math.abs));
  const isOutput = n === CL.columns().slice(-1)[0];
  const ff = d.flatten_from;
  const box = CL.el('div');
  if (ff && ff.length === 3 && ff[0] * ff[1] * ff[2] === xs.length) {
    const [C, H, W] = ff;
    box.appendChild(CL.el('div', 'cap', `Flatten: the ${C} maps of ${H}×${W} before it are read row by row into ${xs.length} inputs (input i = c·${H * W} + y·${W} + x). Each cell shows input × weight for ${isOutput ? 'class ' + CL.model.classes[k] : 'unit ' + k}: blue pushes the value up, red down.`));
    const row = CL.el('div', 'det-row');
    for (let c = 0; c < Math.min(C, 32); c++) {
      const col = CL.el('div', 'det-col');
      const cv = CL.el('canvas');
      const m = { h: H, w: W, data: terms.slice(c * H * W, (c + 1) * H * W) };
      CL.bigMap(cv, m, v => CL.diverging(v, R), CL.cellSize(H, W, 70));
      cv.onmousemove = ev => {
        const [y, x] = CL.cellAt(ev, cv, H, W), i = c * H * W + y * W + x;
        CL.tip(ev, `input ${i} = map ${c} at (${y}, ${x})<br>x = ${CL.fmt(xs[i])}, w = ${CL.fmt(ws[i])}<br>x·w = ${CL.fmt(terms[i])}`);
      };
      cv.onmouseleave = ev => CL.tip(ev, null);
      col.append(cv, CL.el('div', 'cap', `map ${c}`));
      row.appendChild(col);
    }
    box.appendChild(row);
  } else {
    const cv = CL.el('canvas');
    CL.bigMap(cv, { h: 1, w: xs.length, data: terms }, v => CL.diverging(v, R), Math.max(2, Math.min(12, Math.floor(600 / xs.length))));
    box.append(CL.el('div', 'cap', `the ${xs.length} inputs × weights`), cv);
  }
  body.appendChild(box);
  const top = terms.map((t, i) => i).sort((a, b) => Math.abs(terms[b]) - Math.abs(terms[a])).slice(0, 8);
  const sum = terms.reduce((a, b) => a + b, 0) + (d.bias || 0);
  const f = CL.el('div', 'formula');
  f.innerHTML = `<div>${isOutput ? 'logit' : 'value'} = Σᵢ xᵢ·wᵢ + b over ${xs.length} inputs; the largest terms:</div>
    <div>${top.map(i => `x${i}·w${i} = ${CL.fmt(xs[i], 3)}×${CL.fmt(ws[i], 3)} = ${CL.fmt(terms[i], 4)}`).join('<br>')}</div>
    <div>… all ${xs.length} terms sum to ${CL.fmt(sum - (d.bias || 0), 5)}; + bias ${CL.fmt(d.bias || 0, 5)} = ${CL.fmt(sum, 5)}</div>
    <div class="eq">engine: <span id="dense-output" class="value">${CL.fmt(d.output, 5)}</span></div>`;
  body.appendChild(f);
  if (isOutput) body.appendChild(CL.softmaxView(k));
  tut.innerHTML = `A dense (fully connected) layer gives every output a weight for every input. ${ff ? 'The maps before it are first <b>flattened</b>: laid out one after another as a single long vector, so each pixel of each map becomes one input. ' : ''}The value is the weighted sum plus a bias.${isOutput ? ' The output layer\'s values (logits) become probabilities through the <b>softmax</b>: exponentiate each, divide by the sum, so they are positive and add up to 1.' : ''}`;
};

CL.softmaxView = function (k) {
  const L = CL.run.logits, P = CL.run.probs;
  const m = Math.max(...L);
  const e = L.map(l => Math.exp(l - m));
  const s = e.reduce((a, b) => a + b, 0);
  const box = CL.el('div', 'formula');
  const shift = Math.abs(m) > 30 ? ` (computed as e^(l − ${CL.fmt(m, 3)}) to avoid overflow)` : '';
  const ex = v => Math.abs(m) > 30 ? v : v * Math.exp(m);
  const sumShown = ex(s);
  let rows = L.map((l, i) => `<tr${i === k ? ' style="background:#eef"' : ''}><td style="text-align:left">${CL.model.classes[i]}</td><td>${CL.fmt(l, 4)}</td><td>${ex(e[i]).toPrecision(5)}</td><td>${CL.fmt(P[i], 5)}</td></tr>`).join('');
  box.innerHTML = `<div><b>Softmax</b>${shift}: p(${CL.model.classes[k]}) = e^${CL.fmt(L[k], 4)} / Σⱼ e^lⱼ = ${ex(e[k]).toPrecision(5)} / ${sumShown.toPrecision(5)} = <span id="softmax-p" class="value">${CL.fmt(P[k], 5)}</span></div>
    <table><tr><th style="text-align:left">class</th><th>logit l</th><th>e^l</th><th>p</th></tr>${rows}</table>`;
  return box;
};
