//! Reading an image file as the input a checkpoint's model expects: its channels (gray or
//! RGB), its size (resized with a triangle filter) and its normalization.

use std::path::Path;

use anyhow::{anyhow, Result};
use convlab::checkpoint::Normalization;
use convlab::Tensor;
use image::imageops::FilterType;

/// The image at `path` as `C×H×W` values in `[0, 1]` (not normalized).
pub fn load_pixels(path: &Path, shape: [usize; 3]) -> Result<Vec<f32>> {
    let [c, h, w] = shape;
    // Bounded: the header's size is checked before any pixel buffer is allocated.
    let img = convlab::data::folder::decode_file(path)?;
    let img = img.resize_exact(w as u32, h as u32, FilterType::Triangle);
    let mut out = vec![0.0f32; c * h * w];
    match c {
        1 => {
            let g = img.to_luma8();
            for (i, p) in g.pixels().enumerate() {
                out[i] = p.0[0] as f32 / 255.0;
            }
        }
        3 => {
            let rgb = img.to_rgb8();
            for (i, p) in rgb.pixels().enumerate() {
                for ch in 0..3 {
                    out[ch * h * w + i] = p.0[ch] as f32 / 255.0;
                }
            }
        }
        _ => {
            return Err(anyhow!(
                "the model takes {c}-channel images; only 1 (gray) or 3 (RGB) can be read from image files"
            ))
        }
    }
    Ok(out)
}

/// `(x − mean) / std` per channel.
pub fn normalize(pixels: &mut [f32], shape: [usize; 3], norm: Option<&Normalization>) {
    let Some(n) = norm else { return };
    let plane = shape[1] * shape[2];
    for (ch, chunk) in pixels.chunks_mut(plane).enumerate() {
        let (m, s) = (
            n.mean.get(ch).or(n.mean.first()).copied().unwrap_or(0.0),
            n.std.get(ch).or(n.std.first()).copied().unwrap_or(1.0),
        );
        for v in chunk {
            *v = (*v - m) / s;
        }
    }
}

/// The image as a normalized `[1, C, H, W]` tensor, and its `[0, 1]` pixels.
pub fn load_input(path: &Path, shape: [usize; 3], norm: Option<&Normalization>) -> Result<(Tensor, Vec<f32>)> {
    let raw = load_pixels(path, shape)?;
    let mut x = raw.clone();
    normalize(&mut x, shape, norm);
    Ok((Tensor::from_vec(x, [1, shape[0], shape[1], shape[2]]), raw))
}
