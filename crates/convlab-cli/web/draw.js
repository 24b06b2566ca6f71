// Colours and canvases: heatmaps of maps, images, enlarged maps with overlays.

// Diverging: red (negative) - white (zero) - blue (positive), v / R clamped to [-1, 1].
export function diverging(v, R) {
  const t = R > 0 ? Math.max(-1, Math.min(1, v / R)) : 0;
  const [pr, pg, pb] = t >= 0 ? [33, 102, 172] : [192, 57, 43];
  const a = Math.abs(t);
  return [255 + (pr - 255) * a, 255 + (pg - 255) * a, 255 + (pb - 255) * a];
}
export function gray(v) { const g = Math.max(0, Math.min(1, v)) * 255; return [g, g, g]; }
// 0..1 -> black-red-yellow-white.
export function hot(t) {
  t = Math.max(0, Math.min(1, t));
  return [Math.min(255, t * 3 * 255), Math.max(0, Math.min(255, (t * 3 - 1) * 255)), Math.max(0, Math.min(255, (t * 3 - 2) * 255))];
}
export function css(c) { return `rgb(${c[0] | 0},${c[1] | 0},${c[2] | 0})`; }

// Draws an h×w map into a canvas (one canvas pixel per value; CSS scales it up).
export function drawMap(canvas, data, h, w, colour) {
  canvas.width = w; canvas.height = h;
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(w, h);
  for (let i = 0; i < h * w; i++) {
    const c = colour(data[i], i);
    img.data[4 * i] = c[0]; img.data[4 * i + 1] = c[1]; img.data[4 * i + 2] = c[2]; img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  return canvas;
}

// The image as shown: RGB for 3 channels, gray for one.
export function drawImage(canvas, data, shape) {
  const [c, h, w] = shape;
  const hw = h * w;
  return drawMap(canvas, data, h, w, (v, i) => c === 3 ? [data[i] * 255, data[hw + i] * 255, data[2 * hw + i] * 255] : gray(data[i]));
}

// A map `{h, w, data}` drawn large: `cell` screen pixels per value, then `overlay(ctx, cell)`.
export function bigMap(canvas, m, colour, cell, overlay) {
  const off = drawMap(document.createElement('canvas'), m.data, m.h, m.w, colour);
  canvas.width = m.w * cell; canvas.height = m.h * cell;
  canvas.className = 'big';
  const ctx = canvas.getContext('2d');
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(off, 0, 0, canvas.width, canvas.height);
  if (overlay) overlay(ctx, cell);
  return canvas;
}
export function cellSize(h, w, target) { return Math.max(3, Math.min(16, Math.floor((target || 150) / Math.max(h, w)))); }
export function rect(ctx, x, y, w, h, cell, colour, lw) { ctx.strokeStyle = colour; ctx.lineWidth = lw || 2; ctx.strokeRect(x * cell + 1, y * cell + 1, w * cell - 2, h * cell - 2); }

// The largest |v| of `values`, at least 1e-6.
export function absMax(values) { let r = 1e-6; for (const v of values) r = Math.max(r, Math.abs(v)); return r; }
