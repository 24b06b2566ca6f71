// The hyperparameter playground: input, kernel, padding (presets, modes), stride, dilation.
'use strict';
CL.pg = { input: 5, kernel: 3, padding: '0', stride: 1, dilation: 1, mode: 'zeros', pos: 0, timer: null };

CL.setupPlayground = function () {
  const box = document.getElementById('pg-controls');
  const num = (key, label, lo, hi) => {
    const l = CL.el('label', '', label + ' ');
    const i = CL.el('input'); i.type = 'number'; i.min = lo; i.max = hi; i.value = CL.pg[key]; i.id = 'pg-' + key;
    i.oninput = () => { CL.pg[key] = String(i.value); CL.pgUpdate(); };
    l.appendChild(i); box.appendChild(l);
  };
  num('input', 'input size', 1, 16);
  num('kernel', 'kernel', 1, 9);
  const pl = CL.el('label', '', 'padding ');
  const ps = CL.el('select'); ps.id = 'pg-preset';
  for (const [v, t] of [['0', 'explicit'], ['valid', 'valid'], ['same', 'same'], ['full', 'full']]) { const o = CL.el('option', '', t); o.value = v; ps.appendChild(o); }
  const pn = CL.el('input'); pn.type = 'number'; pn.min = 0; pn.max = 8; pn.value = 0; pn.id = 'pg-padding';
  const setPad = () => { CL.pg.padding = ps.value === '0' ? String(pn.value) : ps.value; pn.disabled = ps.value !== '0'; CL.pgUpdate(); };
  ps.onchange = setPad; pn.oninput = setPad;
  pl.append(ps, pn); box.appendChild(pl);
  num('stride', 'stride', 1, 6);
  num('dilation', 'dilation', 1, 4);
  const ml = CL.el('label', '', 'padding mode ');
  const ms = CL.el('select'); ms.id = 'pg-mode';
  for (const [v, t] of [['zeros', 'zero'], ['replicate', 'edge'], ['reflect', 'reflect'], ['circular', 'circular']]) { const o = CL.el('option', '', t); o.value = v; ms.appendChild(o); }
  ms.onchange = () => { CL.pg.mode = ms.value; CL.pgUpdate(); };
  ml.appendChild(ms); box.appendChild(ml);
  const play = CL.el('button', '', 'pause'); play.id = 'pg-play';
  play.onclick = () => { if (CL.pg.timer) { clearInterval(CL.pg.timer); CL.pg.timer = null; play.textContent = 'play'; } else { CL.pgStart(); play.textContent = 'pause'; } };
  box.appendChild(play);
  CL.pgUpdate();
  CL.pgStart();
};

CL.pgStart = function () {
  if (CL.pg.timer) clearInterval(CL.pg.timer);
  CL.pg.timer = setInterval(() => { CL.pg.pos++; CL.pgDraw(); }, 800);
};

CL.pgUpdate = async function () {
  const q = CL.pg;
  const f = document.getElementById('pg-formula');
  try {
    const r = await CL.api(`/api/hyper?input=${q.input}&kernel=${q.kernel}&padding=${encodeURIComponent(q.padding)}&stride=${q.stride}&dilation=${q.dilation}&mode=${q.mode}`);
    CL.pg.res = r;
    if (r.ok) {
      const [t, b] = r.pad;
      f.className = '';
      f.innerHTML = `output = ⌊(I + P_start + P_end − D·(F − 1) − 1) / S⌋ + 1 = ⌊(${q.input} + ${t} + ${b} − ${r.effective_kernel}) / ${q.stride}⌋ + 1 = <b>${r.output}</b>` +
        (r.remainder ? `<br><span style="color:#b35900">the last ${r.remainder} row(s)/column(s) are never reached by the window: (I + P − F) is not a multiple of the stride; PyTorch drops them, CNN Explainer calls this stride invalid.</span>` : '');
    } else {
      f.className = 'bad';
      f.textContent = 'Not possible: ' + r.error;
    }
  } catch (e) { f.className = 'bad'; f.textContent = e.message; }
  CL.pgDraw();
};

// The padded value at (y, x) of a padded grid, for each padding mode.
CL.pgIndex = function (i, n, p0, mode) {
  const k = i - p0;
  if (k >= 0 && k < n) return k;
  if (mode === 'zeros') return -1;
  if (mode === 'replicate') return Math.max(0, Math.min(n - 1, k));
  if (mode === 'reflect') { let r = k < 0 ? -k : 2 * (n - 1) - k; return Math.max(0, Math.min(n - 1, r)); }
  return ((k % n) + n) % n;
};

CL.pgDraw = function () {
  const q = CL.pg, r = q.res;
  const ci = document.getElementById('pg-in-canvas'), co = document.getElementById('pg-out-canvas');
  const n = Number(q.input);
  const [t, b, l, rr] = r && r.ok ? r.pad : [0, 0, 0, 0];
  const N = n + t + b, M = n + l + rr;
  const cell = Math.max(14, Math.min(30, Math.floor(300 / Math.max(N, M, 1))));
  ci.width = M * cell; ci.height = N * cell;
  const ctx = ci.getContext('2d');
  ctx.font = `${Math.floor(cell * 0.45)}px sans-serif`; ctx.textAlign = 'center'; ctx.textBaseline = 'middle';
  const O = r && r.ok ? r.output : 0;
  const pos = O ? q.pos % (O * O) : 0, oi = O ? Math.floor(pos / O) : 0, oj = O ? pos % O : 0;
  const s = Number(q.stride), d = Number(q.dilation), k = Number(q.kernel);
  const taps = new Set();
  if (O) for (let u = 0; u < k; u++) for (let v = 0; v < k; v++) taps.add((oi * s + u * d) * M + oj * s + v * d);
  for (let y = 0; y < N; y++) for (let x = 0; x < M; x++) {
    const sy = CL.pgIndex(y, n, t, q.mode), sx = CL.pgIndex(x, n, l, q.mode);
    const inside = y >= t && y < t + n && x >= l && x < l + n;
    const val = sy < 0 || sx < 0 ? 0 : sy * n + sx + 1;
    ctx.fillStyle = inside ? '#dbe8f5' : q.mode === 'zeros' ? '#f3f3f3' : q.mode === 'replicate' ? '#f7ead9' : q.mode === 'reflect' ? '#e6f2e1' : '#efe3f3';
    ctx.fillRect(x * cell, y * cell, cell, cell);
    ctx.strokeStyle = inside ? '#9ab' : '#ccc';
    ctx.setLineDash(inside ? [] : [3, 2]);
    ctx.strokeRect(x * cell + .5, y * cell + .5, cell - 1, cell - 1);
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
    c2.strokeStyle = '#fff'; c2.strokeRect(x * oc + .5, y * oc + .5, oc - 1, oc - 1);
  }
};
