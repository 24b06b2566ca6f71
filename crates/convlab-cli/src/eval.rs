//! `convlab eval`: a trained model on a dataset's test split: accuracy, per-class accuracy,
//! the confusion matrix (printed and `confusion.png`) and the most confident mistakes
//! (`mistakes.png`).
//!
//! ```text
//! convlab eval --checkpoint runs/lenet/best.safetensors --dataset mnist
//! ```

use anyhow::{bail, Result};
use clap::Args;
use convlab::data::{self, DataLoader, DataOptions, LoaderConfig, Split};
use convlab::train::grid::{draw_grid, Tile};
use convlab::train::plot::draw_confusion;
use convlab::train::{evaluate, Prediction};

use crate::args::{BuiltinArgs, DatasetArgs, OutArgs, TrainedArgs};
use convlab::train::trained::Trained;

#[derive(Args, Debug)]
#[command(mut_arg("dataset", |a| a.required(true).help(
    "mnist, fashion-mnist, cifar10, builtin, or a folder of class subfolders: its test split is evaluated"
)))]
#[command(mut_arg("out", |a| a.help("Folder for confusion.png and mistakes.png (default: the folder of the checkpoint, or of the ONNX file)")))]
pub struct EvalArgs {
    #[command(flatten)]
    pub trained: TrainedArgs,
    #[command(flatten)]
    pub data: DatasetArgs,
    #[command(flatten)]
    pub builtin: BuiltinArgs,
    /// Images per evaluation batch.
    #[arg(long, default_value_t = 500)]
    pub batch_size: usize,
    /// Evaluate at most this many images (default: all of them).
    #[arg(long)]
    pub limit: Option<usize>,
    /// How many confident mistakes to show.
    #[arg(long, default_value_t = 32)]
    pub mistakes: usize,
    #[command(flatten)]
    pub output: OutArgs,
}

pub fn run(args: &EvalArgs) -> Result<()> {
    if args.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    let checkpoint = args.trained.file();
    let dataset = args.data.name()?;
    let Trained { module: model, info, .. } = args.trained.open()?;
    let opts = DataOptions {
        data_dir: args.data.data_dir.clone(),
        download: false,
        progress: false,
        builtin_size: args.builtin.builtin_size,
        image_size: Some([info.input_shape[1], info.input_shape[2]]),
        grayscale: Some(info.input_shape[0] == 1),
        ..DataOptions::default()
    };
    let ds = data::open(dataset, Split::Test, &opts)?;
    if ds.image_shape() != info.input_shape {
        bail!(
            "{}: images of shape {:?}, but the model in {} takes {:?}",
            dataset,
            ds.image_shape(),
            checkpoint,
            info.input_shape
        );
    }
    if ds.classes().len() != info.class_names.len() {
        bail!(
            "{}: {} classes, but the model in {} has {}",
            dataset,
            ds.classes().len(),
            checkpoint,
            info.class_names.len()
        );
    }
    let loader = DataLoader::try_new(
        ds.clone(),
        LoaderConfig {
            batch_size: args.batch_size,
            normalize: info.normalization.clone(),
            workers: 1,
            ..LoaderConfig::default()
        },
    )?;
    let ev = evaluate(&*model, &loader, args.limit, true)?;
    let classes = &info.class_names;
    let k = classes.len();
    println!(
        "{}: {} on {} test images: accuracy {:.2}%, loss {:.4}",
        checkpoint,
        info.model,
        ev.count,
        100.0 * ev.accuracy,
        ev.loss
    );
    let m = ev.confusion(k);
    println!("per class:");
    for (i, name) in classes.iter().enumerate() {
        let total: usize = m[i].iter().sum();
        let acc = if total > 0 { 100.0 * m[i][i] as f64 / total as f64 } else { f64::NAN };
        println!("  {name:>12}: {acc:6.2}% of {total}");
    }
    println!("confusion matrix (rows: true class, columns: predicted):");
    let width = m.iter().flatten().max().copied().unwrap_or(0).to_string().len().max(3);
    // Row labels: "index name", names cut at 16 characters.
    let labels: Vec<String> =
        classes
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if *c == i.to_string() {
                    c.clone()
                } else {
                    format!("{i} {}", c.chars().take(16).collect::<String>())
                }
            })
            .collect();
    let lw = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    println!("  {:>lw$} {}", "", (0..k).map(|j| format!("{j:>width$}")).collect::<Vec<_>>().join(" "));
    for (label, row) in labels.iter().zip(&m) {
        println!("  {label:>lw$} {}", row.iter().map(|v| format!("{v:>width$}")).collect::<Vec<_>>().join(" "));
    }
    let beside = args.trained.checkpoint.as_deref().or(args.trained.model.as_deref().map(std::path::Path::new));
    let out = args.output.or_else(|| beside.and_then(|p| p.parent()).map(|p| p.to_path_buf()).unwrap_or_default());
    std::fs::create_dir_all(&out).map_err(|e| anyhow::anyhow!("{}: {e}", out.display()))?;
    let cpath = out.join("confusion.png");
    draw_confusion(&cpath, &m, classes)?;
    println!("wrote {}", cpath.display());
    let mut wrong: Vec<&Prediction> = ev.predictions.iter().filter(|p| p.predicted != p.label).collect();
    wrong.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    wrong.truncate(args.mistakes);
    if wrong.is_empty() {
        println!("no mistakes to show");
        return Ok(());
    }
    let short = |i: usize| classes[i].chars().take(6).collect::<String>();
    let tiles = wrong
        .iter()
        .map(|p| {
            let s = ds.get(p.index)?;
            Ok(Tile {
                pixels: s.image,
                shape: info.input_shape,
                caption: format!("{}>{} {:.0}%", short(p.label), short(p.predicted), 100.0 * p.confidence),
            })
        })
        .collect::<Result<Vec<_>, convlab::Error>>()?;
    let mpath = out.join("mistakes.png");
    draw_grid(&mpath, "most confident mistakes (true>predicted confidence)", &tiles, 8, 96)?;
    println!("wrote {} ({} mistakes, most confident first)", mpath.display(), tiles.len());
    Ok(())
}
