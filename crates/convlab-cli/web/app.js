// ConvLab explainer: the page's entry module. Loads the model, sets up every panel and runs
// the first input. The modules share one state object (state.js).
import { state } from './state.js';
import { api, setStatus } from './api.js';
import { shapeText } from './dom.js';
import { loadSamples, runInput, setupInputs } from './inputs.js';
import { renderOverview, setupOverview } from './overview.js';
import { setupDetail } from './detail.js';
import { setupPlayground } from './playground.js';
import { setupBeyond } from './beyond.js';

// A read-only handle for the browser console and tests (`CL.run.input_id`); nothing writes
// through it.
Object.defineProperty(window, 'CL', {
  value: Object.freeze({
    get model() { return state.model; },
    get run() { return state.run; },
    renderOverview,
  }),
});

async function start() {
  try {
    state.model = await api('/api/model');
  } catch (e) { setStatus(e.message, true); return; }
  const m = state.model;
  (function index(list) { for (const n of list) { state.byId[n.id] = n; if (n.children) index(n.children); } })(m.layers);
  const ds = m.dataset ? `, dataset ${m.dataset.name} (${m.dataset.len} test images)` : '';
  const ep = m.epoch !== null && m.epoch !== undefined ? `, ${m.epoch} epoch(s)` : '';
  document.getElementById('model-info').textContent = `${m.model} — input ${shapeText(m.input_shape)}, ${m.classes.length} classes, ${m.params.toLocaleString()} parameters${ep}${ds}`;
  setupInputs();
  setupOverview();
  setupDetail();
  setupPlayground();
  setupBeyond();
  try {
    await loadSamples();
    if (m.dataset) await runInput({ sample: 0 });
    else await runInput({ pixels: new Array(m.input_shape.reduce((a, b) => a * b, 1)).fill(0) });
    // What the server could not set up (a dataset that is gone) stays visible, as text.
    if (m.warnings && m.warnings.length) setStatus(m.warnings.join(' '), true);
  } catch (e) { setStatus(e.message, true); }
}

start();
