//! The built-in dataset: synthetic 28×28 grayscale digits 0–9 that need no files.
//!
//! Honest synthetic data, not MNIST: each image is a digit drawn from a small stroke font
//! (polylines in a unit box), with its control points jittered, then put through a random
//! affine map (rotation ±15°, scale 0.8–1.15 per axis, shear ±0.25, translation ±2.5 px),
//! rendered with an antialiased stroke 1.6–3.2 px wide, plus Gaussian pixel noise
//! (σ 0–0.08), and stored as bytes like MNIST (white digit on black). Image `i` of a split
//! is drawn from its own seed, so generation is parallel and reproducible; labels are
//! balanced (each digit `n/10` times, ±1) in a seeded order.
//!
//! The training split has `builtin_size` images (default 10,000) seeded by
//! [`DataOptions::seed`](super::DataOptions); the test split always has [`TEST_SIZE`] images
//! from a different seed. It is easy on purpose: a LeNet-5 reaches well over 95 % test
//! accuracy within a few epochs, which makes it a quick end-to-end check of training.
//!
//! ```
//! use convlab::data::{builtin, Dataset, DataOptions, Split};
//! let opts = DataOptions { builtin_size: Some(20), ..DataOptions::default() };
//! let ds = builtin::open(Split::Train, &opts);
//! let s = ds.get(0).unwrap();
//! assert_eq!(s.image.len(), 28 * 28);
//! assert!(s.image.iter().all(|v| (0.0..=1.0).contains(v)));
//! assert_eq!(ds.classes()[s.label], s.label.to_string());
//! ```

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;

use super::transforms::mix;
use super::{DataOptions, MemoryDataset, Split};

/// Training images when `builtin_size` is not given.
pub const DEFAULT_TRAIN_SIZE: usize = 10_000;
/// Images in the test split.
pub const TEST_SIZE: usize = 2_000;
/// Pixel mean of the default training split (seed 0, 10,000 images), measured by the test
/// `builtin_statistics` in `tests/data_builtin.rs`.
pub const MEAN: f32 = 0.1442;
/// Pixel standard deviation of the default training split (see [`MEAN`]).
pub const STD: f32 = 0.3034;

const SIZE: usize = 28;
/// Seed offset separating the test split from the training split.
const TEST_SEED: u64 = 0x7E57_5EED_0000_0001;

/// Opens a split (see the module documentation). Generating 10,000 images takes a fraction
/// of a second.
pub fn open(split: Split, opts: &DataOptions) -> MemoryDataset {
    let (n, seed) = match split {
        Split::Train => (opts.builtin_size.unwrap_or(DEFAULT_TRAIN_SIZE), opts.seed),
        Split::Test => (TEST_SIZE, mix(opts.seed, TEST_SEED)),
    };
    generate(n, seed)
}

/// `n` images drawn from `seed`.
pub fn generate(n: usize, seed: u64) -> MemoryDataset {
    let mut labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    labels.shuffle(&mut ChaCha8Rng::seed_from_u64(mix(seed, 0x1abe1)));
    let mut pixels = vec![0u8; n * SIZE * SIZE];
    pixels.par_chunks_mut(SIZE * SIZE).enumerate().for_each(|(i, out)| {
        render(labels[i] as usize, mix(seed, i as u64 + 1), out);
    });
    let classes = (0..10).map(|d| d.to_string()).collect();
    MemoryDataset::new("builtin", [1, SIZE, SIZE], classes, pixels, labels)
}

type Stroke = Vec<(f32, f32)>;

fn ellipse(cx: f32, cy: f32, rx: f32, ry: f32, from: f32, to: f32, steps: usize) -> Stroke {
    (0..=steps)
        .map(|k| {
            let t = (from + (to - from) * k as f32 / steps as f32).to_radians();
            (cx + rx * t.cos(), cy + ry * t.sin())
        })
        .collect()
}

/// The stroke font: each digit as polylines in the unit box (x right, y down).
fn glyph(digit: usize) -> Vec<Stroke> {
    let p = |pts: &[(f32, f32)]| pts.to_vec();
    match digit {
        0 => vec![ellipse(0.5, 0.5, 0.45, 0.5, 0.0, 360.0, 20)],
        1 => vec![p(&[(0.3, 0.2), (0.55, 0.0), (0.55, 1.0)])],
        2 => vec![p(&[
            (0.05, 0.25),
            (0.2, 0.05),
            (0.5, 0.0),
            (0.8, 0.05),
            (0.95, 0.25),
            (0.9, 0.45),
            (0.05, 1.0),
            (1.0, 1.0),
        ])],
        3 => vec![p(&[
            (0.05, 0.1),
            (0.45, 0.0),
            (0.85, 0.1),
            (0.9, 0.27),
            (0.7, 0.45),
            (0.4, 0.48),
            (0.75, 0.52),
            (0.95, 0.72),
            (0.85, 0.92),
            (0.45, 1.0),
            (0.05, 0.9),
        ])],
        4 => vec![p(&[(0.7, 1.0), (0.7, 0.0), (0.0, 0.7), (1.0, 0.7)])],
        5 => vec![p(&[
            (0.9, 0.0),
            (0.15, 0.0),
            (0.1, 0.45),
            (0.5, 0.38),
            (0.85, 0.5),
            (0.95, 0.72),
            (0.8, 0.95),
            (0.4, 1.0),
            (0.05, 0.9),
        ])],
        6 => vec![p(&[
            (0.8, 0.05),
            (0.45, 0.0),
            (0.15, 0.25),
            (0.05, 0.6),
            (0.15, 0.9),
            (0.5, 1.0),
            (0.85, 0.9),
            (0.95, 0.7),
            (0.8, 0.5),
            (0.5, 0.45),
            (0.15, 0.55),
            (0.07, 0.65),
        ])],
        7 => vec![p(&[(0.0, 0.0), (1.0, 0.0), (0.35, 1.0)])],
        8 => vec![ellipse(0.5, 0.24, 0.36, 0.24, 0.0, 360.0, 16), ellipse(0.5, 0.72, 0.45, 0.28, 0.0, 360.0, 16)],
        _ => vec![
            ellipse(0.5, 0.3, 0.42, 0.3, 0.0, 360.0, 16),
            p(&[(0.92, 0.3), (0.9, 0.65), (0.75, 0.95), (0.4, 1.0), (0.15, 0.9)]),
        ],
    }
}

/// Draws `digit` into `out` (28×28 bytes) with the distortions drawn from `seed`.
fn render(digit: usize, seed: u64, out: &mut [u8]) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let jitter = Normal::new(0.0f32, 0.03).unwrap();
    // Glyph box in pixels before the affine map: 12 wide, 18 high, centred.
    let (gw, gh) = (rng.gen_range(10.0..14.0f32), rng.gen_range(16.0..20.0f32));
    let angle = rng.gen_range(-15.0f32..15.0).to_radians();
    let (sx, sy) = (rng.gen_range(0.8f32..1.15), rng.gen_range(0.8f32..1.15));
    let shear = rng.gen_range(-0.25f32..0.25);
    let (tx, ty) = (rng.gen_range(-2.5f32..2.5), rng.gen_range(-2.5f32..2.5));
    let half_width = rng.gen_range(0.8f32..1.6);
    let noise_sigma = rng.gen_range(0.0f32..0.08);
    let (c, s) = (angle.cos(), angle.sin());
    let centre = SIZE as f32 / 2.0;
    // x' = R · Shear · Scale · x + t
    let map = |(x, y): (f32, f32)| {
        let (x, y) = (x * sx, y * sy);
        let (x, y) = (x + shear * y, y);
        (c * x - s * y + centre + tx, s * x + c * y + centre + ty)
    };
    let mut segments = Vec::new();
    for stroke in glyph(digit) {
        let pts: Vec<(f32, f32)> = stroke
            .iter()
            .map(|&(x, y)| {
                let (x, y) = (x + jitter.sample(&mut rng), y + jitter.sample(&mut rng));
                map(((x - 0.5) * gw, (y - 0.5) * gh))
            })
            .collect();
        segments.extend(pts.windows(2).map(|w| (w[0], w[1])));
    }
    let noise = Normal::new(0.0f32, 1.0).unwrap();
    for py in 0..SIZE {
        for px in 0..SIZE {
            let (x, y) = (px as f32 + 0.5, py as f32 + 0.5);
            let d = segments.iter().map(|&(a, b)| segment_distance((x, y), a, b)).fold(f32::INFINITY, f32::min);
            let ink = (half_width + 0.5 - d).clamp(0.0, 1.0);
            let v = (ink + noise_sigma * noise.sample(&mut rng)).clamp(0.0, 1.0);
            out[py * SIZE + px] = (v * 255.0).round() as u8;
        }
    }
}

fn segment_distance(p: (f32, f32), a: (f32, f32), b: (f32, f32)) -> f32 {
    let (abx, aby) = (b.0 - a.0, b.1 - a.1);
    let (apx, apy) = (p.0 - a.0, p.1 - a.1);
    let len2 = abx * abx + aby * aby;
    let t = if len2 > 0.0 { ((apx * abx + apy * aby) / len2).clamp(0.0, 1.0) } else { 0.0 };
    let (dx, dy) = (apx - t * abx, apy - t * aby);
    (dx * dx + dy * dy).sqrt()
}
