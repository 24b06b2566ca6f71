// Beyond CNN Explainer: first-layer filters, saliency / guided backpropagation / Grad-CAM,
// training curves and the confusion matrix.
'use strict';
CL.setupBeyond = async function () {
  const sel = document.getElementById('attr-class');
  CL.model.classes.forEach((c, i) => { const o = CL.el('option', '', c); o.value = i; sel.appendChild(o); });
  sel.onchange = () => CL.refreshAttribution();
  document.getElementById('attr-method').onchange = () => CL.refreshAttribution();
  document.getElementById('confusion-run').onclick = () => CL.showConfusion();
  if (!CL.model.dataset) document.getElementById('confusion').hidden = true;
  try {
    const f = await CL.api('/api/filters');
    CL.showFilters(f);
    if (CL.model.metrics) CL.showCurves(await CL.api('/api/metrics'));
    else document.getElementById('curves').innerHTML = '<span class="hint">no metrics.jsonl beside the checkpoint</span>';
  } catch (e) { CL.status(e.message, true); }
};

CL.refreshBeyond = function () { CL.refreshAttribution(); };

CL.showFilters = function (f) {
  const box = document.getElementById('filters');
  if (!f) { box.innerHTML = '<span class="hint">the model has no convolution</span>'; return; }
  const [O, C, kh, kw] = f.shape;
  const per = C * kh * kw;
  for (let o = 0; o < Math.min(O, 64); o++) {
    const k = f.data.slice(o * per, (o + 1) * per);
    const cv = CL.el('canvas');
    const R = Math.max(1e-6, ...k.map(Math.abs));
    if (C === 3) {
      const lo = Math.min(...k), hi = Math.max(...k);
      CL.drawMap(cv, k, kh, kw, (v, i) => [0, 1, 2].map(c => 255 * (k[c * kh * kw + i] - lo) / (hi - lo || 1)));
    } else CL.drawMap(cv, k, kh, kw, v => CL.diverging(v, R));
    cv.title = `filter ${o} of ${f.layer}`;
    box.appendChild(cv);
  }
};

CL.refreshAttribution = async function () {
  if (!CL.run) return;
  const method = document.getElementById('attr-method').value;
  const cls = document.getElementById('attr-class').value;
  const box = document.getElementById('attribution');
  try {
    const a = await CL.api(`/api/attribution?input=${encodeURIComponent(CL.run.input_id)}&method=${method}${cls !== '' ? '&class=' + cls : ''}`);
    box.innerHTML = '';
    const shape = CL.model.input_shape;
    const img = CL.drawImage(CL.el('canvas'), CL.run.image.data, shape);
    const hi = Math.max(1e-12, ...a.map);
    const heat = CL.drawMap(CL.el('canvas'), a.map, a.h, a.w, v => CL.hot(v / hi));
    // Overlay: the heatmap scaled to the input over a dimmed image.
    const ov = CL.el('canvas');
    const [, H, W] = shape;
    ov.width = W * 4; ov.height = H * 4;
    const ctx = ov.getContext('2d');
    ctx.imageSmoothingEnabled = false; ctx.globalAlpha = 1; ctx.drawImage(img, 0, 0, ov.width, ov.height);
    ctx.imageSmoothingEnabled = true; ctx.globalAlpha = 0.6; ctx.drawImage(heat, 0, 0, ov.width, ov.height);
    const cap = t => CL.el('div', 'cap', t);
    const col = (c, t) => { const d = CL.el('div', 'det-col'); d.append(c, cap(t)); return d; };
    box.append(col(img, 'input'), col(heat, `${method === 'gradcam' ? 'Grad-CAM at ' + a.layer : method} for "${CL.model.classes[a.class]}"`), col(ov, 'overlay'));
  } catch (e) { box.textContent = e.message; }
};

CL.showCurves = function (rows) {
  const box = document.getElementById('curves');
  box.innerHTML = '';
  if (!rows || !rows.length) { box.innerHTML = '<span class="hint">metrics.jsonl is empty</span>'; return; }
  const xKey = ['step', 'epoch', 'iter'].find(k => rows.every(r => typeof r[k] === 'number'));
  const keys = [...new Set(rows.flatMap(r => Object.keys(r)))].filter(k => k !== xKey && rows.some(r => typeof r[k] === 'number'));
  const groups = [keys.filter(k => /loss/i.test(k)), keys.filter(k => /acc/i.test(k)), keys.filter(k => !/loss|acc/i.test(k) && !/time|lr|epoch|step/i.test(k))];
  const colours = ['#2166ac', '#c0392b', '#1a9850', '#8e44ad', '#e67e22', '#555'];
  for (const g of groups.filter(g => g.length)) {
    const cv = CL.el('canvas'); cv.width = 340; cv.height = 180;
    const ctx = cv.getContext('2d');
    const pts = g.map(k => rows.map((r, i) => [xKey ? r[xKey] : i, r[k]]).filter(p => typeof p[1] === 'number'));
    const all = pts.flat();
    const x0 = Math.min(...all.map(p => p[0])), x1 = Math.max(...all.map(p => p[0]), x0 + 1e-9);
    const y0 = Math.min(...all.map(p => p[1])), y1 = Math.max(...all.map(p => p[1]), y0 + 1e-9);
    const X = x => 40 + (x - x0) / (x1 - x0) * 290, Y = y => 160 - (y - y0) / (y1 - y0) * 140;
    ctx.strokeStyle = '#ccc'; ctx.strokeRect(40, 20, 290, 140);
    ctx.fillStyle = '#666'; ctx.font = '10px sans-serif';
    ctx.fillText(CL.fmt(y1, 3), 2, 24); ctx.fillText(CL.fmt(y0, 3), 2, 160); ctx.fillText(`${xKey || 'row'} ${x0}…${x1}`, 150, 175);
    pts.forEach((p, i) => {
      ctx.strokeStyle = colours[i % colours.length]; ctx.lineWidth = 1.5; ctx.beginPath();
      p.forEach(([x, y], j) => j ? ctx.lineTo(X(x), Y(y)) : ctx.moveTo(X(x), Y(y)));
      ctx.stroke();
      ctx.fillStyle = colours[i % colours.length]; ctx.fillText(g[i], 46 + 90 * i, 14);
    });
    box.appendChild(cv);
  }
};

CL.showConfusion = async function () {
  const box = document.getElementById('confusion');
  box.innerHTML = '<span class="hint">running the test set…</span>';
  try {
    const c = await CL.api('/api/confusion?limit=500');
    const max = Math.max(1, ...c.matrix.flat());
    let html = `<div>accuracy on ${c.n} test images: <b>${(100 * c.accuracy).toFixed(1)} %</b> (rows: true class, columns: predicted)</div><table class="confusion"><tr><th></th>${c.classes.map(k => `<th>${k}</th>`).join('')}</tr>`;
    c.matrix.forEach((row, i) => {
      html += `<tr><th>${c.classes[i]}</th>${row.map((v, j) => `<td style="background:${i === j ? `rgba(33,102,172,${v / max})` : `rgba(192,57,43,${Math.min(1, 3 * v / max)})`};color:${v / max > .5 ? '#fff' : '#222'}">${v}</td>`).join('')}</tr>`;
    });
    html += '</table>';
    if (c.mistakes.length) html += `<div style="margin-top:6px">Most confident mistakes (click to inspect): ${c.mistakes.map(m => `<a href="#" data-i="${m.index}">#${m.index} ${c.classes[m.label]}→${c.classes[m.predicted]} (${(100 * m.prob).toFixed(0)} %)</a>`).join(', ')}</div>`;
    box.innerHTML = html;
    box.querySelectorAll('a[data-i]').forEach(a => { a.onclick = ev => { ev.preventDefault(); CL.runInput({ sample: Number(a.dataset.i) }); window.scrollTo({ top: 0, behavior: 'smooth' }); }; });
  } catch (e) { box.textContent = e.message; }
};
