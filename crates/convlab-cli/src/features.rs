//! `convlab features`: every layer's output (feature maps) for one image, as PNG grids in a
//! folder, one file per module in the order they ran (`00_input.png`, `01_conv1.png`, ...).
//! Each channel is scaled to `[0, 1]` on its own. Outputs without a spatial layout (after
//! flattening) are listed but not drawn.
//!
//! ```text
//! convlab features --checkpoint runs/lenet/best.safetensors --image digit.png --out features/
//! ```

use std::path::PathBuf;

use anyhow::{anyhow, Result};
use clap::Args;
use convlab::nn::{Forward, Mode};
use convlab::no_grad;
use convlab::train::grid::{draw_grid, min_max, Tile};

use crate::args::{OutArgs, TrainedArgs};
use crate::images::load_input;
use convlab::train::trained::Trained;

#[derive(Args, Debug)]
#[command(mut_arg("out", |a| a.required(true).help("Folder for the PNG files, one per layer")))]
pub struct FeaturesArgs {
    #[command(flatten)]
    pub trained: TrainedArgs,
    /// The image file to run (PNG, JPEG, BMP).
    #[arg(long)]
    pub image: PathBuf,
    #[command(flatten)]
    pub output: OutArgs,
    /// Draw at most this many channels per layer.
    #[arg(long, default_value_t = 64)]
    pub max_channels: usize,
}

pub fn run(args: &FeaturesArgs) -> Result<()> {
    let out = args.output.path()?;
    let Trained { module: model, info, .. } = args.trained.open()?;
    let (x, raw) = load_input(&args.image, info.input_shape, info.normalization.as_ref())?;
    std::fs::create_dir_all(out).map_err(|e| anyhow!("{}: {e}", out.display()))?;
    let input = Tile { pixels: raw, shape: info.input_shape, caption: String::new() };
    draw_grid(&out.join("00_input.png"), "input", &[input], 1, 128)?;
    let mut fwd = Forward::recording(Mode::Eval, 0);
    let logits = no_grad(|| model.forward(&x, &mut fwd));
    let mut written = 1;
    for (n, rec) in fwd.take_recorded().into_iter().enumerate() {
        let d = rec.output.dims().to_vec();
        if d.len() != 4 {
            println!("{:>3} {:<20} {:<12} {:?} (not drawn)", n + 1, rec.path, rec.kind, d);
            continue;
        }
        let (c, h, w) = (d[1], d[2], d[3]);
        let data = rec.output.to_vec();
        let shown = c.min(args.max_channels.max(1));
        let tiles: Vec<Tile> = (0..shown)
            .map(|ch| Tile {
                pixels: min_max(&data[ch * h * w..(ch + 1) * h * w]),
                shape: [1, h, w],
                caption: String::new(),
            })
            .collect();
        let file = out.join(format!("{:02}_{}.png", n + 1, rec.path.replace('/', "_")));
        let title = format!("{} ({}) {:?}{}", rec.path, rec.kind, d, if shown < c { " (first channels)" } else { "" });
        draw_grid(&file, &title, &tiles, 8, 64)?;
        println!("{:>3} {:<20} {:<12} {:?} -> {}", n + 1, rec.path, rec.kind, d, file.display());
        written += 1;
    }
    let probs = logits.softmax(-1).to_vec();
    let best = probs.iter().enumerate().fold((0, f32::MIN), |b, (i, &p)| if p > b.1 { (i, p) } else { b });
    println!(
        "wrote {written} images to {}; prediction: {} ({:.2}%)",
        out.display(),
        info.class_names[best.0],
        100.0 * best.1
    );
    Ok(())
}
