// The overview: input -> one column per layer -> output, heatmaps, edges, colour ranges.
'use strict';
CL.expanded = {};
CL.ALL_TO_ALL = ['Conv2d', 'Conv1d', 'ConvTranspose2d', 'Linear'];
CL.SHORT = { Conv2d: 'conv', ReLU: 'relu', MaxPool2d: 'max pool', AvgPool2d: 'avg pool', AdaptiveAvgPool2d: 'avg pool', Flatten: 'flatten', Linear: 'dense', BatchNorm2d: 'batch norm', BatchNorm1d: 'batch norm', Dropout: 'dropout', Softmax: 'softmax' };

// The columns shown: top-level layers, with expanded blocks replaced by their children.
// CL.colBlocks[i]: the open blocks around column i, outermost first.
CL.columns = function () {
  const out = [];
  CL.colBlocks = [];
  (function walk(list, blocks) {
    for (const n of list) {
      if (n.children && n.children.length && CL.expanded[n.id]) walk(n.children, blocks.concat([n]));
      else { out.push(n); CL.colBlocks.push(blocks); }
    }
  })(CL.model.layers, []);
  return out;
};

// Closes block `b` and the blocks inside it.
CL.collapse = function (b) {
  (function walk(n) { CL.expanded[n.id] = false; for (const c of n.children || []) walk(c); })(b);
};

// The bracket rows above column i (-1: the input): a line over the columns of each open block,
// its name on its first column; a click on the name closes the block.
CL.blockBar = function (i, depth) {
  const bar = CL.el('div', 'block-bar');
  const blocks = i >= 0 ? CL.colBlocks[i] : [];
  for (let k = 0; k < depth; k++) {
    const lvl = CL.el('div', 'block-lvl');
    const b = blocks[k];
    if (b) {
      lvl.classList.add('on');
      const next = CL.colBlocks[i + 1];
      if (next && next[k] === b) lvl.classList.add('cont');
      if (i === 0 || CL.colBlocks[i - 1][k] !== b) {
        const tag = CL.el('span', 'block-tag', `▾ ${b.path}`);
        tag.dataset.block = b.id;
        tag.title = `${b.path} · ${b.kind}: click to close the block`;
        tag.onclick = () => { CL.collapse(b); CL.renderOverview(); };
        lvl.appendChild(tag);
      }
    }
    bar.appendChild(lvl);
  }
  return bar;
};

CL.setupOverview = function () {
  document.getElementById('range-mode').onchange = () => CL.renderOverview();
  document.getElementById('show-detail').onchange = ev => {
    document.getElementById('overview').classList.toggle('show-detail', ev.target.checked);
    CL.drawEdges();
  };
  window.addEventListener('resize', () => CL.drawEdges());
};

// The colour range R (values shown in [-R, R]) of every column, by the selected mode.
CL.ranges = function (cols) {
  const mode = document.getElementById('range-mode').value;
  const own = cols.map(n => { const a = CL.acts[n.id]; return a ? Math.max(Math.abs(a.min), Math.abs(a.max)) : 0; });
  const hidden = cols.length - 1;
  if (mode === 'global') { const g = Math.max(1e-6, ...own.slice(0, hidden)); return own.map((r, i) => i < hidden ? g : r); }
  if (mode === 'layer') return own.map(r => Math.max(r, 1e-6));
  // Per block: a convolution or dense layer starts a block; the layers after it share its range.
  const out = own.slice();
  let start = 0;
  for (let i = 0; i <= cols.length; i++) {
    if (i === cols.length || (i > start && (CL.ALL_TO_ALL.includes(cols[i].kind) || cols[i].children))) {
      const r = Math.max(1e-6, ...own.slice(start, i));
      for (let j = start; j < i; j++) out[j] = r;
      start = i;
    }
  }
  return out;
};

CL.legend = function (R) {
  const t = v => CL.fmt(v, R >= 10 ? 1 : 2);
  return `<span class="legend-bar"></span><span class="legend-ticks" style="width:auto;gap:14px"><span>${t(-R)}</span><span>${t(-R / 2)}</span><span>0</span><span>${t(R / 2)}</span><span>${t(R)}</span></span>`;
};

CL.renderOverview = function () {
  if (!CL.run) return;
  const net = document.getElementById('network');
  net.innerHTML = '';
  const cols = CL.columns();
  const depth = Math.max(0, ...CL.colBlocks.map(b => b.length));
  const R = CL.ranges(cols);
  CL.colRange = {};
  cols.forEach((n, i) => { CL.colRange[n.id] = R[i]; });
  // Input column.
  const [c, h, w] = CL.model.input_shape;
  const inCol = CL.el('div', 'column input');
  inCol.dataset.id = '__input';
  inCol.appendChild(CL.blockBar(-1, depth));
  const head = CL.el('div', 'col-head');
  head.innerHTML = `input<span class="shape">${CL.shapeText(CL.model.input_shape)}</span>`;
  inCol.appendChild(head);
  const img = CL.run.image.data;
  const tints = [[255, 60, 60], [60, 200, 60], [60, 90, 255]];
  for (let ch = 0; ch < c && ch < CL.PAGE; ch++) {
    const cv = CL.el('canvas', 'map');
    const part = img.slice(ch * h * w, (ch + 1) * h * w);
    CL.drawMap(cv, part, h, w, v => c === 3 ? tints[ch].map(t => 255 - (255 - t) * v) : CL.gray(v));
    cv.dataset.ch = ch;
    cv.onmousemove = ev => { const [y, x] = CL.cellAt(ev, cv, h, w); CL.tip(ev, `<b>input</b> channel ${ch}<br>pixel (${y}, ${x}) = ${CL.fmt(part[y * w + x], 3)}<br>model input after normalization = ${CL.fmt(CL.run.input.maps[ch][y * w + x], 3)}`); };
    cv.onmouseleave = ev => CL.tip(ev, null);
    inCol.appendChild(cv);
  }
  net.appendChild(inCol);
  cols.forEach((n, i) => {
    const col = i === cols.length - 1 ? CL.outputColumn(n, R[i]) : CL.layerColumn(n, i, R[i]);
    col.prepend(CL.blockBar(i, depth));
    net.appendChild(col);
  });
  const first = cols.find(n => n.kind === 'Conv2d') || cols[0];
  document.getElementById('legend').innerHTML = CL.legend(CL.colRange[first.id]);
  const top = CL.run.predicted;
  document.getElementById('prediction').textContent = `prediction: ${CL.model.classes[top]} (${(100 * CL.run.probs[top]).toFixed(1)} %)`;
  requestAnimationFrame(() => CL.drawEdges());
};

CL.layerColumn = function (n, idx, R) {
  const col = CL.el('div', 'column');
  col.dataset.layer = n.id;
  col.dataset.id = n.id;
  const head = CL.el('div', 'col-head' + (n.children ? ' group' : ''));
  const name = n.children ? `${CL.expanded[n.id] ? '▾' : '▸'} ${n.path}` : (CL.SHORT[n.kind] || n.kind);
  head.innerHTML = `${name}<span class="full">${n.path} · ${n.kind}${n.describe ? `(${n.describe})` : ''}</span><span class="shape">${CL.shapeText(n.output_shape)}</span>`;
  if (n.children) {
    head.title = 'a block: click to open it layer by layer';
    head.onclick = () => { CL.expanded[n.id] = true; CL.renderOverview(); };
  }
  col.appendChild(head);
  col.appendChild(CL.el('div', 'col-legend', `±${CL.fmt(R, 2)}`));
  const a = CL.acts[n.id];
  if (!a) return col;
  if (a.maps) {
    const [, h, w] = a.shape;
    a.maps.forEach((m, k) => {
      const ch = a.offset + k;
      const cv = CL.el('canvas', 'map');
      CL.drawMap(cv, m, h, w, v => CL.diverging(v, R));
      cv.dataset.ch = ch;
      cv.onmousemove = ev => {
        const [y, x] = CL.cellAt(ev, cv, h, w);
        let lo = Infinity, hi = -Infinity;
        for (const v of m) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
        CL.tip(ev, `<b>${n.path}</b> ${n.kind}, channel ${ch}<br>value at (${y}, ${x}) = ${CL.fmt(m[y * w + x])}<br>map range ${CL.fmt(lo, 3)} … ${CL.fmt(hi, 3)}<br><i>click for detail</i>`);
        CL.highlight(n.id, cv);
        document.getElementById('legend').innerHTML = CL.legend(R);
      };
      cv.onmouseleave = ev => { CL.tip(ev, null); CL.highlight(null); };
      cv.onclick = () => CL.openDetail(n, ch);
      col.appendChild(cv);
    });
    const total = a.shape[0];
    if (total > CL.PAGE) {
      const pg = CL.el('div', 'pager');
      const prev = CL.el('button', '', '‹'), next = CL.el('button', '', '›');
      prev.disabled = a.offset === 0; next.disabled = a.offset + CL.PAGE >= total;
      prev.onclick = () => CL.page(n, Math.max(0, a.offset - CL.PAGE));
      next.onclick = () => CL.page(n, a.offset + CL.PAGE);
      pg.append(prev, CL.el('span', '', `${a.offset + 1}–${Math.min(total, a.offset + CL.PAGE)} of ${total}`), next);
      col.appendChild(pg);
    }
  } else if (a.values) {
    const v = a.values;
    const cv = CL.el('canvas', 'strip map-strip');
    CL.drawMap(cv, v, v.length, 1, x => CL.diverging(x, R));
    cv.style.height = Math.min(360, Math.max(60, v.length)) + 'px';
    cv.onmousemove = ev => { const [i] = CL.cellAt(ev, cv, v.length, 1); CL.tip(ev, `<b>${n.path}</b> ${n.kind}<br>unit ${i} of ${a.shape[0]} = ${CL.fmt(v[i])}`); CL.highlight(n.id, cv); };
    cv.onmouseleave = ev => { CL.tip(ev, null); CL.highlight(null); };
    cv.onclick = ev => { const [i] = CL.cellAt(ev, cv, v.length, 1); CL.openDetail(n, i); };
    col.appendChild(cv);
  }
  return col;
};

CL.outputColumn = function (n, R) {
  const col = CL.el('div', 'column output');
  col.dataset.layer = n.id;
  col.dataset.id = n.id;
  const head = CL.el('div', 'col-head');
  head.innerHTML = `output<span class="full">${n.path} · ${n.kind}${n.describe ? `(${n.describe})` : ''} + softmax</span><span class="shape">${n.output_shape[0]} classes</span>`;
  col.style.alignItems = 'flex-start';
  col.appendChild(head);
  const order = CL.run.probs.map((p, i) => i);
  const shown = order.length > 20 ? order.sort((a, b) => CL.run.probs[b] - CL.run.probs[a]).slice(0, 20) : order;
  for (const k of shown) {
    const row = CL.el('div', 'out-row' + (k === CL.run.predicted ? ' top' : ''));
    row.dataset.cls = k;
    const dot = CL.el('span', 'dot');
    dot.style.background = CL.css(CL.diverging(CL.run.logits[k], R));
    const bar = CL.el('span', 'bar');
    bar.style.width = Math.max(1, 90 * CL.run.probs[k]) + 'px';
    row.append(dot, CL.el('span', '', CL.model.classes[k]), bar, CL.el('span', '', (100 * CL.run.probs[k]).toFixed(1) + ' %'));
    row.onmousemove = ev => { CL.tip(ev, `<b>${CL.model.classes[k]}</b><br>logit ${CL.fmt(CL.run.logits[k])}<br>probability ${CL.fmt(CL.run.probs[k])}<br><i>click: how this number is computed</i>`); CL.highlight(n.id, row); };
    row.onmouseleave = ev => { CL.tip(ev, null); CL.highlight(null); };
    row.onclick = () => CL.openDetail(n, k);
    col.appendChild(row);
  }
  if (order.length > 20) col.appendChild(CL.el('div', 'pager', `top 20 of ${order.length} classes`));
  return col;
};

CL.page = async function (n, offset) {
  try {
    const a = await CL.api(`/api/layer?input=${encodeURIComponent(CL.run.input_id)}&layer=${encodeURIComponent(n.id)}&offset=${offset}&count=${CL.PAGE}`);
    CL.acts[n.id] = a;
    CL.renderOverview();
  } catch (e) { CL.status(e.message, true); }
};

// Edges: all-to-all into convolutions, dense layers and blocks; one-to-one otherwise.
CL.drawEdges = function () {
  const svg = document.getElementById('edges');
  const wrap = document.getElementById('network-wrap');
  const net = document.getElementById('network');
  svg.setAttribute('width', net.scrollWidth); svg.setAttribute('height', net.scrollHeight);
  svg.innerHTML = '';
  const base = wrap.getBoundingClientRect();
  const colsEl = [...net.querySelectorAll('.column')];
  const cols = CL.columns();
  CL.edgeList = [];
  const items = el => [...el.querySelectorAll('canvas.map, canvas.strip, .out-row')];
  const anchor = (e, right) => { const r = e.getBoundingClientRect(); return [(right ? r.right : r.left) - base.left + wrap.scrollLeft, r.top + r.height / 2 - base.top]; };
  let paths = '';
  for (let i = 1; i < colsEl.length; i++) {
    const n = cols[i - 1];
    const src = items(colsEl[i - 1]), dst = items(colsEl[i]);
    const all = CL.ALL_TO_ALL.includes(n.kind) || n.children || src.length === 1 || dst.length === 1 || src.length !== dst.length;
    dst.forEach((d, j) => {
      const froms = all ? src : [src[j]];
      for (const s of froms) {
        if (!s) continue;
        const [x1, y1] = anchor(s, true), [x2, y2] = anchor(d, false);
        const mx = (x1 + x2) / 2;
        paths += `<path data-to="${i}:${j}" data-from="${i - 1}:${src.indexOf(s)}" d="M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}"/>`;
      }
    });
  }
  svg.innerHTML = paths;
};

// Hover: darken the edges into `el` and outline its sources.
CL.highlight = function (layerId, el) {
  document.querySelectorAll('#edges path.hot').forEach(p => p.classList.remove('hot'));
  document.querySelectorAll('.src').forEach(e => e.classList.remove('src'));
  if (!layerId || !el) return;
  const colsEl = [...document.querySelectorAll('#network .column')];
  const ci = colsEl.findIndex(c => c.dataset.id === layerId);
  const items = [...colsEl[ci].querySelectorAll('canvas.map, canvas.strip, .out-row')];
  const j = items.indexOf(el);
  const srcItems = ci > 0 ? [...colsEl[ci - 1].querySelectorAll('canvas.map, canvas.strip, .out-row')] : [];
  document.querySelectorAll(`#edges path[data-to="${ci}:${j}"]`).forEach(p => {
    p.classList.add('hot');
    const k = Number(p.dataset.from.split(':')[1]);
    if (srcItems[k]) srcItems[k].classList.add('src');
  });
};
