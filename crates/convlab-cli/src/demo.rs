//! `convlab demo`: trains LeNet-5 on the built-in dataset for about a minute and says where
//! the checkpoint is and what to try next.

use anyhow::Result;
use clap::Args;
use convlab::train::{OptimizerKind, TrainConfig};

use crate::args::{BuiltinArgs, OutArgs, QuietArgs};

#[derive(Args, Debug)]
#[command(mut_arg("out", |a| a.default_value("runs/demo").help("Output folder")))]
pub struct DemoArgs {
    #[command(flatten)]
    pub output: OutArgs,
    /// Training time in seconds.
    #[arg(long, default_value_t = 60.0)]
    pub seconds: f64,
    #[command(flatten)]
    pub builtin: BuiltinArgs,
    /// Threads for the computation, the rayon pool size (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    #[command(flatten)]
    pub progress: QuietArgs,
    /// Do not start the explainer afterwards (it starts only when the output is a terminal).
    #[arg(long)]
    pub no_explain: bool,
    /// Port of the explainer.
    #[arg(long, default_value_t = 7860)]
    pub port: u16,
}

pub fn run(args: &DemoArgs) -> Result<()> {
    let out = args.output.path()?;
    let config = TrainConfig {
        model: "lenet5".into(),
        dataset: "builtin".into(),
        builtin_size: args.builtin.builtin_size,
        epochs: 20,
        batch_size: 64,
        optimizer: OptimizerKind::Adam,
        lr: 1e-3,
        time_limit_s: Some(args.seconds),
        threads: args.threads,
        ..TrainConfig::default()
    };
    println!("demo: training LeNet-5 on the built-in dataset for about {:.0} s (Ctrl-C stops early)", args.seconds);
    let (_, ckpt) = crate::train::train(config, out.to_path_buf(), None, None, args.progress.quiet)?;
    let best = out.join("best.safetensors");
    println!("checkpoint: {}", ckpt.display());
    println!("best model: {}", best.display());
    println!("curves:     {}", out.join("curves.png").display());
    println!("next: convlab eval --checkpoint {} --dataset builtin", best.display());
    println!("      convlab filters --checkpoint {} --layer conv1 --out conv1.png", best.display());
    println!("      convlab explain --checkpoint {}   # the explainer, in the browser", best.display());
    use std::io::IsTerminal;
    if args.no_explain || !std::io::stdout().is_terminal() {
        return Ok(());
    }
    let ex =
        convlab::explain::Explainer::from_checkpoint(&best, Some("builtin"), &convlab::data::DataOptions::default())?;
    println!("starting the explainer (Ctrl-C ends it)");
    crate::explain::serve(ex, &crate::explain::ServeOptions::local(args.port))
}
