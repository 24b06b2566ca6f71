// The overview: input -> one column per layer -> output, heatmaps, edges, colour ranges.
import { PAGE, state } from './state.js';
import { api, query, setStatus } from './api.js';
import { bold, cellAt, el, fmt, hideTip, italic, shapeText, tip } from './dom.js';
import { css, diverging, drawMap, gray } from './draw.js';
import { openDetail } from './detail.js';

const ALL_TO_ALL = ['Conv2d', 'Conv1d', 'ConvTranspose2d', 'Linear'];
const SHORT = { Conv2d: 'conv', ReLU: 'relu', MaxPool2d: 'max pool', AvgPool2d: 'avg pool', AdaptiveAvgPool2d: 'avg pool', Flatten: 'flatten', Linear: 'dense', BatchNorm2d: 'batch norm', BatchNorm1d: 'batch norm', Dropout: 'dropout', Softmax: 'softmax' };
const SVG = 'http://www.w3.org/2000/svg';

// The columns shown: top-level layers, with expanded blocks replaced by their children;
// `blocks[i]`: the open blocks around column i, outermost first.
export function columns() {
  const cols = [], blocks = [];
  (function walk(list, open) {
    for (const n of list) {
      if (n.children && n.children.length && state.expanded[n.id]) walk(n.children, open.concat([n]));
      else { cols.push(n); blocks.push(open); }
    }
  })(state.model.layers, []);
  return { cols, blocks };
}

// Whether `n` is the model's output (the last column, drawn with the softmax).
export function isOutput(n) { return columns().cols.slice(-1)[0] === n; }

// Closes block `b` and the blocks inside it.
function collapse(b) {
  (function walk(n) { state.expanded[n.id] = false; for (const c of n.children || []) walk(c); })(b);
}

// The bracket rows above column i (-1: the input): a line over the columns of each open block,
// its name on its first column; a click on the name closes the block.
function blockBar(i, depth) {
  const bar = el('div', 'block-bar');
  const blocks = i >= 0 ? state.colBlocks[i] : [];
  for (let k = 0; k < depth; k++) {
    const lvl = el('div', 'block-lvl');
    const b = blocks[k];
    if (b) {
      lvl.classList.add('on');
      const next = state.colBlocks[i + 1];
      if (next && next[k] === b) lvl.classList.add('cont');
      if (i === 0 || state.colBlocks[i - 1][k] !== b) {
        const tag = el('span', 'block-tag', `▾ ${b.path}`);
        tag.dataset.block = b.id;
        tag.title = `${b.path} · ${b.kind}: click to close the block`;
        tag.onclick = () => { collapse(b); renderOverview(); };
        lvl.appendChild(tag);
      }
    }
    bar.appendChild(lvl);
  }
  return bar;
}

export function setupOverview() {
  document.getElementById('range-mode').onchange = () => renderOverview();
  document.getElementById('show-detail').onchange = ev => {
    document.getElementById('overview').classList.toggle('show-detail', ev.target.checked);
    drawEdges();
  };
  window.addEventListener('resize', () => drawEdges());
}

// The colour range R (values shown in [-R, R]) of every column, by the selected mode.
function ranges(cols) {
  const mode = document.getElementById('range-mode').value;
  const own = cols.map(n => { const a = state.acts[n.id]; return a ? Math.max(Math.abs(a.min), Math.abs(a.max)) : 0; });
  const hidden = cols.length - 1;
  if (mode === 'global') { const g = Math.max(1e-6, ...own.slice(0, hidden)); return own.map((r, i) => i < hidden ? g : r); }
  if (mode === 'layer') return own.map(r => Math.max(r, 1e-6));
  // Per block: a convolution or dense layer starts a block; the layers after it share its range.
  const out = own.slice();
  let start = 0;
  for (let i = 0; i <= cols.length; i++) {
    if (i === cols.length || (i > start && (ALL_TO_ALL.includes(cols[i].kind) || cols[i].children))) {
      const r = Math.max(1e-6, ...own.slice(start, i));
      for (let j = start; j < i; j++) out[j] = r;
      start = i;
    }
  }
  return out;
}

// The colour legend for range R.
function showLegend(R) {
  const t = v => fmt(v, R >= 10 ? 1 : 2);
  const ticks = el('span', 'legend-ticks');
  ticks.append(...[-R, -R / 2, 0, R / 2, R].map(v => el('span', '', v === 0 ? '0' : t(v))));
  document.getElementById('legend').replaceChildren(el('span', 'legend-bar'), ticks);
}

const fullName = n => `${n.path} · ${n.kind}${n.describe ? `(${n.describe})` : ''}`;

// Draws the overview for the current run (`CL.renderOverview()` from the browser console).
export function renderOverview() {
  if (!state.run) return;
  const net = document.getElementById('network');
  net.replaceChildren();
  const { cols, blocks } = columns();
  state.colBlocks = blocks;
  const depth = Math.max(0, ...blocks.map(b => b.length));
  const R = ranges(cols);
  state.colRange = {};
  cols.forEach((n, i) => { state.colRange[n.id] = R[i]; });
  net.appendChild(inputColumn(depth));
  cols.forEach((n, i) => {
    const col = i === cols.length - 1 ? outputColumn(n, R[i]) : layerColumn(n, R[i]);
    col.prepend(blockBar(i, depth));
    net.appendChild(col);
  });
  const first = cols.find(n => n.kind === 'Conv2d') || cols[0];
  showLegend(state.colRange[first.id]);
  const top = state.run.predicted;
  document.getElementById('prediction').textContent = `prediction: ${state.model.classes[top]} (${(100 * state.run.probs[top]).toFixed(1)} %)`;
  requestAnimationFrame(() => drawEdges());
}

function inputColumn(depth) {
  const [c, h, w] = state.model.input_shape;
  const col = el('div', 'column input');
  col.dataset.id = '__input';
  col.appendChild(blockBar(-1, depth));
  const head = el('div', 'col-head');
  head.append('input', el('span', 'shape', shapeText(state.model.input_shape)));
  col.appendChild(head);
  const img = state.run.image.data;
  const tints = [[255, 60, 60], [60, 200, 60], [60, 90, 255]];
  for (let ch = 0; ch < c && ch < PAGE; ch++) {
    const cv = el('canvas', 'map');
    const part = img.slice(ch * h * w, (ch + 1) * h * w);
    drawMap(cv, part, h, w, v => c === 3 ? tints[ch].map(t => 255 - (255 - t) * v) : gray(v));
    cv.dataset.ch = ch;
    cv.onmousemove = ev => {
      const [y, x] = cellAt(ev, cv, h, w);
      tip(ev, [bold('input'), ` channel ${ch}`], `pixel (${y}, ${x}) = ${fmt(part[y * w + x], 3)}`, `model input after normalization = ${fmt(state.run.input.maps[ch][y * w + x], 3)}`);
    };
    cv.onmouseleave = hideTip;
    col.appendChild(cv);
  }
  return col;
}

function layerColumn(n, R) {
  const col = el('div', 'column');
  col.dataset.layer = n.id;
  col.dataset.id = n.id;
  const head = el('div', 'col-head' + (n.children ? ' group' : ''));
  const name = n.children ? `${state.expanded[n.id] ? '▾' : '▸'} ${n.path}` : (SHORT[n.kind] || n.kind);
  head.append(name, el('span', 'full', fullName(n)), el('span', 'shape', shapeText(n.output_shape)));
  if (n.children) {
    head.title = 'a block: click to open it layer by layer';
    head.onclick = () => { state.expanded[n.id] = true; renderOverview(); };
  }
  col.appendChild(head);
  col.appendChild(el('div', 'col-legend', `±${fmt(R, 2)}`));
  const a = state.acts[n.id];
  if (!a) return col;
  if (a.maps) {
    const [, h, w] = a.shape;
    a.maps.forEach((m, k) => {
      const ch = a.offset + k;
      const cv = el('canvas', 'map');
      drawMap(cv, m, h, w, v => diverging(v, R));
      cv.dataset.ch = ch;
      cv.onmousemove = ev => {
        const [y, x] = cellAt(ev, cv, h, w);
        let lo = Infinity, hi = -Infinity;
        for (const v of m) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
        tip(ev, [bold(n.path), ` ${n.kind}, channel ${ch}`], `value at (${y}, ${x}) = ${fmt(m[y * w + x])}`, `map range ${fmt(lo, 3)} … ${fmt(hi, 3)}`, italic('click for detail'));
        highlight(n.id, cv);
        showLegend(R);
      };
      cv.onmouseleave = () => { hideTip(); highlight(null); };
      cv.onclick = () => openDetail(n, ch);
      col.appendChild(cv);
    });
    const total = a.shape[0];
    if (total > PAGE) {
      const pg = el('div', 'pager');
      const prev = el('button', '', '‹'), next = el('button', '', '›');
      prev.disabled = a.offset === 0; next.disabled = a.offset + PAGE >= total;
      prev.onclick = () => page(n, Math.max(0, a.offset - PAGE));
      next.onclick = () => page(n, a.offset + PAGE);
      pg.append(prev, el('span', '', `${a.offset + 1}–${Math.min(total, a.offset + PAGE)} of ${total}`), next);
      col.appendChild(pg);
    }
  } else if (a.values) {
    const v = a.values;
    const cv = el('canvas', 'strip map-strip');
    drawMap(cv, v, v.length, 1, x => diverging(x, R));
    cv.style.height = Math.min(360, Math.max(60, v.length)) + 'px';
    cv.onmousemove = ev => { const [i] = cellAt(ev, cv, v.length, 1); tip(ev, [bold(n.path), ` ${n.kind}`], `unit ${i} of ${a.shape[0]} = ${fmt(v[i])}`); highlight(n.id, cv); };
    cv.onmouseleave = () => { hideTip(); highlight(null); };
    cv.onclick = ev => { const [i] = cellAt(ev, cv, v.length, 1); openDetail(n, i); };
    col.appendChild(cv);
  }
  return col;
}

function outputColumn(n, R) {
  const { run, model } = state;
  const col = el('div', 'column output');
  col.dataset.layer = n.id;
  col.dataset.id = n.id;
  const head = el('div', 'col-head');
  head.append('output', el('span', 'full', `${fullName(n)} + softmax`), el('span', 'shape', `${n.output_shape[0]} classes`));
  col.appendChild(head);
  const order = run.probs.map((p, i) => i);
  const shown = order.length > 20 ? order.sort((a, b) => run.probs[b] - run.probs[a]).slice(0, 20) : order;
  for (const k of shown) {
    const row = el('div', 'out-row' + (k === run.predicted ? ' top' : ''));
    row.dataset.cls = k;
    const dot = el('span', 'dot');
    dot.style.background = css(diverging(run.logits[k], R));
    const bar = el('span', 'bar');
    bar.style.width = Math.max(1, 90 * run.probs[k]) + 'px';
    row.append(dot, el('span', '', model.classes[k]), bar, el('span', '', (100 * run.probs[k]).toFixed(1) + ' %'));
    row.onmousemove = ev => {
      tip(ev, bold(model.classes[k]), `logit ${fmt(run.logits[k])}`, `probability ${fmt(run.probs[k])}`, italic('click: how this number is computed'));
      highlight(n.id, row);
    };
    row.onmouseleave = () => { hideTip(); highlight(null); };
    row.onclick = () => openDetail(n, k);
    col.appendChild(row);
  }
  if (order.length > 20) col.appendChild(el('div', 'pager', `top 20 of ${order.length} classes`));
  return col;
}

async function page(n, offset) {
  try {
    state.acts[n.id] = await api(`/api/layer?${query({ input: state.run.input_id, layer: n.id, offset, count: PAGE })}`);
    renderOverview();
  } catch (e) { setStatus(e.message, true); }
}

const items = col => [...col.querySelectorAll('canvas.map, canvas.strip, .out-row')];

// Edges: all-to-all into convolutions, dense layers and blocks; one-to-one otherwise.
export function drawEdges() {
  const svg = document.getElementById('edges');
  const wrap = document.getElementById('network-wrap');
  const net = document.getElementById('network');
  svg.setAttribute('width', net.scrollWidth); svg.setAttribute('height', net.scrollHeight);
  const base = wrap.getBoundingClientRect();
  const colsEl = [...net.querySelectorAll('.column')];
  const { cols } = columns();
  const anchor = (e, right) => { const r = e.getBoundingClientRect(); return [(right ? r.right : r.left) - base.left + wrap.scrollLeft, r.top + r.height / 2 - base.top]; };
  const paths = document.createDocumentFragment();
  for (let i = 1; i < colsEl.length; i++) {
    const n = cols[i - 1];
    const src = items(colsEl[i - 1]), dst = items(colsEl[i]);
    const all = ALL_TO_ALL.includes(n.kind) || n.children || src.length === 1 || dst.length === 1 || src.length !== dst.length;
    dst.forEach((d, j) => {
      const froms = all ? src : [src[j]];
      for (const s of froms) {
        if (!s) continue;
        const [x1, y1] = anchor(s, true), [x2, y2] = anchor(d, false);
        const mx = (x1 + x2) / 2;
        const p = document.createElementNS(SVG, 'path');
        p.setAttribute('data-to', `${i}:${j}`);
        p.setAttribute('data-from', `${i - 1}:${src.indexOf(s)}`);
        p.setAttribute('d', `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`);
        paths.appendChild(p);
      }
    });
  }
  svg.replaceChildren(paths);
}

// Hover: darken the edges into `item` and outline its sources.
function highlight(layerId, item) {
  document.querySelectorAll('#edges path.hot').forEach(p => p.classList.remove('hot'));
  document.querySelectorAll('.src').forEach(e => e.classList.remove('src'));
  if (!layerId || !item) return;
  const colsEl = [...document.querySelectorAll('#network .column')];
  const ci = colsEl.findIndex(c => c.dataset.id === layerId);
  const j = items(colsEl[ci]).indexOf(item);
  const srcItems = ci > 0 ? items(colsEl[ci - 1]) : [];
  document.querySelectorAll(`#edges path[data-to="${ci}:${j}"]`).forEach(p => {
    p.classList.add('hot');
    const k = Number(p.getAttribute('data-from').split(':')[1]);
    if (srcItems[k]) srcItems[k].classList.add('src');
  });
}
