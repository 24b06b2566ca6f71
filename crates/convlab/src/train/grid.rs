//! Image grids as PNG: test images with captions (the most confident mistakes), convolution
//! kernels, feature maps. Each tile is a `C×H×W` image (C = 1 or 3), scaled up by an integer
//! factor with nearest-neighbour pixels, optionally captioned with the bundled font.

use std::path::Path;

use plotters::prelude::*;

use super::plot::{ensure_font, save_rgb_png};
use crate::Error;

/// One tile: `pixels` is `C×H×W` (C = 1 or 3) with values in `[0, 1]`.
#[derive(Clone, Debug)]
pub struct Tile {
    pub pixels: Vec<f32>,
    pub shape: [usize; 3],
    pub caption: String,
}

/// Rescales `values` linearly to `[0, 1]` (a constant slice becomes 0.5).
pub fn min_max(values: &[f32]) -> Vec<f32> {
    let (lo, hi) =
        values.iter().filter(|v| v.is_finite()).fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    // Also when every value is non-finite (lo = f32::MAX, hi = f32::MIN).
    if hi <= lo {
        return vec![0.5; values.len()];
    }
    values.iter().map(|v| if v.is_finite() { (v - lo) / (hi - lo) } else { 0.0 }).collect()
}

/// Draws `tiles` in rows of `cols`, each scaled so its longer side is about `tile_px`
/// pixels, with a `title` line on top (empty: none), to `path`.
pub fn draw_grid(path: &Path, title: &str, tiles: &[Tile], cols: usize, tile_px: usize) -> Result<(), Error> {
    ensure_font();
    let bad = |e: String| Error::Format { path: path.display().to_string(), msg: format!("cannot draw: {e}") };
    if tiles.is_empty() {
        return Err(bad("nothing to draw".into()));
    }
    let cols = cols.clamp(1, tiles.len());
    let rows = tiles.len().div_ceil(cols);
    let (th, tw) = tiles.iter().fold((1, 1), |(h, w), t| (h.max(t.shape[1]), w.max(t.shape[2])));
    let scale = (tile_px / th.max(tw)).max(1);
    let captions = tiles.iter().any(|t| !t.caption.is_empty());
    let cap_h = if captions { 16 } else { 0 };
    let title_h = if title.is_empty() { 0 } else { 24 };
    let gap = 4;
    let cell_w = tw * scale + gap;
    let cell_h = th * scale + gap + cap_h;
    let (w, h) = (
        (cols * cell_w + gap).max(if title.is_empty() { 0 } else { 8 * title.len() + 16 }),
        rows * cell_h + gap + title_h,
    );
    if w * h > 64_000_000 {
        return Err(bad(format!("the grid would be {w}×{h} pixels")));
    }
    let mut buf = vec![255u8; w * h * 3];
    for (k, t) in tiles.iter().enumerate() {
        let [c, th, tw] = t.shape;
        if t.pixels.len() != c * th * tw || !(c == 1 || c == 3) {
            return Err(bad(format!("tile {k} has {} values for shape {:?}", t.pixels.len(), t.shape)));
        }
        let (x0, y0) = (gap + (k % cols) * cell_w, title_h + gap + (k / cols) * cell_h + cap_h);
        for y in 0..th * scale {
            for x in 0..tw * scale {
                let (sy, sx) = (y / scale, x / scale);
                let px = |ch: usize| {
                    (t.pixels[(ch.min(c - 1)) * th * tw + sy * tw + sx].clamp(0.0, 1.0) * 255.0).round() as u8
                };
                let o = ((y0 + y) * w + x0 + x) * 3;
                buf[o] = px(0);
                buf[o + 1] = px(1);
                buf[o + 2] = px(2);
            }
        }
    }
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w as u32, h as u32)).into_drawing_area();
        let err = |e: plotters::drawing::DrawingAreaErrorKind<_>| bad(e.to_string());
        if !title.is_empty() {
            root.draw_text(title, &("sans-serif", 15).into_font().color(&BLACK), (gap as i32, 4)).map_err(err)?;
        }
        for (k, t) in tiles.iter().enumerate().filter(|(_, t)| !t.caption.is_empty()) {
            let (x0, y0) = (gap + (k % cols) * cell_w, title_h + gap + (k / cols) * cell_h);
            let max_chars = (cell_w / 7).max(3);
            let cap: String = t.caption.chars().take(max_chars).collect();
            root.draw_text(&cap, &("sans-serif", 12).into_font().color(&BLACK), (x0 as i32, y0 as i32 + 1))
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    save_rgb_png(path, buf, w as u32, h as u32)
}
