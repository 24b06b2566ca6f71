// The activation detail: the function with the layer's own settings, its curve as the engine
// evaluates it, and each value of one channel through it.
import { el, fmt } from './dom.js';
import { mapFrame, value } from './maps.js';

const num = v => String(Number(v));
// A negative number after an operator, in parentheses.
const par = x => (x.startsWith('-') ? `(${x})` : x);

// The formula of each activation (the engine's `Activation` names) for the input text `x`.
const FORMULAS = {
  relu: (a, x) => `max(0, ${x})`,
  leaky_relu: (a, x) => `${x} > 0 ? ${x} : ${num(a.negative_slope)}·${par(x)}`,
  elu: (a, x) => `${x} > 0 ? ${x} : ${num(a.alpha)}·(e^${par(x)} − 1)`,
  softplus: (a, x) => `${num(a.beta)}·${par(x)} > ${num(a.threshold)} ? ${x} : log(1 + e^(${num(a.beta)}·${par(x)})) / ${num(a.beta)}`,
  sigmoid: (a, x) => `1 / (1 + e^−${par(x)})`,
  tanh: (a, x) => `tanh(${x})`,
  gelu: (a, x) => a.approximate === 'tanh' ? `0.5·${par(x)}·(1 + tanh(√(2/π)·(${x} + 0.044715·${par(x)}³)))` : `0.5·${par(x)}·(1 + erf(${x} / √2))`,
  silu: (a, x) => `${x} · σ(${x})`,
  relu6: (a, x) => `min(max(0, ${x}), 6)`,
  hardsigmoid: (a, x) => `min(max(0, ${num(a.alpha)}·${par(x)} + ${num(a.beta)}), 1)`,
  hardswish: (a, x) => `${par(x)}·min(max(0, ${x} + 3), 6) / 6`,
  selu: (a, x) => `${x} > 0 ? 1.050701·${par(x)} : 1.050701·1.6732632·(e^${par(x)} − 1)`,
  identity: (a, x) => x,
};

// The formula of activation `a` (`{name, ...settings}`) at `x` (a string).
export function formula(a, x, kind) {
  const f = FORMULAS[a.name];
  return f ? f(a, x) : `${kind}(${x})`;
}

// The layer's settings as PyTorch writes them: "negative_slope=0.01", "approximate='none'".
function settings(a) {
  return Object.entries(a).filter(([k]) => k !== 'name').map(([k, v]) => typeof v === 'string' ? `${k}='${v}'` : `${k}=${num(v)}`).join(', ');
}

// The engine's curve `{x, y}` with the point (x, y) on it.
function plotCurve(cv, curve, x, y) {
  const ctx = cv.getContext('2d'), W = cv.width, H = cv.height;
  ctx.clearRect(0, 0, W, H);
  const xs = curve.x, ys = curve.y;
  const x0 = xs[0], x1 = xs[xs.length - 1];
  const lo = Math.min(0, ...ys), hi = Math.max(1e-6, ...ys);
  const X = v => (v - x0) / (x1 - x0) * (W - 10) + 5, Y = v => H - 5 - (v - lo) / (hi - lo) * (H - 10);
  ctx.strokeStyle = '#bbb'; ctx.lineWidth = 1; ctx.beginPath(); ctx.moveTo(X(x0), Y(0)); ctx.lineTo(X(x1), Y(0)); ctx.moveTo(X(0), 0); ctx.lineTo(X(0), H); ctx.stroke();
  ctx.strokeStyle = '#2166ac'; ctx.lineWidth = 2; ctx.beginPath();
  ys.forEach((v, k) => (k ? ctx.lineTo(X(xs[k]), Y(v)) : ctx.moveTo(X(xs[k]), Y(v))));
  ctx.stroke();
  ctx.fillStyle = '#c0392b'; ctx.beginPath(); ctx.arc(X(x), Y(y), 4, 0, 7); ctx.fill();
}

export function activationView(body, d, n, tut) {
  const a = d.activation, inp = d.input, out = d.output;
  const graph = el('canvas');
  graph.width = 180; graph.height = 140; graph.className = 'big';
  const cg = el('div', 'det-col');
  const s = settings(a);
  cg.append(el('div', 'cap', `${n.kind}${s ? `(${s})` : ''}: y = ${formula(a, 'x', n.kind)}`), graph);
  mapFrame(body, d, cg, (p, i, j) => {
    const k = i * inp.w + j, x = inp.data[k], y = out.data[p];
    plotCurve(graph, d.curve, x, y);
    return { cells: [k], parts: [`${n.kind}: ${formula(a, fmt(x, 4), n.kind)} = `, value(y)] };
  });
  tut.textContent = `An activation function is applied to every value on its own, so each map keeps its size. ${a.name === 'relu' ? 'ReLU keeps positive values and turns negative ones into zero: that is what makes the network non-linear.' : ''} The graph shows the function with the layer's settings, as the engine computes it, and the current value.`;
}
