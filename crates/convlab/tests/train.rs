//! The training loop on a small synthetic dataset: learning, output files, metrics lines,
//! best checkpoint, the stop flag (Ctrl-C) and exact resuming.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use convlab::checkpoint;
use convlab::data::Dataset;
use convlab::train::metrics::{Collect, Observer, Progress, Record};
use convlab::train::state::{optimizer_path, read_resumable};
use convlab::train::{OptimizerKind, Outcome, TrainConfig, Trainer};

mod common;
use common::{stripes, Stripes};

/// `n` noisy 1×28×28 images of 4 classes: a bright horizontal bar in one of four bands.
fn toy(n: usize, seed: u64) -> Arc<dyn Dataset> {
    let spec = Stripes { side: 28, classes: 4, first_row: 3, spacing: 6, jitter: 3 };
    stripes(n, &spec, seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407))
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("train-tests").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn config() -> TrainConfig {
    TrainConfig {
        model: "lenet5".into(),
        dataset: "toy".into(),
        epochs: 3,
        batch_size: 16,
        optimizer: OptimizerKind::Adam,
        lr: 6e-3,
        log_every: 2,
        threads: Some(1),
        workers: 0,
        ..TrainConfig::default()
    }
}

fn trainer(config: TrainConfig) -> Trainer {
    Trainer::new(config, toy(96, 1), Some(toy(48, 2)), None).unwrap()
}

fn params(t: &Trainer) -> Vec<(String, Vec<f32>)> {
    t.model.state_dict().into_iter().map(|(k, v)| (k, v.to_vec())).collect()
}

#[test]
fn training_learns_and_writes_its_files() {
    let dir = scratch("learns");
    let mut t = trainer(config());
    t.set_output(&dir);
    let mut seen = Collect::default();
    let summary = t.run(&mut seen).unwrap();
    assert_eq!(summary.outcome, Outcome::Finished);
    assert_eq!(summary.state.step, 18);
    assert_eq!(summary.state.epoch, 3);
    let epochs: Vec<&Record> = seen.0.iter().filter(|r| r.kind == "epoch").collect();
    assert_eq!(epochs.len(), 3);
    assert!(epochs[2].loss < epochs[0].loss * 0.7, "loss did not fall: {epochs:?}");
    assert!(epochs[2].train_acc > epochs[0].train_acc, "{epochs:?}");
    assert!(epochs[2].test_acc.unwrap() >= 0.9, "{epochs:?}");
    // config.json
    let cfg: TrainConfig = serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg, config());
    // metrics.jsonl: one line per logged step and per epoch, every field present.
    let text = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 9 + 3);
    for l in &lines {
        for key in
            ["kind", "step", "epoch", "loss", "lr", "train_acc", "test_acc", "test_loss", "images_per_sec", "wall_time"]
        {
            assert!(l.get(key).is_some(), "{key} missing in {l}");
        }
    }
    assert_eq!(lines.last().unwrap()["kind"], "epoch");
    assert!(lines.last().unwrap()["test_acc"].as_f64().unwrap() >= 0.9);
    assert!(lines[0]["lr"].as_f64().unwrap() > 0.0 && lines[0]["images_per_sec"].as_f64().unwrap() > 0.0);
    // Checkpoints: model + metadata, optimizer state, best.
    let back = Trainer::new(config(), toy(96, 1), None, None).unwrap();
    let meta = checkpoint::load_into(dir.join("checkpoint.safetensors"), &*back.model).unwrap();
    assert_eq!(params(&back), params(&t));
    assert_eq!(meta.model, "lenet5");
    assert_eq!(meta.epoch, Some(3));
    assert_eq!(meta.class_names, ["a", "b", "c", "d"]);
    assert_eq!(meta.config["input_shape"], serde_json::json!([1, 28, 28]));
    let r = read_resumable(&dir.join("checkpoint.safetensors")).unwrap();
    assert_eq!(r.state.step, 18);
    let (opt, ometa) = checkpoint::load_tensors(optimizer_path(&dir.join("checkpoint.safetensors"))).unwrap();
    assert!(opt.contains_key("conv1.weight.exp_avg") && opt.contains_key("fc3.bias.step"));
    assert_eq!(ometa["optimizer"], "adam");
    assert!(dir.join("best.safetensors").exists());
    // curves.png is a PNG of the documented size.
    let png = std::fs::read(dir.join("curves.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    let (w, h) =
        (u32::from_be_bytes(png[16..20].try_into().unwrap()), u32::from_be_bytes(png[20..24].try_into().unwrap()));
    assert_eq!((w, h), (1000, 400));
}

#[test]
fn best_checkpoint_holds_the_best_test_accuracy() {
    let dir = scratch("best");
    // A high learning rate makes the test accuracy go up and down.
    let mut t = trainer(TrainConfig { epochs: 4, optimizer: OptimizerKind::Sgd, lr: 0.08, momentum: 0.9, ..config() });
    t.set_output(&dir);
    let mut seen = Collect::default();
    let summary = t.run(&mut seen).unwrap();
    let epochs: Vec<&Record> = seen.0.iter().filter(|r| r.kind == "epoch").collect();
    let best = epochs.iter().map(|r| r.test_acc.unwrap()).fold(f64::MIN, f64::max);
    // The first epoch that reached the best accuracy.
    let first_best = epochs.iter().find(|r| r.test_acc.unwrap() == best).unwrap();
    assert_eq!(summary.state.best_test_acc, Some(best));
    assert_eq!(summary.state.best_step, Some(first_best.step));
    let r = read_resumable(&dir.join("best.safetensors")).unwrap();
    assert_eq!(r.state.step, first_best.step);
    assert_eq!(r.state.best_test_acc, Some(best));
}

/// Raises the stop flag after `at` steps (what the Ctrl-C handler does).
struct StopAt {
    at: usize,
    flag: Arc<AtomicBool>,
    records: Vec<Record>,
}

impl Observer for StopAt {
    fn step(&mut self, p: &Progress) {
        if p.step == self.at {
            self.flag.store(true, Ordering::SeqCst);
        }
    }
    fn record(&mut self, r: &Record) {
        self.records.push(r.clone());
    }
}

fn resume_matches_uninterrupted(name: &str, config: TrainConfig, stop_at: usize) {
    let straight = {
        let mut t = trainer(config.clone());
        t.run(&mut Collect::default()).unwrap();
        params(&t)
    };
    let dir = scratch(name);
    let mut first = trainer(config.clone());
    first.set_output(&dir);
    let mut obs = StopAt { at: stop_at, flag: first.stop_flag(), records: Vec::new() };
    let s = first.run(&mut obs).unwrap();
    assert_eq!(s.outcome, Outcome::Stopped);
    assert_eq!(s.state.step, stop_at);
    // Stopping saves a checkpoint and does not evaluate.
    assert!(!obs.records.iter().any(|r| r.kind == "epoch" && r.step == stop_at), "{:?}", obs.records);
    assert_ne!(params(&first), straight);
    let mut second = trainer(config);
    second.set_output(&dir);
    second.resume_from(&dir.join("checkpoint.safetensors")).unwrap();
    assert_eq!(second.state.step, stop_at);
    let s = second.run(&mut Collect::default()).unwrap();
    assert_eq!(s.outcome, Outcome::Finished);
    assert_eq!(params(&second), straight, "resumed run differs from the uninterrupted one");
    // metrics.jsonl continues without duplicates.
    let text = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
    let steps: Vec<(String, u64)> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|v| (v["kind"].as_str().unwrap().to_string(), v["step"].as_u64().unwrap()))
        .collect();
    let mut sorted = steps.clone();
    sorted.sort_by_key(|(k, s)| (*s, k.clone()));
    sorted.dedup();
    assert_eq!(steps.len(), sorted.len(), "{steps:?}");
}

#[test]
fn stop_flag_then_resume_equals_uninterrupted_run_mid_epoch() {
    // Adam state, shuffled data, a cosine schedule; stopped inside the second epoch.
    let config = TrainConfig { epochs: 2, steps: Some(10), schedule: "cosine".into(), shuffle: true, ..config() };
    resume_matches_uninterrupted("resume-mid", config, 7);
}

#[test]
fn stop_flag_then_resume_equals_uninterrupted_run_at_epoch_end() {
    // SGD momentum and weight decay; stopped after the last step of the first epoch, before
    // its evaluation.
    let config = TrainConfig {
        epochs: 2,
        optimizer: OptimizerKind::Sgd,
        lr: 0.02,
        weight_decay: 1e-3,
        schedule: "step:1:0.5".into(),
        ..config()
    };
    resume_matches_uninterrupted("resume-boundary", config, 6);
}

#[test]
fn resuming_checks_the_files() {
    let dir = scratch("resume-errors");
    let mut t = trainer(TrainConfig { steps: Some(2), ..config() });
    t.set_output(&dir);
    t.run(&mut Collect::default()).unwrap();
    let ck = dir.join("checkpoint.safetensors");
    // Another optimizer's state.
    let mut other = trainer(TrainConfig { optimizer: OptimizerKind::Sgd, ..config() });
    let e = other.resume_from(&ck).unwrap_err().to_string();
    assert!(e.contains("adam") && e.contains("sgd"), "{e}");
    // A model-only checkpoint cannot be resumed.
    let plain = dir.join("plain.safetensors");
    checkpoint::save(
        &plain,
        &*t.model,
        &checkpoint::CheckpointMeta::for_model(
            "lenet5",
            &convlab::models::ModelConfig { in_channels: 1, num_classes: 4 },
        ),
    )
    .unwrap();
    let e = trainer(config()).resume_from(&plain).err().unwrap().to_string();
    assert!(e.contains("--init"), "{e}");
    // Without the optimizer file.
    std::fs::remove_file(optimizer_path(&ck)).unwrap();
    let e = trainer(config()).resume_from(&ck).err().unwrap().to_string();
    assert!(e.contains("optimizer"), "{e}");
}

/// LeNet-5 on the real MNIST for a few hundred steps, when a copy is at `../shared/data/mnist`
/// (relative to the repository, or one level further up) or `$CONVLAB_MNIST`.
#[test]
fn lenet5_learns_real_mnist_quickly() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let candidates: Vec<PathBuf> = std::env::var_os("CONVLAB_MNIST")
        .map(PathBuf::from)
        .into_iter()
        .chain([root.join("../shared/data/mnist"), root.join("../../shared/data/mnist")])
        .collect();
    let Some(dir) = candidates
        .iter()
        .find(|d| d.join("train-images-idx3-ubyte.gz").exists() || d.join("train-images-idx3-ubyte").exists())
        .cloned()
    else {
        eprintln!("skipping: no MNIST in {candidates:?} (set CONVLAB_MNIST)");
        return;
    };
    let config = TrainConfig {
        dataset: "mnist".into(),
        data_dir: Some(dir),
        download: false,
        steps: Some(300),
        optimizer: OptimizerKind::Adam,
        lr: 2e-3,
        batch_size: 64,
        test_limit: Some(2000),
        threads: None,
        workers: 1,
        log_every: 100,
        ..config()
    };
    let mut t = Trainer::from_config(config).unwrap();
    let summary = t.run(&mut Collect::default()).unwrap();
    let acc = summary.last_eval.unwrap().accuracy;
    assert!(acc > 0.93, "test accuracy after 300 steps: {acc}");
}
