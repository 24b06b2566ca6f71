// The inputs: test images of the dataset, uploads and drawings; running one updates every view.
import { PAGE, state } from './state.js';
import { api, query, setStatus } from './api.js';
import { el } from './dom.js';
import { drawImage } from './draw.js';
import { renderOverview } from './overview.js';
import { refreshDetail } from './detail.js';
import { refreshBeyond } from './beyond.js';

// A sample's label indexes its dataset's classes: the model's names when the dataset has as
// many classes (a model trained on it), else the dataset's own (an imported model).
const className = k => {
  const ds = state.model.dataset;
  const names = ds && ds.classes.length !== state.model.classes.length ? ds.classes : state.model.classes;
  return names[k] || k;
};

export async function loadSamples() {
  const box = document.getElementById('samples');
  if (!state.model.dataset) {
    box.replaceChildren(el('span', 'hint', 'no dataset given (start with --dataset to pick test images)'));
    document.getElementById('sample-nav').hidden = true;
    return;
  }
  const s = await api(`/api/samples?${query({ offset: state.sampleOffset, count: 10 })}`);
  box.replaceChildren();
  for (const smp of s.samples) {
    const t = el('div', 'thumb');
    t.dataset.index = smp.index;
    if (smp.index === state.selectedSample) t.classList.add('selected');
    t.title = `test image ${smp.index}: ${className(smp.label)}`;
    t.append(drawImage(el('canvas'), smp.data, s.shape), el('span', '', className(smp.label)));
    t.onclick = () => runInput({ sample: smp.index });
    box.appendChild(t);
  }
}

// Runs `{sample}`, `{file}` (an upload) or `{pixels}` (a drawing).
export async function runInput(what) {
  try {
    setStatus('running…');
    const url = `/api/run?${query({ maps: PAGE })}`;
    let r;
    if (what.sample !== undefined) {
      r = await api(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ sample: what.sample }) });
      state.selectedSample = what.sample;
    } else if (what.file) {
      r = await api(url, { method: 'POST', headers: { 'Content-Type': what.file.type || 'application/octet-stream' }, body: what.file });
      state.selectedSample = null;
    } else {
      r = await api(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ pixels: what.pixels, shape: state.model.input_shape }) });
      state.selectedSample = null;
    }
    setRun(r);
    document.querySelectorAll('.thumb').forEach(t => t.classList.toggle('selected', Number(t.dataset.index) === state.selectedSample));
    const src = what.sample !== undefined ? `test image ${what.sample}` : what.file ? what.file.name : 'your drawing';
    const label = r.label !== null && r.label !== undefined ? ` (true class: ${className(r.label)})` : '';
    setStatus(`${src}${label}`);
  } catch (e) {
    setStatus(e.message, true);
  }
}

function setRun(r) {
  state.run = r;
  state.acts = {};
  for (const l of r.layers) state.acts[l.id] = l;
  renderOverview();
  refreshDetail();
  refreshBeyond();
}

function setupDrawing() {
  const [c, h, w] = state.model.input_shape;
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
    const small = el('canvas');
    small.width = w; small.height = h;
    const sctx = small.getContext('2d');
    sctx.imageSmoothingEnabled = true; sctx.imageSmoothingQuality = 'high';
    sctx.drawImage(cv, 0, 0, w, h);
    const d = sctx.getImageData(0, 0, w, h).data;
    const px = [];
    for (let i = 0; i < h * w; i++) px.push(d[4 * i] / 255);
    runInput({ pixels: px });
  };
  document.getElementById('draw-clear').onclick = clear;
}

// The sample strip's paging, the upload button and the drawing box.
export function setupInputs() {
  const m = state.model;
  document.getElementById('samples-prev').onclick = () => { state.sampleOffset = Math.max(0, state.sampleOffset - 10); loadSamples(); };
  document.getElementById('samples-next').onclick = () => { if (m.dataset && state.sampleOffset + 10 < m.dataset.len) { state.sampleOffset += 10; loadSamples(); } };
  document.getElementById('upload').onchange = ev => { const f = ev.target.files[0]; if (f) runInput({ file: f }); ev.target.value = ''; };
  setupDrawing();
}
