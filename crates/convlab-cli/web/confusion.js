// The confusion matrix on the test set and the model's most confident mistakes.
import { state } from './state.js';
import { api, query } from './api.js';
import { bold, el, rich } from './dom.js';
import { runInput } from './inputs.js';

export function setupConfusion() {
  document.getElementById('confusion-run').onclick = () => showConfusion();
  if (!state.model.dataset) document.getElementById('confusion').hidden = true;
}

async function showConfusion() {
  const box = document.getElementById('confusion');
  box.replaceChildren(el('span', 'hint', 'running the test set…'));
  try {
    const c = await api(`/api/confusion?${query({ limit: 500 })}`);
    const max = Math.max(1, ...c.matrix.flat());
    const table = el('table', 'confusion');
    const head = el('tr');
    head.append(el('th'), ...c.classes.map(k => el('th', '', k)));
    table.appendChild(head);
    c.matrix.forEach((row, i) => {
      const tr = el('tr');
      tr.appendChild(el('th', '', c.classes[i]));
      row.forEach((v, j) => {
        const td = el('td', '', v);
        td.style.background = i === j ? `rgba(33,102,172,${v / max})` : `rgba(192,57,43,${Math.min(1, 3 * v / max)})`;
        td.style.color = v / max > 0.5 ? '#fff' : '#222';
        tr.appendChild(td);
      });
      table.appendChild(tr);
    });
    const parts = [
      rich('div', '', `accuracy on ${c.n} test images: `, bold(`${(100 * c.accuracy).toFixed(1)} %`), ' (rows: true class, columns: predicted)'),
      table,
    ];
    if (c.mistakes.length) {
      const list = el('div', 'gap', 'Most confident mistakes (click to inspect): ');
      c.mistakes.forEach((m, k) => {
        const a = el('a', '', `#${m.index} ${c.classes[m.label]}→${c.classes[m.predicted]} (${(100 * m.prob).toFixed(0)} %)`);
        a.href = '#';
        a.dataset.i = m.index;
        a.onclick = ev => { ev.preventDefault(); runInput({ sample: m.index }); window.scrollTo({ top: 0, behavior: 'smooth' }); };
        if (k) list.append(', ');
        list.appendChild(a);
      });
      parts.push(list);
    }
    box.replaceChildren(...parts);
  } catch (e) { box.textContent = e.message; }
}
