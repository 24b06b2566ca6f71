// The pooling detail: each output's window as the engine visits it (the input positions come
// from the server), its maximum or its sum over the engine's divisor.
import { el, fmt, shapeText } from './dom.js';
import { mapFrame, value } from './maps.js';

// The layer's window settings in words.
function settingsText(p) {
  if (p.op === 'adaptive_avg') return `adaptive windows: ${shapeText(p.input)} → ${shapeText(p.output)}; output o along an axis of size I averages the inputs ⌊o·I/O⌋ … ⌈(o+1)·I/O⌉ − 1`;
  const [t, b, l, r] = p.padding;
  const parts = [`kernel ${shapeText(p.kernel)}`, `stride ${shapeText(p.stride)}`, `padding top/bottom/left/right ${t}/${b}/${l}/${r}`];
  if (p.pad_end && (p.pad_end[0] !== b || p.pad_end[1] !== r)) parts.push(`the last window reaches ${p.pad_end[0]}/${p.pad_end[1]} past the bottom/right (ceil mode)`);
  if (p.op === 'max') parts.push(`dilation ${shapeText(p.dilation)}`);
  parts.push(`ceil mode ${p.ceil_mode ? 'on' : 'off'}`);
  if (p.op === 'avg') parts.push(p.divisor_override ? `divisor ${p.divisor_override}` : p.count_include_pad ? 'padding counts in the divisor' : 'only inputs count in the divisor');
  parts.push(`output ${shapeText(p.output)}`);
  return parts.join(', ');
}

export function poolView(body, d, n, tut) {
  const p = d.pool, inp = d.input, out = d.output;
  const max = p.op === 'max';
  body.appendChild(el('div', 'hint', settingsText(p)));
  mapFrame(body, d, null, pos => {
    const taps = d.windows[pos];
    const xs = taps.map(k => fmt(inp.data[k], 4));
    const y = value(out.data[pos]);
    if (max) {
      const m = d.argmax[pos];
      return { cells: taps, mark: m, parts: [`max(${xs.join(', ')}) = `, y, ` (at (${Math.floor(m / inp.w)}, ${m % inp.w}), marked red)`] };
    }
    return { cells: taps, parts: [`(${xs.join(' + ')}) / ${d.divisors[pos]} = `, y] };
  });
  const windows = p.op === 'adaptive_avg'
    ? `every window (sized so that the output is ${shapeText(p.output)})`
    : `every ${shapeText(p.kernel)} window (moving by ${shapeText(p.stride)})`;
  tut.textContent = `Pooling shrinks each map on its own: ${windows} is replaced by its ${max ? 'largest' : 'average'} value. It has no weights; it keeps the strongest responses and makes the next layers see a larger part of the image. The windows, divisors and maxima shown are the engine's.`;
}
