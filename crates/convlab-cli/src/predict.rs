//! `convlab predict`: classifies image files with a trained model. Each image is converted to
//! what the model expects (its channels, its size, the normalization recorded in the
//! checkpoint) and the top classes are printed with their probabilities.
//!
//! ```text
//! convlab predict --checkpoint runs/lenet/best.safetensors digit.png --top-k 3 [--json]
//! ```

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;

use crate::args::{JsonArgs, TrainedArgs};
use crate::images::load_input;
use convlab::train::trained::Trained;

#[derive(Args, Debug)]
#[command(mut_arg("json", |a| a.help("One JSON object per image instead of text")))]
pub struct PredictArgs {
    #[command(flatten)]
    pub trained: TrainedArgs,
    /// Image files (PNG, JPEG, BMP).
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// How many of the most probable classes to print per image.
    #[arg(long, default_value_t = 5)]
    pub top_k: usize,
    #[command(flatten)]
    pub format: JsonArgs,
}

pub fn run(args: &PredictArgs) -> Result<()> {
    if args.top_k == 0 {
        bail!("--top-k must be at least 1");
    }
    let Trained { module: model, info, .. } = args.trained.open()?;
    // Read every image first, so that a bad one fails before any output.
    let inputs = args
        .images
        .iter()
        .map(|p| load_input(p, info.input_shape, info.normalization.as_ref()))
        .collect::<Result<Vec<_>>>()?;
    // Compiled once for inference (batch norms folded).
    let [c, h, w] = info.input_shape;
    let plan = convlab::infer::Plan::or_module(model, &[1, c, h, w]);
    for (path, (x, _)) in args.images.iter().zip(inputs) {
        let probs = plan.run(&x).softmax(-1).to_vec();
        let mut order: Vec<usize> = (0..probs.len()).collect();
        order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
        order.truncate(args.top_k);
        if args.format.json {
            let top: Vec<serde_json::Value> = order
                .iter()
                .map(|&i| serde_json::json!({ "class": i, "name": info.class_names[i], "probability": probs[i] }))
                .collect();
            println!("{}", serde_json::json!({ "image": path.display().to_string(), "top": top }));
        } else {
            let text: Vec<String> =
                order.iter().map(|&i| format!("{} {:.2}%", info.class_names[i], 100.0 * probs[i])).collect();
            println!("{}: {}", path.display(), text.join(", "));
        }
    }
    Ok(())
}
