//! `convlab filters`: a convolution layer's kernels as an image grid. Each kernel is scaled
//! to `[0, 1]` on its own; a kernel over 3 input channels is one RGB tile, otherwise each
//! input channel gets its own gray tile (a row per output channel).
//!
//! ```text
//! convlab filters --checkpoint runs/lenet/best.safetensors --layer conv1 --out conv1.png
//! ```

use anyhow::{anyhow, Result};
use clap::Args;
use convlab::train::grid::{draw_grid, min_max, Tile};

use crate::args::{OutArgs, TrainedArgs};

#[derive(Args, Debug)]
#[command(mut_arg("out", |a| a.required(true).help("PNG file to write the kernels to")))]
pub struct FiltersArgs {
    #[command(flatten)]
    pub trained: TrainedArgs,
    /// The layer's name (`conv1`, `features.0`, `layer1.0.conv1`).
    #[arg(long)]
    pub layer: String,
    #[command(flatten)]
    pub output: OutArgs,
    /// Show at most this many output channels.
    #[arg(long, default_value_t = 64)]
    pub max_filters: usize,
}

pub fn run(args: &FiltersArgs) -> Result<()> {
    let out = args.output.path()?;
    let model = args.trained.open()?.module;
    let tensors = model.state_dict();
    let convs: Vec<String> = tensors
        .iter()
        .filter(|(k, v)| k.ends_with(".weight") && v.rank() == 4)
        .map(|(k, _)| k.trim_end_matches(".weight").to_string())
        .collect();
    let key = format!("{}.weight", args.layer.trim_end_matches(".weight"));
    let w = tensors.get(&key).filter(|t| t.rank() == 4).ok_or_else(|| {
        anyhow!(
            "{}: no convolution layer '{}'; convolution layers: {}{}",
            args.trained.file(),
            args.layer,
            convs.iter().take(12).cloned().collect::<Vec<_>>().join(", "),
            if convs.len() > 12 {
                format!(", ... ({} in all; `convlab summary` lists them)", convs.len())
            } else {
                String::new()
            }
        )
    })?;
    let d = w.dims().to_vec();
    let (o, i, kh, kw) = (d[0], d[1], d[2], d[3]);
    let data = w.to_vec();
    let shown = o.min(args.max_filters.max(1));
    let mut tiles = Vec::new();
    let per_in = i.min(16);
    for f in 0..shown {
        let kernel = &data[f * i * kh * kw..(f + 1) * i * kh * kw];
        if i == 3 {
            tiles.push(Tile { pixels: min_max(kernel), shape: [3, kh, kw], caption: String::new() });
        } else {
            let norm = min_max(kernel);
            for c in 0..per_in {
                tiles.push(Tile {
                    pixels: norm[c * kh * kw..(c + 1) * kh * kw].to_vec(),
                    shape: [1, kh, kw],
                    caption: String::new(),
                });
            }
        }
    }
    let cols = if i == 3 { 8 } else { per_in };
    let title = format!("{} {:?}{}", args.layer, d, if shown < o || per_in < i { " (first ones)" } else { "" });
    draw_grid(out, &title, &tiles, cols, 48)?;
    println!("wrote {}: {} kernels of {} ({}×{}, {} input channel(s))", out.display(), shown, args.layer, kh, kw, i);
    Ok(())
}
