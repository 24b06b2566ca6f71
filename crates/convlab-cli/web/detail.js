// Detail views: convolution (with the dot product), activation, pooling, dense/flatten, softmax.
'use strict';
CL.sel = null;      // {id, ch}
CL.timer = null;

CL.layerName = function (n) { return /^\d+$/.test(n.path) ? `layer ${n.path}` : n.path; };
CL.openDetail = function (n, ch) {
  CL.sel = { id: n.id, ch };
  CL.refreshDetail();
};
document.getElementById('detail-close').onclick = () => { CL.sel = null; CL.stopPlayer(); document.getElementById('detail').hidden = true; };

CL.stopPlayer = function () { if (CL.timer) clearInterval(CL.timer); CL.timer = null; };

CL.refreshDetail = async function () {
  if (!CL.sel || !CL.run) return;
  const n = CL.byId[CL.sel.id];
  const sec = document.getElementById('detail');
  try {
    const input = CL.run.input_id;
    const d = await CL.api(`/api/detail?input=${encodeURIComponent(input)}&layer=${encodeURIComponent(n.id)}&channel=${CL.sel.ch}&cin_count=8`);
    CL.stopPlayer();
    d.input_id = input;
    sec.hidden = false;
    const body = document.getElementById('detail-body');
    body.innerHTML = '';
    const title = document.getElementById('detail-title');
    const tut = document.getElementById('detail-tut');
    if (d.kind === 'Conv2d') { title.textContent = `Convolution: ${CL.layerName(n)}, output channel ${d.channel}`; CL.convView(body, d, tut); }
    else if (d.kind === 'Linear') { title.textContent = `Dense ${CL.layerName(n)}: ${n === CL.columns().slice(-1)[0] ? 'class ' + CL.model.classes[d.channel] : 'unit ' + d.channel}`; CL.linearView(body, d, n, tut); }
    else if (d.input && d.output) { title.textContent = `${n.kind}: ${CL.layerName(n)}, channel ${d.channel}`; CL.elementView(body, d, n, tut); }
    else { title.textContent = `${n.kind}: ${CL.layerName(n)}`; body.textContent = `input ${JSON.stringify(d.input_shape || [])} → output ${JSON.stringify(d.output_shape || [])}`; tut.textContent = ''; }
    sec.scrollIntoView({ behavior: 'smooth', block: 'nearest' });
  } catch (e) { CL.status(e.message, true); }
};

// A map drawn large: `cell` screen pixels per value, then `overlay(ctx, cell)`.
CL.bigMap = function (canvas, m, colour, cell, overlay) {
  const off = CL.drawMap(document.createElement('canvas'), m.data, m.h, m.w, colour);
  canvas.width = m.w * cell; canvas.height = m.h * cell;
  canvas.className = 'big';
  const ctx = canvas.getContext('2d');
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(off, 0, 0, canvas.width, canvas.height);
  if (overlay) overlay(ctx, cell);
  return canvas;
};
CL.cellSize = function (h, w, target) { return Math.max(3, Math.min(16, Math.floor((target || 150) / Math.max(h, w)))); };
CL.rect = function (ctx, x, y, w, h, cell, colour, lw) { ctx.strokeStyle = colour; ctx.lineWidth = lw || 2; ctx.strokeRect(x * cell + 1, y * cell + 1, w * cell - 2, h * cell - 2); };

// Play/pause/step over `count` positions; `show(pos)` draws one.
CL.player = function (box, count, show) {
  const bar = CL.el('div', 'player');
  const play = CL.el('button', '', 'pause'), back = CL.el('button', '', '‹ step'), fwd = CL.el('button', '', 'step ›');
  const label = CL.el('span', 'hint');
  bar.append(play, back, fwd, label);
  box.appendChild(bar);
  let pos = 0;
  const go = p => { pos = (p + count) % count; label.textContent = `position ${pos + 1} of ${count}`; show(pos); };
  const start = () => { CL.stopPlayer(); CL.timer = setInterval(() => go(pos + 1), 350); play.textContent = 'pause'; };
  const stop = () => { CL.stopPlayer(); play.textContent = 'play'; };
  play.onclick = () => (CL.timer ? stop() : start());
  back.onclick = () => { stop(); go(pos - 1); };
  fwd.onclick = () => { stop(); go(pos + 1); };
  return { go, stop, start, get pos() { return pos; } };
};

CL.kernelGlyph = function (k, kh, kw) {
  const g = CL.el('div', 'kern');
  g.style.gridTemplateColumns = `repeat(${kw}, 14px)`;
  const R = Math.max(1e-6, ...k.map(Math.abs));
  k.forEach(v => { const c = CL.el('div'); c.style.background = CL.css(CL.diverging(v, R)); c.title = CL.fmt(v); g.appendChild(c); });
  return g;
};

CL.convView = function (body, d, tut) {
  const [kh, kw] = d.kernel_size, [sh, sw] = d.stride, [dh, dw] = d.dilation, pad = d.padding;
  const out = d.output, Ho = out.h, Wo = out.w;
  const R = CL.colRange[CL.sel.id] || Math.max(...out.data.map(Math.abs));
  const inR = Math.max(1e-6, ...d.inputs.flatMap(c => c.padded.data.map(Math.abs)));
  const partR = Math.max(1e-6, ...d.inputs.flatMap(c => c.intermediate.data.map(Math.abs)));
  const row = CL.el('div', 'det-row');
  const colIn = CL.el('div', 'det-col'), colK = CL.el('div', 'det-col'), colMid = CL.el('div', 'det-col'), colOut = CL.el('div', 'det-col');
  colIn.appendChild(CL.el('div', 'cap', `input channels (padded ${pad.join('/')}, ${d.padding_mode})`));
  colK.appendChild(CL.el('div', 'cap', `kernels ${kh}×${kw}`));
  colMid.appendChild(CL.el('div', 'cap', 'channel ⋆ kernel'));
  const cin = d.inputs[0] ? d.inputs[0].padded : { h: 1, w: 1 };
  const cellIn = CL.cellSize(cin.h, cin.w, 120), cellMid = CL.cellSize(Ho, Wo, 120), cellOut = CL.cellSize(Ho, Wo, 170);
  let chosen = 0;
  const ins = [], mids = [];
  d.inputs.forEach((c, r) => {
    const a = CL.el('canvas'), m = CL.el('canvas');
    a.title = `input channel ${c.channel}: click for its dot product`; m.title = a.title;
    a.onclick = m.onclick = () => { chosen = r; draw(player.pos); };
    ins.push(a); mids.push(m);
    colIn.appendChild(a);
    const kbox = CL.el('div', 'det-col');
    kbox.style.height = (cin.h * cellIn) + 'px'; kbox.style.justifyContent = 'center';
    kbox.appendChild(CL.kernelGlyph(c.kernel, kh, kw));
    colK.appendChild(kbox);
    colMid.appendChild(m);
  });
  if (d.in_channels > d.inputs.length) colIn.appendChild(CL.el('div', 'cap', `showing ${d.inputs.length} of ${d.in_channels} input channels (all are summed)`));
  const sum = CL.el('div', 'op', `Σ + bias`);
  colOut.appendChild(CL.el('div', 'cap', `output channel ${d.channel}`));
  const oc = CL.el('canvas');
  colOut.appendChild(oc);
  row.append(colIn, colK, colMid, sum, colOut);
  body.appendChild(row);
  const formula = CL.el('div', 'formula');
  const player = CL.player(body, Ho * Wo, p => draw(p));
  body.appendChild(formula);
  const jump = (ev, canvas) => { const [i, j] = CL.cellAt(ev, canvas, Ho, Wo); player.stop(); player.go(i * Wo + j); };
  oc.onmousemove = ev => jump(ev, oc);
  mids.forEach(m => m.addEventListener('mousemove', ev => jump(ev, m)));

  function draw(p) {
    const i = Math.floor(p / Wo), j = p % Wo;
    const y0 = i * sh, x0 = j * sw;
    d.inputs.forEach((c, r) => {
      CL.bigMap(ins[r], c.padded, v => CL.diverging(v, inR), cellIn, (ctx, s) => {
        ctx.strokeStyle = 'rgba(0,0,0,.25)'; ctx.setLineDash([2, 2]); ctx.lineWidth = 1;
        ctx.strokeRect(pad[2] * s, pad[0] * s, c.input.w * s, c.input.h * s); ctx.setLineDash([]);
        for (let u = 0; u < kh; u++) for (let v = 0; v < kw; v++) CL.rect(ctx, x0 + v * dw, y0 + u * dh, 1, 1, s, r === chosen ? '#000' : '#555', r === chosen ? 2 : 1);
      });
      CL.bigMap(mids[r], c.intermediate, v => CL.diverging(v, partR), cellMid, (ctx, s) => CL.rect(ctx, j, i, 1, 1, s, '#000'));
    });
    CL.bigMap(oc, out, v => CL.diverging(v, R), cellOut, (ctx, s) => CL.rect(ctx, j, i, 1, 1, s, '#000'));
    const c = d.inputs[chosen];
    if (!c) { formula.textContent = ''; return; }
    let rows = '', acc = 0;
    for (let u = 0; u < kh; u++) {
      rows += '<tr>';
      for (let v = 0; v < kw; v++) {
        const x = c.padded.data[(y0 + u * dh) * c.padded.w + x0 + v * dw], k = c.kernel[u * kw + v];
        acc += x * k;
        rows += `<td>${CL.fmt(x, 3)}×${CL.fmt(k, 3)}</td>${v < kw - 1 ? '<td>+</td>' : ''}`;
      }
      rows += u < kh - 1 ? '<td>+</td></tr>' : '</tr>';
    }
    const partial = c.intermediate.data[i * Wo + j];
    const parts = d.inputs.map(q => q.intermediate.data[i * Wo + j]);
    const all = d.inputs.length === d.in_channels;
    const total = parts.reduce((a, b) => a + b, 0) + (d.bias || 0);
    const engine = out.data[i * Wo + j];
    formula.innerHTML = `<div>Output position (${i}, ${j}); input channel ${c.channel}: the ${kh}×${kw} window at (${y0}, ${x0}) of the padded input times the kernel, term by term:</div>
      <table>${rows}</table><div class="eq">= ${CL.fmt(acc, 5)} (the engine's per-channel result: ${CL.fmt(partial, 5)})</div>
      <div style="margin-top:6px">Sum over ${d.in_channels} input channel(s): ${parts.map(v => CL.fmt(v, 4)).join(' + ')}${all ? '' : ' + …'} + bias ${CL.fmt(d.bias || 0, 4)}
      ${all ? ` = ${CL.fmt(total, 5)}` : ''}</div>
      <div class="eq">output (${i}, ${j}) = <span id="dot-output" class="value" data-input="${d.input_id}" data-i="${i}" data-j="${j}">${CL.fmt(engine, 5)}</span></div>`;
  }
  player.go(0);
  player.start();
  tut.innerHTML = `A convolution neuron looks at a small window of <b>every</b> input channel. Each channel is multiplied element by element with its own ${kh}×${kw} kernel and summed: that gives one intermediate map per channel (middle). The intermediate maps are added together with the bias to give the output map (right). The window moves ${sh > 1 ? sh + ' cells' : 'one cell'} at a time${dh > 1 ? `, its taps ${dh} apart (dilation)` : ''}. Hover over the output to jump to a position, click an input channel to see its arithmetic. The numbers are the model's own.`;
};

CL.ACT = {
  ReLU: x => Math.max(0, x), Sigmoid: x => 1 / (1 + Math.exp(-x)), Tanh: Math.tanh,
  LeakyReLU: (x, p) => x > 0 ? x : x * p, ELU: (x, p) => x > 0 ? x : p * (Math.exp(x) - 1),
  SiLU: x => x / (1 + Math.exp(-x)), Softplus: x => Math.log1p(Math.exp(x)),
  GELU: x => 0.5 * x * (1 + Math.tanh(0.7978845608 * (x + 0.044715 * x * x * x))), Identity: x => x,
};
CL.ACT_TEXT = { ReLU: 'max(0, x)', Sigmoid: '1 / (1 + e^−x)', Tanh: 'tanh(x)', LeakyReLU: 'x > 0 ? x : a·x', ELU: 'x > 0 ? x : a(eˣ − 1)', SiLU: 'x · σ(x)', Softplus: 'log(1 + eˣ)', GELU: 'x · Φ(x)', Identity: 'x' };

CL.elementView = function (body, d, n, tut) {
  const inp = d.input, out = d.output;
  const g = d.geometry;
  const pool = n.kind.includes('Pool');
  const act = CL.ACT[n.kind];
  const param = parseFloat((n.describe.match(/=([-\d.e]+)/) || [])[1] || (n.kind === 'LeakyReLU' ? 0.01 : 1));
  const Rin = Math.max(1e-6, ...inp.data.map(Math.abs)), Rout = Math.max(1e-6, ...out.data.map(Math.abs));
  const row = CL.el('div', 'det-row');
  const a = CL.el('canvas'), b = CL.el('canvas'), graph = CL.el('canvas');
  const ci = CL.el('div', 'det-col'), co = CL.el('div', 'det-col');
  ci.append(CL.el('div', 'cap', `input ${inp.h}×${inp.w}`), a);
  co.append(CL.el('div', 'cap', `output ${out.h}×${out.w}`), b);
  row.append(ci);
  if (act) { graph.width = 180; graph.height = 140; graph.className = 'big'; const cg = CL.el('div', 'det-col'); cg.append(CL.el('div', 'cap', `${n.kind}: y = ${CL.ACT_TEXT[n.kind]}`), graph); row.append(cg); }
  else row.append(CL.el('div', 'op', '→'));
  row.append(co);
  body.appendChild(row);
  const formula = CL.el('div', 'formula');
  const cin = CL.cellSize(inp.h, inp.w, 170), cout = CL.cellSize(out.h, out.w, 170);
  const player = CL.player(body, out.h * out.w, p => draw(p));
  body.appendChild(formula);
  b.onmousemove = ev => { const [i, j] = CL.cellAt(ev, b, out.h, out.w); player.stop(); player.go(i * out.w + j); };
  function draw(p) {
    const i = Math.floor(p / out.w), j = p % out.w;
    let win = [[i, j]];
    if (pool && g) {
      win = [];
      for (let u = 0; u < g.kernel[0]; u++) for (let v = 0; v < g.kernel[1]; v++) {
        const y = i * g.stride[0] - g.padding[0] + u * g.dilation[0], x = j * g.stride[1] - g.padding[2] + v * g.dilation[1];
        if (y >= 0 && x >= 0 && y < inp.h && x < inp.w) win.push([y, x]);
      }
    }
    CL.bigMap(a, inp, v => CL.diverging(v, Rin), cin, (ctx, s) => win.forEach(([y, x]) => CL.rect(ctx, x, y, 1, 1, s, '#000')));
    CL.bigMap(b, out, v => CL.diverging(v, Rout), cout, (ctx, s) => CL.rect(ctx, j, i, 1, 1, s, '#000'));
    const y = out.data[i * out.w + j];
    const xs = win.map(([yy, xx]) => inp.data[yy * inp.w + xx]);
    if (pool) {
      const f = n.kind.startsWith('Max') ? 'max' : 'average';
      formula.innerHTML = `${f}(${xs.map(v => CL.fmt(v, 4)).join(', ')}) = <span class="value">${CL.fmt(y, 5)}</span>`;
    } else if (act) {
      formula.innerHTML = `${n.kind}: ${CL.ACT_TEXT[n.kind].replace(/x/g, CL.fmt(xs[0], 4))} = <span class="value">${CL.fmt(y, 5)}</span>`;
      CL.plotAct(graph, act, param, Rin, xs[0], y);
    } else {
      formula.innerHTML = `x = ${CL.fmt(xs[0], 5)} → y = <span class="value">${CL.fmt(y, 5)}</span> (${n.kind} ${n.describe})`;
    }
  }
  player.go(0);
  player.start();
  tut.innerHTML = pool
    ? `Pooling shrinks each map on its own: every ${g ? g.kernel.join('×') : ''} window (moving by ${g ? g.stride.join('×') : ''}) is replaced by its ${n.kind.startsWith('Max') ? 'largest' : 'average'} value. It has no weights; it keeps the strongest responses and makes the next layers see a larger part of the image.`
    : act ? `An activation function is applied to every value on its own, so each map keeps its size. ${n.kind === 'ReLU' ? 'ReLU keeps positive values and turns negative ones into zero: that is what makes the network non-linear.' : ''} The graph shows the function and the current value.`
    : `${n.kind} works map by map; the input and output of one channel are shown.`;
};

CL.plotAct = function (cv, f, p, R, x, y) {
  const ctx = cv.getContext('2d'), W = cv.width, H = cv.height;
  ctx.clearRect(0, 0, W, H);
  const ys = [];
  for (let k = 0; k <= 60; k++) ys.push(f(-R + 2 * R * k / 60, p));
  const lo = Math.min(0, ...ys), hi = Math.max(1e-6, ...ys);
  const X = v => (v + R) / (2 * R) * (W - 10) + 5, Y = v => H - 5 - (v - lo) / (hi - lo) * (H - 10);
  ctx.strokeStyle = '#bbb'; ctx.lineWidth = 1; ctx.beginPath(); ctx.moveTo(X(-R), Y(0)); ctx.lineTo(X(R), Y(0)); ctx.moveTo(X(0), 0); ctx.lineTo(X(0), H); ctx.stroke();
  ctx.strokeStyle = '#2166ac'; ctx.lineWidth = 2; ctx.beginPath();
  ys.forEach((v, k) => { const xx = X(-R + 2 * R * k / 60); k ? ctx.lineTo(xx, Y(v)) : ctx.moveTo(xx, Y(v)); });
  ctx.stroke();
  ctx.fillStyle = '#c0392b'; ctx.beginPath(); ctx.arc(X(x), Y(y), 4, 0, 7); ctx.fill();
};
