// The detail panel: fetches one neuron's arithmetic and shows the view for its layer kind
// (convolution, dense and softmax, activation, pooling, other map-by-map layers).
import { state } from './state.js';
import { api, query, setStatus } from './api.js';
import { el } from './dom.js';
import { isOutput } from './overview.js';
import { convView } from './conv.js';
import { linearView } from './dense.js';
import { activationView } from './activation.js';
import { poolView } from './pool.js';
import { mapView } from './maps.js';

export function layerName(n) { return /^\d+$/.test(n.path) ? `layer ${n.path}` : n.path; }

export function openDetail(n, ch) {
  state.sel = { id: n.id, ch };
  refreshDetail();
}

export function setupDetail() {
  document.getElementById('detail-close').onclick = () => { state.sel = null; stopPlayer(); document.getElementById('detail').hidden = true; };
}

export function stopPlayer() { if (state.timer) clearInterval(state.timer); state.timer = null; }

export async function refreshDetail() {
  if (!state.sel || !state.run) return;
  const n = state.byId[state.sel.id];
  const sec = document.getElementById('detail');
  try {
    const input = state.run.input_id;
    const d = await api(`/api/detail?${query({ input, layer: n.id, channel: state.sel.ch, cin_count: 8 })}`);
    stopPlayer();
    d.input_id = input;
    sec.hidden = false;
    const body = document.getElementById('detail-body');
    body.replaceChildren();
    const title = document.getElementById('detail-title');
    const tut = document.getElementById('detail-tut');
    if (d.kind === 'Conv2d') {
      title.textContent = `Convolution: ${layerName(n)}, output channel ${d.channel}`;
      convView(body, d, tut);
    } else if (d.kind === 'Linear') {
      title.textContent = `Dense ${layerName(n)}: ${isOutput(n) ? 'class ' + state.model.classes[d.channel] : 'unit ' + d.channel}`;
      linearView(body, d, n, tut);
    } else if (d.input && d.output) {
      title.textContent = `${n.kind}: ${layerName(n)}, channel ${d.channel}`;
      if (d.windows) poolView(body, d, n, tut);
      else if (d.activation) activationView(body, d, n, tut);
      else mapView(body, d, n, tut);
    } else {
      title.textContent = `${n.kind}: ${layerName(n)}`;
      body.textContent = `input ${JSON.stringify(d.input_shape || [])} → output ${JSON.stringify(d.output_shape || [])}`;
      tut.textContent = '';
    }
    sec.scrollIntoView({ behavior: 'smooth', block: 'nearest' });
  } catch (e) { setStatus(e.message, true); }
}

// Play/pause/step over `count` positions; `show(pos)` draws one.
export function player(box, count, show) {
  const bar = el('div', 'player');
  const play = el('button', '', 'pause'), back = el('button', '', '‹ step'), fwd = el('button', '', 'step ›');
  const label = el('span', 'hint');
  bar.append(play, back, fwd, label);
  box.appendChild(bar);
  let pos = 0;
  const go = p => { pos = (p + count) % count; label.textContent = `position ${pos + 1} of ${count}`; show(pos); };
  const start = () => { stopPlayer(); state.timer = setInterval(() => go(pos + 1), 350); play.textContent = 'pause'; };
  const stop = () => { stopPlayer(); play.textContent = 'play'; };
  play.onclick = () => (state.timer ? stop() : start());
  back.onclick = () => { stop(); go(pos - 1); };
  fwd.onclick = () => { stop(); go(pos + 1); };
  return { go, stop, start, get pos() { return pos; } };
}
