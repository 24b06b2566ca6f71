//! `convlab`: the ConvLab command-line tool.
//!
//! Commands:
//! - `convlab conv2d`: the convolution calculator (the lecture's worked examples by hand).
//! - `convlab pool2d`: the pooling calculator.
//! - `convlab run`: inference with a zoo model on a tensor from a safetensors file.
//! - `convlab train` / `eval` / `predict` / `filters` / `features` / `demo`: training and
//!   looking at trained models (one file each).
//! - `convlab summary`: a model's layers, parameters, multiply-adds and receptive fields.
//! - `convlab explain`: the explainer, a local web page showing how a trained model computes.
//! - `convlab bench`: timed workloads (GFLOP/s, fraction of the FMA peak), `--compare` with PyTorch.
//!
//! Errors in what the user gave (bad JSON, ragged lists, impossible shapes, unknown options)
//! print one line and exit with status 2; no panic reaches the user.

mod bench;
mod calc;
mod demo;
mod distributed;
mod eval;
mod explain;
mod features;
mod filters;
mod images;
mod predict;
mod run;
mod summary;
mod train;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "convlab", version, about = "ConvLab: convolutional neural networks, computed and explained")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Convolve (cross-correlate, or with --flip truly convolve) an input with kernels.
    Conv2d(calc::conv::Conv2dArgs),
    /// Max- or average-pool an input.
    Pool2d(calc::pool::Pool2dArgs),
    /// Run a zoo model (eval mode) on the tensor `input` of a safetensors file; write `output`.
    Run(run::RunArgs),
    /// Train a zoo model on a dataset (checkpoints, metrics, curves; Ctrl-C saves, --resume continues).
    Train(Box<train::TrainArgs>),
    /// Evaluate a checkpoint on a test split: accuracy, per-class accuracy, confusion matrix, mistakes.
    Eval(eval::EvalArgs),
    /// Classify image files with a checkpoint.
    Predict(predict::PredictArgs),
    /// Draw a convolution layer's kernels as an image grid.
    Filters(filters::FiltersArgs),
    /// Draw every layer's feature maps for one image.
    Features(features::FeaturesArgs),
    /// Train a small CNN on the built-in dataset for about a minute.
    Demo(demo::DemoArgs),
    /// Summarize a model (zoo name, spec or spec file): shapes, parameters, multiply-adds, receptive fields.
    Summary(summary::SummaryArgs),
    /// Explain a trained model in the browser: every layer, neuron by neuron (a local web server).
    Explain(explain::ExplainArgs),
    /// Benchmark convolutions and models (median ms, GFLOP/s, FMA-peak fraction); --compare runs PyTorch/ONNX Runtime too.
    Bench(bench::BenchArgs),
}

fn main() {
    // Like other Unix tools, end quietly when the reader of our output goes away
    // (`convlab summary resnet50 | head`) instead of failing on the write.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    // Keep large freed buffers for reuse: a fresh page costs more than the arithmetic on it.
    convlab::bench::tune_malloc();
    // Last line of defence: a bug must still end in one line, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| info.payload().downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown panic".into());
        eprintln!("error: internal error: {msg}");
    }));
    let result = std::panic::catch_unwind(|| match cli.command {
        Command::Conv2d(args) => calc::conv::run(&args),
        Command::Pool2d(args) => calc::pool::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Train(args) => train::run(&args),
        Command::Eval(args) => eval::run(&args),
        Command::Predict(args) => predict::run(&args),
        Command::Filters(args) => filters::run(&args),
        Command::Features(args) => features::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Summary(args) => summary::run(&args),
        Command::Explain(args) => explain::run(&args),
        Command::Bench(args) => bench::run(&args),
    });
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
        Err(_) => std::process::exit(70),
    }
}
