// Beyond CNN Explainer: first-layer filters and training curves; the attribution and the
// confusion matrix have modules of their own.
import { state } from './state.js';
import { api, setStatus } from './api.js';
import { el, fmt } from './dom.js';
import { absMax, diverging, drawMap } from './draw.js';
import { refreshAttribution, setupAttribution } from './attribution.js';
import { setupConfusion } from './confusion.js';

export async function setupBeyond() {
  setupAttribution();
  setupConfusion();
  try {
    showFilters(await api('/api/filters'));
    if (state.model.metrics) showCurves(await api('/api/metrics'));
    else document.getElementById('curves').replaceChildren(el('span', 'hint', 'no metrics.jsonl beside the checkpoint'));
  } catch (e) { setStatus(e.message, true); }
}

// After a new run: the views that depend on the input.
export function refreshBeyond() { refreshAttribution(); }

function showFilters(f) {
  const box = document.getElementById('filters');
  if (!f) { box.replaceChildren(el('span', 'hint', 'the model has no convolution')); return; }
  const [O, C, kh, kw] = f.shape;
  const per = C * kh * kw;
  for (let o = 0; o < Math.min(O, 64); o++) {
    const k = f.data.slice(o * per, (o + 1) * per);
    const cv = el('canvas');
    const R = absMax(k);
    if (C === 3) {
      const lo = Math.min(...k), hi = Math.max(...k);
      drawMap(cv, k, kh, kw, (v, i) => [0, 1, 2].map(c => 255 * (k[c * kh * kw + i] - lo) / (hi - lo || 1)));
    } else drawMap(cv, k, kh, kw, v => diverging(v, R));
    cv.title = `filter ${o} of ${f.layer}`;
    box.appendChild(cv);
  }
}

// Loss, accuracy and other numeric columns of metrics.jsonl, one chart per group.
function showCurves(rows) {
  const box = document.getElementById('curves');
  box.replaceChildren();
  if (!rows || !rows.length) { box.appendChild(el('span', 'hint', 'metrics.jsonl is empty')); return; }
  const xKey = ['step', 'epoch', 'iter'].find(k => rows.every(r => typeof r[k] === 'number'));
  const keys = [...new Set(rows.flatMap(r => Object.keys(r)))].filter(k => k !== xKey && rows.some(r => typeof r[k] === 'number'));
  const groups = [keys.filter(k => /loss/i.test(k)), keys.filter(k => /acc/i.test(k)), keys.filter(k => !/loss|acc/i.test(k) && !/time|lr|epoch|step/i.test(k))];
  const colours = ['#2166ac', '#c0392b', '#1a9850', '#8e44ad', '#e67e22', '#555'];
  for (const g of groups.filter(g => g.length)) {
    const cv = el('canvas'); cv.width = 340; cv.height = 180;
    const ctx = cv.getContext('2d');
    const pts = g.map(k => rows.map((r, i) => [xKey ? r[xKey] : i, r[k]]).filter(p => typeof p[1] === 'number'));
    const all = pts.flat();
    const x0 = Math.min(...all.map(p => p[0])), x1 = Math.max(...all.map(p => p[0]), x0 + 1e-9);
    const y0 = Math.min(...all.map(p => p[1])), y1 = Math.max(...all.map(p => p[1]), y0 + 1e-9);
    const X = x => 40 + (x - x0) / (x1 - x0) * 290, Y = y => 160 - (y - y0) / (y1 - y0) * 140;
    ctx.strokeStyle = '#ccc'; ctx.strokeRect(40, 20, 290, 140);
    ctx.fillStyle = '#666'; ctx.font = '10px sans-serif';
    ctx.fillText(fmt(y1, 3), 2, 24); ctx.fillText(fmt(y0, 3), 2, 160); ctx.fillText(`${xKey || 'row'} ${x0}…${x1}`, 150, 175);
    pts.forEach((p, i) => {
      ctx.strokeStyle = colours[i % colours.length]; ctx.lineWidth = 1.5; ctx.beginPath();
      p.forEach(([x, y], j) => (j ? ctx.lineTo(X(x), Y(y)) : ctx.moveTo(X(x), Y(y))));
      ctx.stroke();
      ctx.fillStyle = colours[i % colours.length]; ctx.fillText(g[i], 46 + 90 * i, 14);
    });
    box.appendChild(cv);
  }
}
