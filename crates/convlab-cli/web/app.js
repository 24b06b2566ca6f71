// ConvLab explainer: shared state, the JSON API, colours, drawing helpers and the inputs.
'use strict';
const CL = {
  model: null,      // GET /api/model
  run: null,        // the last POST /api/run answer
  byId: {},         // layer id -> structure node
  acts: {},         // layer id -> activations of the run
  pages: {},        // layer id -> first map shown
  PAGE: 10,         // maps per column page
  sampleOffset: 0,
  selectedSample: null,
};

CL.api = async function (path, opts) {
  const r = await fetch(path, opts);
  let body;
  try { body = await r.json(); } catch (e) { throw new Error(`${path}: the server sent no JSON (${r.status})`); }
  if (!r.ok) throw new Error(body && body.error ? body.error : `${path}: HTTP ${r.status}`);
  return body;
};

CL.status = function (msg, isError) {
  const s = document.getElementById('status');
  s.textContent = msg || '';
  s.className = isError ? 'error' : '';
};

// ----- numbers and colours ---------------------------------------------------------------
CL.fmt = function (v, digits) {
  if (v === null || v === undefined || !isFinite(v)) return String(v);
  return Number(v).toFixed(digits === undefined ? 4 : digits);
};
// Diverging: red (negative) - white (zero) - blue (positive), t in [-1, 1].
CL.diverging = function (v, R) {
  const t = R > 0 ? Math.max(-1, Math.min(1, v / R)) : 0;
  const [pr, pg, pb] = t >= 0 ? [33, 102, 172] : [192, 57, 43];
  const a = Math.abs(t);
  return [255 + (pr - 255) * a, 255 + (pg - 255) * a, 255 + (pb - 255) * a];
};
CL.gray = function (v) { const g = Math.max(0, Math.min(1, v)) * 255; return [g, g, g]; };
CL.hot = function (t) { // 0..1 -> black-red-yellow-white
  t = Math.max(0, Math.min(1, t));
  return [Math.min(255, t * 3 * 255), Math.max(0, Math.min(255, (t * 3 - 1) * 255)), Math.max(0, Math.min(255, (t * 3 - 2) * 255))];
};
CL.css = function (c) { return `rgb(${c[0] | 0},${c[1] | 0},${c[2] | 0})`; };

// Draws an h×w map into a canvas (one canvas pixel per value; CSS scales it up).
CL.drawMap = function (canvas, data, h, w, colour) {
  canvas.width = w; canvas.height = h;
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(w, h);
  for (let i = 0; i < h * w; i++) {
    const c = colour(data[i], i);
    img.data[4 * i] = c[0]; img.data[4 * i + 1] = c[1]; img.data[4 * i + 2] = c[2]; img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  return canvas;
};
// The image as shown: RGB for 3 channels, gray for one.
CL.drawImage = function (canvas, data, shape) {
  const [c, h, w] = shape;
  const hw = h * w;
  return CL.drawMap(canvas, data, h, w, (v, i) => c === 3 ? [data[i] * 255, data[hw + i] * 255, data[2 * hw + i] * 255] : CL.gray(data[i]));
};
CL.el = function (tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
};
// The cell of an h×w canvas under a mouse event.
CL.cellAt = function (ev, canvas, h, w) {
  const r = canvas.getBoundingClientRect();
  const x = Math.floor((ev.clientX - r.left) / r.width * w), y = Math.floor((ev.clientY - r.top) / r.height * h);
  return [Math.max(0, Math.min(h - 1, y)), Math.max(0, Math.min(w - 1, x))];
};
CL.tip = function (ev, html) {
  const t = document.getElementById('tooltip');
  if (!html) { t.hidden = true; return; }
  t.innerHTML = html; t.hidden = false;
  t.style.left = (ev.clientX + 14) + 'px'; t.style.top = (ev.clientY + 12) + 'px';
};
CL.shapeText = function (s) { return s.join('×'); };

// ----- inputs ------------------------------------------------------------------------------
CL.loadSamples = async function () {
  const box = document.getElementById('samples');
  if (!CL.model.dataset) {
    box.innerHTML = '<span class="hint">no dataset given (start with --dataset to pick test images)</span>';
    document.getElementById('sample-nav').hidden = true;
    return;
  }
  const s = await CL.api(`/api/samples?offset=${CL.sampleOffset}&count=10`);
  box.innerHTML = '';
  for (const smp of s.samples) {
    const t = CL.el('div', 'thumb');
    t.dataset.index = smp.index;
    if (smp.index === CL.selectedSample) t.classList.add('selected');
    t.title = `test image ${smp.index}: ${CL.model.classes[smp.label] || smp.label}`;
    t.appendChild(CL.drawImage(document.createElement('canvas'), smp.data, s.shape));
    t.appendChild(CL.el('span', '', CL.model.classes[smp.label] || smp.label));
    t.onclick = () => CL.runInput({ sample: smp.index });
    box.appendChild(t);
  }
};

CL.runInput = async function (what) {
  try {
    CL.status('running…');
    let r;
    if (what.sample !== undefined) {
      r = await CL.api(`/api/run?maps=${CL.PAGE}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ sample: what.sample }) });
      CL.selectedSample = what.sample;
    } else if (what.file) {
      r = await CL.api(`/api/run?maps=${CL.PAGE}`, { method: 'POST', headers: { 'Content-Type': what.file.type || 'application/octet-stream' }, body: what.file });
      CL.selectedSample = null;
    } else {
      r = await CL.api(`/api/run?maps=${CL.PAGE}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ pixels: what.pixels, shape: CL.model.input_shape }) });
      CL.selectedSample = null;
    }
    CL.setRun(r);
    document.querySelectorAll('.thumb').forEach(t => t.classList.toggle('selected', Number(t.dataset.index) === CL.selectedSample));
    const src = what.sample !== undefined ? `test image ${what.sample}` : what.file ? what.file.name : 'your drawing';
    const label = r.label !== null && r.label !== undefined ? ` (true class: ${CL.model.classes[r.label]})` : '';
    CL.status(`${src}${label}`);
  } catch (e) {
    CL.status(e.message, true);
  }
};

CL.setRun = function (r) {
  CL.run = r;
  CL.acts = {};
  for (const l of r.layers) CL.acts[l.id] = l;
  CL.pages = {};
  CL.renderOverview();
  CL.refreshDetail && CL.refreshDetail();
  CL.refreshBeyond && CL.refreshBeyond();
};

CL.setupDrawing = function () {
  const [c, h, w] = CL.model.input_shape;
  if (c !== 1) return;
  document.getElementById('draw-box').hidden = false;
  const cv = document.getElementById('draw');
  const ctx = cv.getContext('2d');
  const clear = () => { ctx.fillStyle = '#000'; ctx.fillRect(0, 0, cv.width, cv.height); };
  clear();
  let down = false;
  const pos = ev => { const r = cv.getBoundingClientRect(); return [(ev.clientX - r.left) * cv.width / r.width, (ev.clientY - r.top) * cv.height / r.height]; };
  cv.onpointerdown = ev => { down = true; const [x, y] = pos(ev); ctx.beginPath(); ctx.moveTo(x, y); cv.setPointerCapture(ev.pointerId); };
  cv.onpointermove = ev => {
    if (!down) return;
    const [x, y] = pos(ev);
    ctx.strokeStyle = '#fff'; ctx.lineWidth = cv.width / 10; ctx.lineCap = 'round'; ctx.lineJoin = 'round';
    ctx.lineTo(x, y); ctx.stroke();
  };
  cv.onpointerup = () => {
    if (!down) return;
    down = false;
    // Average the drawing down to the model's input size.
    const small = document.createElement('canvas');
    small.width = w; small.height = h;
    const sctx = small.getContext('2d');
    sctx.imageSmoothingEnabled = true; sctx.imageSmoothingQuality = 'high';
    sctx.drawImage(cv, 0, 0, w, h);
    const d = sctx.getImageData(0, 0, w, h).data;
    const px = [];
    for (let i = 0; i < h * w; i++) px.push(d[4 * i] / 255);
    CL.runInput({ pixels: px });
  };
  document.getElementById('draw-clear').onclick = clear;
};

CL.start = async function () {
  try {
    CL.model = await CL.api('/api/model');
  } catch (e) { CL.status(e.message, true); return; }
  const m = CL.model;
  for (const walk of [m.layers]) (function index(list) { for (const n of list) { CL.byId[n.id] = n; if (n.children) index(n.children); } })(walk);
  const ds = m.dataset ? `, dataset ${m.dataset.name} (${m.dataset.len} test images)` : '';
  const ep = m.epoch !== null && m.epoch !== undefined ? `, ${m.epoch} epoch(s)` : '';
  document.getElementById('model-info').textContent = `${m.model} — input ${CL.shapeText(m.input_shape)}, ${m.classes.length} classes, ${m.params.toLocaleString()} parameters${ep}${ds}`;
  document.getElementById('samples-prev').onclick = () => { CL.sampleOffset = Math.max(0, CL.sampleOffset - 10); CL.loadSamples(); };
  document.getElementById('samples-next').onclick = () => { if (m.dataset && CL.sampleOffset + 10 < m.dataset.len) { CL.sampleOffset += 10; CL.loadSamples(); } };
  document.getElementById('upload').onchange = ev => { const f = ev.target.files[0]; if (f) CL.runInput({ file: f }); ev.target.value = ''; };
  CL.setupDrawing();
  CL.setupOverview();
  CL.setupPlayground();
  CL.setupBeyond();
  try {
    await CL.loadSamples();
    if (m.dataset) await CL.runInput({ sample: 0 });
    else await CL.runInput({ pixels: new Array(m.input_shape.reduce((a, b) => a * b, 1)).fill(0) });
  } catch (e) { CL.status(e.message, true); }
};
