// The convolution detail: input channels (padded), kernels, per-channel results and the
// output, with the dot product of one position written out.
import { state } from './state.js';
import { bold, cellAt, el, fill, fmt } from './dom.js';
import { absMax, bigMap, cellSize, css, diverging, rect } from './draw.js';
import { player as makePlayer } from './detail.js';

function kernelGlyph(k, kh, kw) {
  const g = el('div', 'kern');
  g.style.gridTemplateColumns = `repeat(${kw}, 14px)`;
  const R = absMax(k);
  k.forEach(v => { const c = el('div'); c.style.background = css(diverging(v, R)); c.title = fmt(v); g.appendChild(c); });
  return g;
}

export function convView(body, d, tut) {
  const [kh, kw] = d.kernel_size, [sh, sw] = d.stride, [dh, dw] = d.dilation, pad = d.padding;
  const out = d.output, Ho = out.h, Wo = out.w;
  const R = state.colRange[state.sel.id] || absMax(out.data);
  const inR = absMax(d.inputs.flatMap(c => c.padded.data));
  const partR = absMax(d.inputs.flatMap(c => c.intermediate.data));
  const row = el('div', 'det-row');
  const colIn = el('div', 'det-col'), colK = el('div', 'det-col'), colMid = el('div', 'det-col'), colOut = el('div', 'det-col');
  colIn.appendChild(el('div', 'cap', `input channels (padded ${pad.join('/')}, ${d.padding_mode})`));
  colK.appendChild(el('div', 'cap', `kernels ${kh}×${kw}`));
  colMid.appendChild(el('div', 'cap', 'channel ⋆ kernel'));
  const cin = d.inputs[0] ? d.inputs[0].padded : { h: 1, w: 1 };
  const cellIn = cellSize(cin.h, cin.w, 120), cellMid = cellSize(Ho, Wo, 120), cellOut = cellSize(Ho, Wo, 170);
  let chosen = 0;
  const ins = [], mids = [];
  d.inputs.forEach((c, r) => {
    const a = el('canvas'), m = el('canvas');
    a.title = `input channel ${c.channel}: click for its dot product`; m.title = a.title;
    a.onclick = m.onclick = () => { chosen = r; draw(player.pos); };
    ins.push(a); mids.push(m);
    colIn.appendChild(a);
    const kbox = el('div', 'det-col kbox');
    kbox.style.height = (cin.h * cellIn) + 'px';
    kbox.appendChild(kernelGlyph(c.kernel, kh, kw));
    colK.appendChild(kbox);
    colMid.appendChild(m);
  });
  if (d.in_channels > d.inputs.length) colIn.appendChild(el('div', 'cap', `showing ${d.inputs.length} of ${d.in_channels} input channels (all are summed)`));
  const sum = el('div', 'op', 'Σ + bias');
  colOut.appendChild(el('div', 'cap', `output channel ${d.channel}`));
  const oc = el('canvas');
  colOut.appendChild(oc);
  row.append(colIn, colK, colMid, sum, colOut);
  body.appendChild(row);
  const formula = el('div', 'formula');
  const player = makePlayer(body, Ho * Wo, p => draw(p));
  body.appendChild(formula);
  const jump = (ev, canvas) => { const [i, j] = cellAt(ev, canvas, Ho, Wo); player.stop(); player.go(i * Wo + j); };
  oc.onmousemove = ev => jump(ev, oc);
  mids.forEach(m => m.addEventListener('mousemove', ev => jump(ev, m)));

  function draw(p) {
    const i = Math.floor(p / Wo), j = p % Wo;
    const y0 = i * sh, x0 = j * sw;
    d.inputs.forEach((c, r) => {
      bigMap(ins[r], c.padded, v => diverging(v, inR), cellIn, (ctx, s) => {
        ctx.strokeStyle = 'rgba(0,0,0,.25)'; ctx.setLineDash([2, 2]); ctx.lineWidth = 1;
        ctx.strokeRect(pad[2] * s, pad[0] * s, c.input.w * s, c.input.h * s); ctx.setLineDash([]);
        for (let u = 0; u < kh; u++) for (let v = 0; v < kw; v++) rect(ctx, x0 + v * dw, y0 + u * dh, 1, 1, s, r === chosen ? '#000' : '#555', r === chosen ? 2 : 1);
      });
      bigMap(mids[r], c.intermediate, v => diverging(v, partR), cellMid, (ctx, s) => rect(ctx, j, i, 1, 1, s, '#000'));
    });
    bigMap(oc, out, v => diverging(v, R), cellOut, (ctx, s) => rect(ctx, j, i, 1, 1, s, '#000'));
    const c = d.inputs[chosen];
    if (!c) { formula.textContent = ''; return; }
    const table = el('table');
    let acc = 0;
    for (let u = 0; u < kh; u++) {
      const tr = el('tr');
      for (let v = 0; v < kw; v++) {
        const x = c.padded.data[(y0 + u * dh) * c.padded.w + x0 + v * dw], k = c.kernel[u * kw + v];
        acc += x * k;
        tr.appendChild(el('td', '', `${fmt(x, 3)}×${fmt(k, 3)}`));
        if (v < kw - 1) tr.appendChild(el('td', '', '+'));
      }
      if (u < kh - 1) tr.appendChild(el('td', '', '+'));
      table.appendChild(tr);
    }
    const partial = c.intermediate.data[i * Wo + j];
    const parts = d.inputs.map(q => q.intermediate.data[i * Wo + j]);
    const all = d.inputs.length === d.in_channels;
    const total = parts.reduce((a, b) => a + b, 0) + (d.bias || 0);
    const engine = el('span', 'value', fmt(out.data[i * Wo + j], 5));
    engine.id = 'dot-output';
    Object.assign(engine.dataset, { input: d.input_id, i, j });
    const result = el('div', 'eq', `output (${i}, ${j}) = `);
    result.appendChild(engine);
    formula.replaceChildren(
      el('div', '', `Output position (${i}, ${j}); input channel ${c.channel}: the ${kh}×${kw} window at (${y0}, ${x0}) of the padded input times the kernel, term by term:`),
      table,
      el('div', 'eq', `= ${fmt(acc, 5)} (the engine's per-channel result: ${fmt(partial, 5)})`),
      el('div', 'gap', `Sum over ${d.in_channels} input channel(s): ${parts.map(v => fmt(v, 4)).join(' + ')}${all ? '' : ' + …'} + bias ${fmt(d.bias || 0, 4)}${all ? ` = ${fmt(total, 5)}` : ''}`),
      result,
    );
  }
  player.go(0);
  player.start();
  fill(tut, 
    'A convolution neuron looks at a small window of ', bold('every'),
    ` input channel. Each channel is multiplied element by element with its own ${kh}×${kw} kernel and summed: that gives one intermediate map per channel (middle). The intermediate maps are added together with the bias to give the output map (right). The window moves ${sh > 1 ? sh + ' cells' : 'one cell'} at a time${dh > 1 ? `, its taps ${dh} apart (dilation)` : ''}. Hover over the output to jump to a position, click an input channel to see its arithmetic. The numbers are the model's own.`,
  );
}
