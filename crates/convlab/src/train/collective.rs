//! Data-parallel training: what a [`Trainer`](super::Trainer) needs from a communication
//! library, and the gradient averaging built on it.
//!
//! With a [`Collective`] of `N` ranks, every rank runs the same [`Trainer`](super::Trainer)
//! on its shard of each global batch (rank `r` takes positions `⌊r·b/N⌋ .. ⌊(r+1)·b/N⌋` of a
//! batch of `b` samples, so the data order is a single process's with the same seed and
//! batch size). After the backward pass each rank scales its gradients by its share of the
//! batch, and an all-reduce sums them in buckets of [`BUCKET`] values: every rank then holds
//! the gradient of the global batch's mean loss and takes the same optimizer step. The loss
//! and accuracy sums, the stop request and the time limit travel in one more small all-reduce
//! per step, so all ranks stop at the same step.
//!
//! Batch norm keeps per-rank statistics while training (each rank normalizes with its shard's
//! mean and variance, as PyTorch's `BatchNorm2d` under `DistributedDataParallel`); the running
//! averages are averaged over the ranks before every evaluation and checkpoint, so that all
//! ranks hold the same model there and a resumed run continues from it. Dropout masks are
//! drawn per rank. Without batch norm and dropout, `N` ranks compute what one process does,
//! up to the order of the floating-point sums.
//!
//! The MPI implementation lives in the command-line program (feature `distributed`);
//! [`ThreadGroup`] runs the ranks as threads of one process (tests, and a reference for
//! what a `Collective` must do).
//!
//! ```
//! use convlab::train::collective::{Collective, ThreadGroup};
//! let sums: Vec<Vec<f32>> = std::thread::scope(|s| {
//!     let handles: Vec<_> = ThreadGroup::new(3)
//!         .into_iter()
//!         .map(|mut c| s.spawn(move || {
//!             let mut v = vec![c.rank() as f32, 1.0];
//!             c.allreduce_sum(&mut v).unwrap();
//!             v
//!         }))
//!         .collect();
//!     handles.into_iter().map(|h| h.join().unwrap()).collect()
//! });
//! assert!(sums.iter().all(|v| v == &[3.0, 3.0]));
//! ```

use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use crate::autograd::Gradients;
use crate::nn::{Module, TensorKind};
use crate::{Error, Tensor};

/// Values per all-reduce call when averaging gradients (4 MiB of f32).
pub const BUCKET: usize = 1 << 20;

/// A group of ranks that can sum buffers together. Every rank must make the same calls in
/// the same order with buffers of the same length; each call returns when all ranks made it.
pub trait Collective: Send {
    /// This process's rank, `0..size()`.
    fn rank(&self) -> usize;
    /// The number of ranks.
    fn size(&self) -> usize;
    /// Replaces `buf` on every rank by the element-wise sum over all ranks.
    fn allreduce_sum(&mut self, buf: &mut [f32]) -> Result<(), Error>;
    /// As [`Collective::allreduce_sum`], in f64 (counters and loss sums).
    fn allreduce_sum_f64(&mut self, buf: &mut [f64]) -> Result<(), Error>;
}

/// Which part of every batch a data loader serves: rank `rank` of `size` (see
/// [`shard_range`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub rank: usize,
    pub size: usize,
}

/// The position range of rank `rank` of `size` in a batch of `n` samples.
pub fn shard_range(n: usize, rank: usize, size: usize) -> std::ops::Range<usize> {
    (n * rank / size)..(n * (rank + 1) / size)
}

/// Scales every parameter's gradient by `weight` (this rank's share of the global batch) and
/// sums them over the ranks, [`BUCKET`] values at a time. A parameter without a gradient on
/// this rank contributes zeros (and gets the sum, when another rank has one). Returns the time
/// spent in the all-reduce calls.
pub fn average_gradients(
    c: &mut dyn Collective,
    grads: &mut Gradients,
    params: &[Tensor],
    weight: f32,
) -> Result<Duration, Error> {
    // flat: [Σ numel(p)] the scaled gradients of all parameters, in parameter order.
    let total: usize = params.iter().map(|p| p.numel()).sum();
    let mut flat = vec![0f32; total];
    let mut at = 0;
    for p in params {
        let n = p.numel();
        if let Some(g) = grads.get(p) {
            for (d, s) in flat[at..at + n].iter_mut().zip(g.storage().iter()) {
                *d = s * weight;
            }
        }
        at += n;
    }
    let t = Instant::now();
    for chunk in flat.chunks_mut(BUCKET) {
        c.allreduce_sum(chunk)?;
    }
    let spent = t.elapsed();
    let mut at = 0;
    for p in params {
        let n = p.numel();
        grads.insert(p, Tensor::from_vec(flat[at..at + n].to_vec(), p.shape().clone()));
        at += n;
    }
    Ok(spent)
}

/// What one training step contributes: images, their summed loss, correct predictions, and
/// whether this process wants to stop (Ctrl-C) or has reached its time limit.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct StepTotals {
    pub images: usize,
    pub loss_sum: f64,
    pub correct: usize,
    pub stop: bool,
    pub time_up: bool,
}

/// One step's all-reduces: `local`'s counts summed over the ranks (the flags: set on any
/// rank), then the gradients of the global batch's mean loss (each rank's weighted by its
/// share of the batch). Returns the global totals and the time spent.
pub(crate) fn reduce_step(
    c: &mut dyn Collective,
    grads: &mut Gradients,
    params: &[Tensor],
    local: StepTotals,
) -> Result<(StepTotals, Duration), Error> {
    let t = Instant::now();
    let mut sums = [
        local.images as f64,
        local.loss_sum,
        local.correct as f64,
        local.stop as u8 as f64,
        local.time_up as u8 as f64,
    ];
    c.allreduce_sum_f64(&mut sums)?;
    let images = sums[0].round() as usize;
    let comm = t.elapsed() + average_gradients(c, grads, params, local.images as f32 / images.max(1) as f32)?;
    let total = StepTotals {
        images,
        loss_sum: sums[1],
        correct: sums[2].round() as usize,
        stop: sums[3] > 0.0,
        time_up: sums[4] > 0.0,
    };
    Ok((total, comm))
}

/// Averages every buffer of `model` (batch norm's running statistics) over the ranks, so
/// that every rank evaluates and saves the same model.
pub fn average_buffers(c: &mut dyn Collective, model: &dyn Module) -> Result<(), Error> {
    let buffers: Vec<Tensor> =
        model.named_tensors().into_iter().filter(|(_, _, k)| *k == TensorKind::Buffer).map(|(_, t, _)| t).collect();
    // flat: [Σ numel(b)] all buffers, in order.
    let mut flat: Vec<f32> = buffers.iter().flat_map(|b| b.to_vec()).collect();
    if flat.is_empty() {
        return Ok(());
    }
    c.allreduce_sum(&mut flat)?;
    let inv = 1.0 / c.size() as f32;
    let mut at = 0;
    for b in &buffers {
        let n = b.numel();
        b.update_data(|d| d.iter_mut().zip(&flat[at..at + n]).for_each(|(d, s)| *d = s * inv));
        at += n;
    }
    Ok(())
}

/// `size` ranks as threads of one process: [`ThreadGroup::new`] returns one handle per rank,
/// to be moved into its thread. Sums are taken in rank order, so every rank gets bit-identical
/// results.
pub struct ThreadGroup {
    rank: usize,
    shared: Arc<Shared>,
}

struct Shared {
    size: usize,
    barrier: Barrier,
    /// slots[r]: rank r's buffer of the current call.
    slots: Mutex<Vec<Vec<f64>>>,
}

impl ThreadGroup {
    pub fn new(size: usize) -> Vec<ThreadGroup> {
        assert!(size >= 1, "ThreadGroup: size must be at least 1");
        let shared = Arc::new(Shared { size, barrier: Barrier::new(size), slots: Mutex::new(vec![Vec::new(); size]) });
        (0..size).map(|rank| ThreadGroup { rank, shared: shared.clone() }).collect()
    }

    fn sum(&mut self, buf: &[f64]) -> Result<Vec<f64>, Error> {
        let s = &self.shared;
        s.slots.lock().map_err(|_| Error::Invalid("ThreadGroup: a rank panicked".into()))?[self.rank] = buf.to_vec();
        s.barrier.wait();
        let out = {
            let slots = s.slots.lock().map_err(|_| Error::Invalid("ThreadGroup: a rank panicked".into()))?;
            if slots.iter().any(|v| v.len() != buf.len()) {
                return Err(Error::Shape(format!(
                    "ThreadGroup: ranks reduce buffers of different lengths {:?}",
                    slots.iter().map(Vec::len).collect::<Vec<_>>()
                )));
            }
            (0..buf.len()).map(|i| slots.iter().map(|v| v[i]).sum()).collect()
        };
        // Nobody writes the next call's buffer before everyone has read this one.
        s.barrier.wait();
        Ok(out)
    }
}

impl Collective for ThreadGroup {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.shared.size
    }

    fn allreduce_sum(&mut self, buf: &mut [f32]) -> Result<(), Error> {
        // NOTE: summed in f64 and rounded once; MPI sums in f32 (in an order of its choosing).
        let sum = self.sum(&buf.iter().map(|&v| v as f64).collect::<Vec<_>>())?;
        for (d, s) in buf.iter_mut().zip(sum) {
            *d = s as f32;
        }
        Ok(())
    }

    fn allreduce_sum_f64(&mut self, buf: &mut [f64]) -> Result<(), Error> {
        let sum = self.sum(buf)?;
        buf.copy_from_slice(&sum);
        Ok(())
    }
}
