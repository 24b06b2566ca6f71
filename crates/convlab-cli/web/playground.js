// The hyperparameter playground: input, kernel, padding (presets, modes), stride, dilation.
// The output size and padding come from the server (the engine's own check).
import { state } from './state.js';
import { api, query } from './api.js';
import { bold, el } from './dom.js';

const pg = state.playground;

export function setupPlayground() {
  const box = document.getElementById('pg-controls');
  const num = (key, label, lo, hi) => {
    const l = el('label', '', label + ' ');
    const i = el('input'); i.type = 'number'; i.min = lo; i.max = hi; i.value = pg[key]; i.id = 'pg-' + key;
    i.oninput = () => { pg[key] = String(i.value); update(); };
    l.appendChild(i); box.appendChild(l);
  };
  const select = (id, options) => {
    const s = el('select'); s.id = id;
    for (const [v, t] of options) { const o = el('option', '', t); o.value = v; s.appendChild(o); }
    return s;
  };
  num('input', 'input size', 1, 16);
  num('kernel', 'kernel', 1, 9);
  const pl = el('label', '', 'padding ');
  const ps = select('pg-preset', [['0', 'explicit'], ['valid', 'valid'], ['same', 'same'], ['full', 'full']]);
  const pn = el('input'); pn.type = 'number'; pn.min = 0; pn.max = 8; pn.value = 0; pn.id = 'pg-padding';
  const setPad = () => { pg.padding = ps.value === '0' ? String(pn.value) : ps.value; pn.disabled = ps.value !== '0'; update(); };
  ps.onchange = setPad; pn.oninput = setPad;
  pl.append(ps, pn); box.appendChild(pl);
  num('stride', 'stride', 1, 6);
  num('dilation', 'dilation', 1, 4);
  const ml = el('label', '', 'padding mode ');
  const ms = select('pg-mode', [['zeros', 'zero'], ['replicate', 'edge'], ['reflect', 'reflect'], ['circular', 'circular']]);
  ms.onchange = () => { pg.mode = ms.value; update(); };
  ml.appendChild(ms); box.appendChild(ml);
  const play = el('button', '', 'pause'); play.id = 'pg-play';
  play.onclick = () => { if (pg.timer) { clearInterval(pg.timer); pg.timer = null; play.textContent = 'play'; } else { start(); play.textContent = 'pause'; } };
  box.appendChild(play);
  update();
  start();
}

function start() {
  if (pg.timer) clearInterval(pg.timer);
  pg.timer = setInterval(() => { pg.pos++; draw(); }, 800);
}

async function update() {
  const f = document.getElementById('pg-formula');
  try {
    const r = await api(`/api/hyper?${query({ input: pg.input, kernel: pg.kernel, padding: pg.padding, stride: pg.stride, dilation: pg.dilation, mode: pg.mode })}`);
    pg.res = r;
    if (r.ok) {
      const [t, b] = r.pad;
      f.className = '';
      f.replaceChildren(`output = ⌊(I + P_start + P_end − D·(F − 1) − 1) / S⌋ + 1 = ⌊(${pg.input} + ${t} + ${b} − ${r.effective_kernel}) / ${pg.stride}⌋ + 1 = `, bold(r.output));
      if (r.remainder) {
        f.append(el('br'), el('span', 'warn', `the last ${r.remainder} row(s)/column(s) are never reached by the window: (I + P − F) is not a multiple of the stride; PyTorch drops them, CNN Explainer calls this stride invalid.`));
      }
    } else {
      f.className = 'bad';
      f.textContent = 'Not possible: ' + r.error;
    }
  } catch (e) { f.className = 'bad'; f.textContent = e.message; }
  draw();
}

// The position in the input of padded cell i along an axis of n cells padded by p0 at the
// start: -1 for a zero, the mirrored / repeated / wrapped cell otherwise.
function source(i, n, p0, mode) {
  const k = i - p0;
  if (k >= 0 && k < n) return k;
  if (mode === 'zeros') return -1;
  if (mode === 'replicate') return Math.max(0, Math.min(n - 1, k));
  if (mode === 'reflect') { const r = k < 0 ? -k : 2 * (n - 1) - k; return Math.max(0, Math.min(n - 1, r)); }
  return ((k % n) + n) % n;
}

function draw() {
  const r = pg.res;
  const ci = document.getElementById('pg-in-canvas'), co = document.getElementById('pg-out-canvas');
  const n = Number(pg.input);
  const [t, b, l, rr] = r && r.ok ? r.pad : [0, 0, 0, 0];
  const N = n + t + b, M = n + l + rr;
  const cell = Math.max(14, Math.min(30, Math.floor(300 / Math.max(N, M, 1))));
  ci.width = M * cell; ci.height = N * cell;
  const ctx = ci.getContext('2d');
  ctx.font = `${Math.floor(cell * 0.45)}px sans-serif`; ctx.textAlign = 'center'; ctx.textBaseline = 'middle';
  const O = r && r.ok ? r.output : 0;
  const pos = O ? pg.pos % (O * O) : 0, oi = O ? Math.floor(pos / O) : 0, oj = O ? pos % O : 0;
  const s = Number(pg.stride), d = Number(pg.dilation), k = Number(pg.kernel);
  const taps = new Set();
  if (O) for (let u = 0; u < k; u++) for (let v = 0; v < k; v++) taps.add((oi * s + u * d) * M + oj * s + v * d);
  for (let y = 0; y < N; y++) for (let x = 0; x < M; x++) {
    const sy = source(y, n, t, pg.mode), sx = source(x, n, l, pg.mode);
    const inside = y >= t && y < t + n && x >= l && x < l + n;
    const val = sy < 0 || sx < 0 ? 0 : sy * n + sx + 1;
    ctx.fillStyle = inside ? '#dbe8f5' : pg.mode === 'zeros' ? '#f3f3f3' : pg.mode === 'replicate' ? '#f7ead9' : pg.mode === 'reflect' ? '#e6f2e1' : '#efe3f3';
    ctx.fillRect(x * cell, y * cell, cell, cell);
    ctx.strokeStyle = inside ? '#9ab' : '#ccc';
    ctx.setLineDash(inside ? [] : [3, 2]);
    ctx.strokeRect(x * cell + 0.5, y * cell + 0.5, cell - 1, cell - 1);
    ctx.fillStyle = inside ? '#234' : '#999';
    ctx.fillText(String(val), x * cell + cell / 2, y * cell + cell / 2);
    if (taps.has(y * M + x)) { ctx.setLineDash([]); ctx.strokeStyle = '#c0392b'; ctx.lineWidth = 2; ctx.strokeRect(x * cell + 1.5, y * cell + 1.5, cell - 3, cell - 3); ctx.lineWidth = 1; }
  }
  ctx.setLineDash([]);
  const oc = Math.max(14, Math.min(30, Math.floor(300 / Math.max(O, 1))));
  co.width = Math.max(1, O * oc); co.height = Math.max(1, O * oc);
  const c2 = co.getContext('2d');
  for (let y = 0; y < O; y++) for (let x = 0; x < O; x++) {
    c2.fillStyle = y === oi && x === oj ? '#c0392b' : (y * O + x < pos ? '#9cc3e6' : '#eef3f8');
    c2.fillRect(x * oc, y * oc, oc, oc);
    c2.strokeStyle = '#fff'; c2.strokeRect(x * oc + 0.5, y * oc + 0.5, oc - 1, oc - 1);
  }
}
