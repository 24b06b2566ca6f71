//! Data-parallel training with ranks as threads ([`ThreadGroup`]): the same losses and
//! weights as one process (no batch norm, no dropout), identical models on every rank with
//! batch norm, shards that cover each batch exactly once, and a resumed rank run.

use std::path::PathBuf;
use std::sync::Arc;

use convlab::checkpoint;
use convlab::data::{DataLoader, Dataset, LoaderConfig};
use convlab::train::collective::{shard_range, Collective, Shard, ThreadGroup};
use convlab::train::metrics::{Collect, Record};
use convlab::train::{OptimizerKind, TrainConfig, Trainer};

mod common;
use common::{stripes, Stripes};

/// `n` noisy 1×12×12 images of 3 classes: a bright bar in one of three bands.
fn toy(n: usize) -> Arc<dyn Dataset> {
    stripes(n, &Stripes { side: 12, classes: 3, first_row: 1, spacing: 4, jitter: 2 }, 12345)
}

fn config(model: &str) -> TrainConfig {
    TrainConfig {
        model: model.into(),
        dataset: "toy".into(),
        epochs: 2,
        // 50 images in batches of 12: the last batch (2 images) leaves a rank of 3 empty.
        batch_size: 12,
        optimizer: OptimizerKind::Adam,
        lr: 5e-3,
        log_every: 1,
        threads: Some(1),
        workers: 0,
        seed: 3,
        ..TrainConfig::default()
    }
}

const SMALL: &str = "conv(4,3,padding=1) relu maxpool(2) flatten linear(3)";
const WITH_BN: &str = "conv(4,3,padding=1) batchnorm relu maxpool(2) flatten linear(3)";

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("collective-tests").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What one rank ends with: its step records and its parameters (and buffers).
struct RankRun {
    records: Vec<Record>,
    weights: Vec<(String, Vec<f32>)>,
    allreduce_seconds: f64,
}

fn weights(t: &Trainer) -> Vec<(String, Vec<f32>)> {
    t.model.named_tensors().into_iter().map(|(n, t, _)| (n, t.to_vec())).collect()
}

/// Trains `config` on `size` ranks (threads); rank 0 writes to `out` when given; `resume`
/// is a checkpoint every rank continues from.
fn run_ranks(config: &TrainConfig, size: usize, out: Option<&PathBuf>, resume: Option<&PathBuf>) -> Vec<RankRun> {
    let ds = toy(50);
    std::thread::scope(|s| {
        let handles: Vec<_> = ThreadGroup::new(size)
            .into_iter()
            .map(|c| {
                let (ds, config) = (ds.clone(), config.clone());
                s.spawn(move || {
                    let rank = c.rank();
                    let mut t = Trainer::new(config, ds.clone(), Some(ds), None).unwrap();
                    t.set_collective(Box::new(c)).unwrap();
                    if let Some(p) = resume {
                        t.resume_from(p).unwrap();
                    }
                    if let (0, Some(dir)) = (rank, out) {
                        t.set_output(dir);
                    }
                    let mut obs = Collect::default();
                    let summary = t.run(&mut obs).unwrap();
                    RankRun { records: obs.0, weights: weights(&t), allreduce_seconds: summary.allreduce_seconds }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn single(config: &TrainConfig) -> RankRun {
    let ds = toy(50);
    let mut t = Trainer::new(config.clone(), ds.clone(), Some(ds), None).unwrap();
    let mut obs = Collect::default();
    t.run(&mut obs).unwrap();
    RankRun { records: obs.0, weights: weights(&t), allreduce_seconds: 0.0 }
}

fn max_diff(a: &[(String, Vec<f32>)], b: &[(String, Vec<f32>)]) -> f32 {
    a.iter()
        .zip(b)
        .map(|((na, va), (nb, vb))| {
            assert_eq!(na, nb);
            va.iter().zip(vb).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
        })
        .fold(0.0, f32::max)
}

#[test]
fn shards_cover_every_batch_once_in_the_single_process_order() {
    let ds = toy(50);
    let base = LoaderConfig { batch_size: 12, shuffle: true, seed: 9, workers: 0, ..LoaderConfig::default() };
    let whole: Vec<Vec<usize>> =
        DataLoader::new(ds.clone(), base.clone()).epoch(1).map(|b| b.unwrap().indices).collect();
    for size in [2, 3, 5] {
        let parts: Vec<Vec<Vec<usize>>> = (0..size)
            .map(|rank| {
                DataLoader::new(ds.clone(), LoaderConfig { shard: Some(Shard { rank, size }), ..base.clone() })
                    .epoch(1)
                    .map(|b| b.unwrap().indices)
                    .collect()
            })
            .collect();
        for (i, batch) in whole.iter().enumerate() {
            let joined: Vec<usize> = parts.iter().flat_map(|p| p[i].clone()).collect();
            assert_eq!(&joined, batch, "{size} ranks, batch {i}");
        }
    }
    assert_eq!(shard_range(2, 2, 3), 1..2);
    assert_eq!(shard_range(2, 0, 3), 0..0);
}

#[test]
fn ranks_compute_what_one_process_does() {
    let config = config(SMALL);
    let one = single(&config);
    for size in [2, 3] {
        let runs = run_ranks(&config, size, None, None);
        // Every rank holds the same weights (the all-reduce hands every rank the same sums).
        for r in &runs[1..] {
            assert_eq!(r.weights, runs[0].weights, "{size} ranks: ranks disagree");
        }
        // The same as one process, up to the order of float sums.
        let d = max_diff(&runs[0].weights, &one.weights);
        assert!(d < 1e-5, "{size} ranks: weights differ from one process by {d}");
        let steps: Vec<&Record> = runs[0].records.iter().filter(|r| r.kind == "step").collect();
        let steps1: Vec<&Record> = one.records.iter().filter(|r| r.kind == "step").collect();
        assert_eq!(steps.len(), steps1.len());
        for (a, b) in steps.iter().zip(&steps1) {
            assert!(
                (a.loss - b.loss).abs() < 1e-5 * b.loss.abs().max(1.0),
                "{size} ranks, step {}: loss {} vs {}",
                a.step,
                a.loss,
                b.loss
            );
            assert_eq!(a.train_acc, b.train_acc, "step {}", a.step);
            assert!(a.allreduce_ms.is_some() && b.allreduce_ms.is_none());
        }
        let epochs: Vec<&Record> = runs[0].records.iter().filter(|r| r.kind == "epoch").collect();
        assert_eq!(epochs.len(), 2);
        assert!(epochs.iter().all(|r| r.test_acc.is_some()), "rank 0 evaluates");
        assert!(runs[1].records.iter().all(|r| r.test_acc.is_none()), "other ranks do not");
        assert!(runs[0].allreduce_seconds > 0.0);
    }
}

#[test]
fn batch_norm_ranks_end_with_one_model_and_resume() {
    let mut config = config(WITH_BN);
    config.optimizer = OptimizerKind::Sgd;
    config.lr = 0.05;
    let dir = scratch("bn");
    let runs = run_ranks(&config, 2, Some(&dir), None);
    assert_eq!(runs[0].weights, runs[1].weights, "parameters and averaged running statistics agree");
    let saved = checkpoint::load(dir.join("checkpoint.safetensors")).unwrap();
    for (name, w) in &runs[0].weights {
        assert_eq!(&saved.tensors[name].to_vec(), w, "{name}: the checkpoint holds the common model");
    }
    // Two more epochs from the checkpoint, on both ranks; they stay in step.
    let more = TrainConfig { epochs: 4, ..config };
    let resumed = run_ranks(&more, 2, Some(&dir), Some(&dir.join("checkpoint.safetensors")));
    assert_eq!(resumed[0].weights, resumed[1].weights);
    assert_eq!(resumed[0].records.iter().filter(|r| r.kind == "epoch").count(), 2);
    assert!(max_diff(&resumed[0].weights, &runs[0].weights) > 0.0, "training went on");
}
