// Which pixels matter: saliency, guided backpropagation and Grad-CAM for a class.
import { state } from './state.js';
import { api, query } from './api.js';
import { el } from './dom.js';
import { drawImage, drawMap, hot } from './draw.js';

export function setupAttribution() {
  const sel = document.getElementById('attr-class');
  state.model.classes.forEach((c, i) => { const o = el('option', '', c); o.value = i; sel.appendChild(o); });
  sel.onchange = () => refreshAttribution();
  document.getElementById('attr-method').onchange = () => refreshAttribution();
}

export async function refreshAttribution() {
  if (!state.run) return;
  const method = document.getElementById('attr-method').value;
  const cls = document.getElementById('attr-class').value;
  const box = document.getElementById('attribution');
  try {
    const a = await api(`/api/attribution?${query({ input: state.run.input_id, method, class: cls })}`);
    const shape = state.model.input_shape;
    const img = drawImage(el('canvas'), state.run.image.data, shape);
    const hi = a.map.reduce((m, v) => Math.max(m, v), 1e-12);
    const heat = drawMap(el('canvas'), a.map, a.h, a.w, v => hot(v / hi));
    // Overlay: the heatmap scaled to the input over a dimmed image.
    const ov = el('canvas');
    const [, H, W] = shape;
    ov.width = W * 4; ov.height = H * 4;
    const ctx = ov.getContext('2d');
    ctx.imageSmoothingEnabled = false; ctx.globalAlpha = 1; ctx.drawImage(img, 0, 0, ov.width, ov.height);
    ctx.imageSmoothingEnabled = true; ctx.globalAlpha = 0.6; ctx.drawImage(heat, 0, 0, ov.width, ov.height);
    const col = (c, t) => { const d = el('div', 'det-col'); d.append(c, el('div', 'cap', t)); return d; };
    const what = `${method === 'gradcam' ? 'Grad-CAM at ' + a.layer : method} for "${state.model.classes[a.class]}"`;
    box.replaceChildren(col(img, 'input'), col(heat, what), col(ov, 'overlay'));
  } catch (e) { box.textContent = e.message; }
}
