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

mod args;
mod bench;
mod calc;
mod demo;
mod distributed;
mod eval;
mod explain;
mod export;
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
    /// Export a model (zoo name, spec, checkpoint or ONNX file) as an ONNX file.
    Export(export::ExportArgs),
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
        Command::Export(args) => export::run(&args),
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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use clap::{CommandFactory, Parser};
    use convlab::train::{OptimizerKind, TrainConfig};

    use super::{Cli, Command};

    fn parse(line: &str) -> Command {
        match Cli::try_parse_from(std::iter::once("convlab").chain(line.split_whitespace())) {
            Ok(cli) => cli.command,
            Err(e) => panic!("`convlab {line}` does not parse: {e}"),
        }
    }

    fn parse_error(line: &str) -> String {
        match Cli::try_parse_from(std::iter::once("convlab").chain(line.split_whitespace())) {
            Ok(_) => panic!("`convlab {line}` parses"),
            Err(e) => e.to_string(),
        }
    }

    fn path(p: &str) -> Option<PathBuf> {
        Some(PathBuf::from(p))
    }

    #[test]
    fn the_command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// Every argument of every command has a line of help, and every option that takes a
    /// value shows its default: clap's `[default: …]`, or for those without one a help text
    /// that says what happens when it is left out.
    #[test]
    fn every_option_has_help_and_shows_its_default() {
        let mut cli = Cli::command();
        cli.build();
        let mut commands = vec![cli.clone()];
        commands.extend(cli.get_subcommands().cloned());
        let mut problems = Vec::new();
        for mut cmd in commands {
            let name = cmd.get_name().to_string();
            let rendered = cmd.render_long_help().to_string();
            for arg in cmd.get_arguments() {
                let flag = match (arg.get_long(), arg.get_value_names()) {
                    (Some(long), _) => format!("--{long}"),
                    (None, Some(names)) => format!("<{}>", names[0]),
                    (None, None) => arg.get_id().to_string(),
                };
                let help = arg.get_long_help().or(arg.get_help()).map(|h| h.to_string()).unwrap_or_default();
                if help.trim().is_empty() {
                    problems.push(format!("{name} {flag}: no help text"));
                    continue;
                }
                if !arg.get_action().takes_values() || arg.is_required_set() {
                    continue;
                }
                let defaults: Vec<String> =
                    arg.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect();
                if !defaults.is_empty() && !arg.is_hide_default_value_set() {
                    let shown = format!("[default: {}]", defaults.join(", "));
                    if !rendered.contains(&shown) {
                        problems.push(format!("{name} {flag}: the help does not show {shown}"));
                    }
                } else if !help.to_lowercase().contains("default") {
                    problems
                        .push(format!("{name} {flag}: no default, and the help does not say what happens without it"));
                }
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    /// `train`'s options keep the resumed run's value when left out, so their defaults are
    /// written in the help: the same as [`TrainConfig::default`].
    #[test]
    fn train_help_names_the_config_defaults() {
        let d = TrainConfig::default();
        let cmd = Cli::command();
        let train = cmd.find_subcommand("train").unwrap();
        let expected = [
            ("epochs", d.epochs.to_string()),
            ("batch_size", d.batch_size.to_string()),
            ("optimizer", "sgd".to_string()),
            ("lr", d.lr.to_string()),
            ("momentum", d.momentum.to_string()),
            ("weight_decay", d.weight_decay.to_string()),
            ("label_smoothing", d.label_smoothing.to_string()),
            ("schedule", d.schedule.clone()),
            ("seed", d.seed.to_string()),
            ("log_every", d.log_every.to_string()),
            ("crop_padding", d.random_crop_padding.to_string()),
            ("workers", d.workers.to_string()),
        ];
        assert_eq!(d.optimizer, OptimizerKind::Sgd);
        for (id, value) in expected {
            let arg = train.get_arguments().find(|a| a.get_id() == id).unwrap();
            let help = arg.get_help().unwrap().to_string();
            assert!(help.contains(&format!("default: {value}")), "train --{id}: {help:?} should name {value}");
        }
    }

    /// The shared argument groups give the commands the options they always had.
    #[test]
    fn shared_groups_parse_as_before() {
        let Command::Train(a) = parse(
            "train --model lenet5 --dataset mnist --download --epochs 4 --optimizer adam --lr 2e-3 --schedule cosine --out runs/lenet",
        ) else {
            panic!()
        };
        assert_eq!((a.output.out.clone(), a.progress.quiet), (path("runs/lenet"), false));
        let config = crate::train::config(&a, None).unwrap();
        let expected = TrainConfig {
            model: "lenet5".into(),
            dataset: "mnist".into(),
            download: true,
            epochs: 4,
            optimizer: OptimizerKind::Adam,
            lr: 2e-3,
            schedule: "cosine".into(),
            ..TrainConfig::default()
        };
        assert_eq!(config, expected);

        // The README's CIFAR-10 recipe.
        let Command::Train(a) = parse(
            "train --model resnet9_slim_cifar --dataset cifar10 --data-dir data/cifar10 --epochs 10 --batch-size 128 \
             --optimizer sgd --nesterov --momentum 0.9 --lr 0.1 --schedule onecycle --weight-decay 5e-4 \
             --label-smoothing 0.1 --crop-padding 4 --hflip --seed 0 --out runs/cifar10",
        ) else {
            panic!()
        };
        let expected = TrainConfig {
            model: "resnet9_slim_cifar".into(),
            dataset: "cifar10".into(),
            data_dir: path("data/cifar10"),
            epochs: 10,
            batch_size: 128,
            optimizer: OptimizerKind::Sgd,
            nesterov: true,
            momentum: 0.9,
            lr: 0.1,
            schedule: "onecycle".into(),
            weight_decay: 5e-4,
            label_smoothing: 0.1,
            random_crop_padding: 4,
            horizontal_flip: true,
            seed: 0,
            ..TrainConfig::default()
        };
        assert_eq!(crate::train::config(&a, None).unwrap(), expected);
        assert_eq!(a.output.out, path("runs/cifar10"));

        let Command::Train(a) =
            parse("train --resume runs/x/checkpoint.safetensors --data-dir data --builtin-size 300 --quiet")
        else {
            panic!()
        };
        assert_eq!((a.model.model, a.data.dataset), (None, None));
        assert_eq!((a.data.data_dir, a.builtin.builtin_size, a.progress.quiet), (path("data"), Some(300), true));
        assert_eq!((a.resume, a.output.out), (path("runs/x/checkpoint.safetensors"), None));

        let Command::Eval(a) = parse(
            "eval --checkpoint runs/lenet/best.safetensors --dataset mnist --data-dir data/mnist --builtin-size 9",
        ) else {
            panic!()
        };
        assert_eq!(a.trained.checkpoint, Some(PathBuf::from("runs/lenet/best.safetensors")));
        assert_eq!((a.data.dataset.as_deref(), a.data.data_dir), (Some("mnist"), path("data/mnist")));
        assert_eq!((a.builtin.builtin_size, a.output.out, a.batch_size, a.mistakes), (Some(9), None, 500, 32));
        assert!(parse_error("eval --checkpoint c.safetensors").contains("--dataset"));

        let Command::Predict(a) = parse("predict --checkpoint c.safetensors digit.png b.png --top-k 3") else {
            panic!()
        };
        assert_eq!(
            (a.trained.checkpoint, a.images.len(), a.top_k, a.format.json),
            (Some("c.safetensors".into()), 2, 3, false)
        );
        let Command::Predict(a) = parse("predict --checkpoint c.safetensors digit.png --json") else { panic!() };
        assert!(a.format.json);

        let Command::Filters(a) = parse("filters --checkpoint c.safetensors --layer conv1 --out conv1.png") else {
            panic!()
        };
        assert_eq!((a.output.out, a.layer.as_str(), a.max_filters), (path("conv1.png"), "conv1", 64));
        assert!(parse_error("filters --checkpoint c.safetensors --layer conv1").contains("--out"));
        let Command::Features(a) = parse("features --checkpoint c.safetensors --image digit.png --out features/")
        else {
            panic!()
        };
        assert_eq!((a.output.out, a.image, a.max_channels), (path("features/"), "digit.png".into(), 64));
        assert!(parse_error("features --checkpoint c.safetensors --image digit.png").contains("--out"));

        let Command::Demo(a) = parse("demo") else { panic!() };
        assert_eq!((a.output.out, a.builtin.builtin_size, a.progress.quiet), (path("runs/demo"), None, false));
        assert_eq!((a.seconds, a.threads, a.port), (60.0, None, 7860));
        let Command::Demo(a) = parse("demo --out elsewhere --builtin-size 500 --quiet --no-explain") else { panic!() };
        assert_eq!((a.output.out, a.builtin.builtin_size, a.progress.quiet), (path("elsewhere"), Some(500), true));

        let Command::Run(a) =
            parse("run --model lenet5 --weights lenet5.safetensors --input x.safetensors --output y.safetensors")
        else {
            panic!()
        };
        assert_eq!((a.model.model.as_deref(), a.weights), (Some("lenet5"), path("lenet5.safetensors")));
        assert_eq!((a.build.classes, a.build.in_channels, a.build.seed), (None, None, 0));
        assert_eq!((a.input, a.output), ("x.safetensors".into(), "y.safetensors".into()));
        let Command::Run(a) =
            parse("run --input x --output y --classes 10 --in-channels 3 --seed 7 --weights w.safetensors")
        else {
            panic!()
        };
        assert_eq!((a.model.model, a.build.classes, a.build.in_channels, a.build.seed), (None, Some(10), Some(3), 7));

        let Command::Summary(a) = parse("summary lenet5 --input 3x32x32 --classes 10 --in-channels 3 --seed 2 --json")
        else {
            panic!()
        };
        assert_eq!((a.model.as_str(), a.input.as_deref()), ("lenet5", Some("3x32x32")));
        assert_eq!((a.build.classes, a.build.in_channels, a.build.seed, a.format.json), (Some(10), Some(3), 2, true));
        let Command::Summary(a) = parse("summary lenet5 --spec") else { panic!() };
        assert_eq!((a.build.seed, a.format.json, a.spec), (0, false, true));

        let Command::Explain(a) = parse("explain --checkpoint c.safetensors --dataset builtin --data-dir d --port 0")
        else {
            panic!()
        };
        assert_eq!(
            (a.trained.checkpoint, a.data.dataset.as_deref(), a.data.data_dir),
            (Some("c.safetensors".into()), Some("builtin"), path("d"))
        );
        assert_eq!((a.port, a.threads), (0, 8));
        let Command::Explain(a) = parse("explain --checkpoint c.safetensors") else { panic!() };
        assert_eq!((a.data.dataset, a.data.data_dir), (None, None));

        let Command::Conv2d(a) = parse("conv2d --input [[1,2],[3,4]] --kernel [[1]] --json") else { panic!() };
        assert!(a.format.json);
        let Command::Pool2d(a) = parse("pool2d --input [[1,2],[3,4]] --kernel-size 2") else { panic!() };
        assert!(!a.format.json);
        assert!(matches!(parse("bench --json --filter conv2d_fwd --threads 2 --quick"), Command::Bench(_)));
    }
}
