//! Per-sample transforms on `C×H×W` images in `[0, 1]`: seeded augmentation (random crop
//! after zero padding, horizontal flip — torchvision's `RandomCrop(size, padding)` and
//! `RandomHorizontalFlip()`, in that order) and per-channel normalization.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::Normalization;

/// Training-time augmentation. `Default` is no augmentation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Augment {
    /// Pad each side with this many zero pixels, then crop a random `H×W` window
    /// (0 = off).
    pub random_crop_padding: usize,
    /// Mirror left–right with probability 1/2.
    pub horizontal_flip: bool,
}

impl Augment {
    /// True when nothing is changed.
    pub fn is_off(&self) -> bool {
        self.random_crop_padding == 0 && !self.horizontal_flip
    }
}

/// SplitMix64 finalizer: a well-mixed 64-bit value from two (used to derive per-epoch and
/// per-sample seeds that do not collide for nearby inputs).
pub(crate) fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.wrapping_add(0x9E37_79B9_7F4A_7C15).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Applies `aug` to `image` (`shape` = `[C, H, W]`) with randomness drawn from `seed` alone,
/// so the result depends only on the seed (the loader derives it from
/// `(seed, epoch, index)`). The crop offset is drawn first, then the flip.
///
/// ```
/// use convlab::data::{augment, Augment};
/// let img: Vec<f32> = (0..9).map(|v| v as f32).collect();
/// let flip = Augment { random_crop_padding: 0, horizontal_flip: true };
/// let outs: Vec<Vec<f32>> = (0..8).map(|s| augment(&img, [1, 3, 3], &flip, s)).collect();
/// assert!(outs.iter().any(|o| *o == img));
/// assert!(outs.iter().any(|o| *o == vec![2., 1., 0., 5., 4., 3., 8., 7., 6.]));
/// ```
pub fn augment(image: &[f32], shape: [usize; 3], aug: &Augment, seed: u64) -> Vec<f32> {
    let [c, h, w] = shape;
    assert_eq!(image.len(), c * h * w, "augment: image of {} values for shape {shape:?}", image.len());
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let p = aug.random_crop_padding as isize;
    let (dy, dx) = if p > 0 { (rng.gen_range(-p..=p), rng.gen_range(-p..=p)) } else { (0, 0) };
    let flip = aug.horizontal_flip && rng.gen_bool(0.5);
    let mut out = vec![0.0f32; image.len()];
    for ch in 0..c {
        let src = &image[ch * h * w..(ch + 1) * h * w];
        let dst = &mut out[ch * h * w..(ch + 1) * h * w];
        for y in 0..h {
            let sy = y as isize + dy;
            if sy < 0 || sy >= h as isize {
                continue; // padding: zeros
            }
            for x in 0..w {
                // The flip mirrors the cropped window: output column x reads window column w-1-x.
                let wx = if flip { w - 1 - x } else { x };
                let sx = wx as isize + dx;
                if sx >= 0 && sx < w as isize {
                    dst[y * w + x] = src[sy as usize * w + sx as usize];
                }
            }
        }
    }
    out
}

/// `x' = (x − mean[c]) / std[c]` in place, per channel (`shape` = `[C, H, W]`). A
/// normalization with one value is applied to every channel.
///
/// ```
/// use convlab::data::{normalize, Normalization};
/// let mut img = vec![0.5, 1.0, 0.0, 0.25];
/// normalize(&mut img, [2, 1, 2], &Normalization { mean: vec![0.5, 0.0], std: vec![0.5, 0.25] });
/// assert_eq!(img, vec![0.0, 1.0, 0.0, 1.0]);
/// ```
pub fn normalize(image: &mut [f32], shape: [usize; 3], norm: &Normalization) {
    let [c, h, w] = shape;
    let plane = h * w;
    for ch in 0..c {
        let pick = |v: &[f32]| if v.len() == 1 { v[0] } else { v[ch] };
        let (m, s) = (pick(&norm.mean), pick(&norm.std));
        let inv = 1.0 / s;
        for v in &mut image[ch * plane..(ch + 1) * plane] {
            *v = (*v - m) * inv;
        }
    }
}

/// Checks that `norm` fits images with `channels` channels (one value, or one per channel,
/// positive standard deviations).
pub(crate) fn check_normalization(norm: &Normalization, channels: usize) -> Result<(), String> {
    let ok_len = |n: usize| n == 1 || n == channels;
    if !ok_len(norm.mean.len()) || !ok_len(norm.std.len()) {
        return Err(format!(
            "normalization with {} mean and {} std values does not fit {channels}-channel images",
            norm.mean.len(),
            norm.std.len()
        ));
    }
    if norm.std.iter().any(|&s| s.is_nan() || s <= 0.0 || !s.is_finite()) || norm.mean.iter().any(|m| !m.is_finite()) {
        return Err(format!("normalization std must be positive and finite: {:?} / {:?}", norm.mean, norm.std));
    }
    Ok(())
}
