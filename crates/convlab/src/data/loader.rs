//! [`DataLoader`]: batches from a [`Dataset`], shuffled per epoch, augmented per sample,
//! normalized, assembled on background threads.
//!
//! Determinism: the order of an epoch is a Fisher–Yates shuffle seeded by
//! `(seed, epoch)`, so a resumed run sees the same order; each sample's augmentation is
//! seeded by `(seed, epoch, index)`, so batches do not depend on the number of workers.
//! Worker `w` of `W` builds batches `w, w + W, ...` and hands them over a bounded channel;
//! the iterator takes them round-robin, so batches come out in order while at most
//! `prefetch` (rounded up to a multiple of `W`) wait ready.

use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, Receiver};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::transforms::{augment, check_normalization, mix, normalize, Augment};
use super::{Dataset, Normalization};
use crate::train::collective::{shard_range, Shard};
use crate::{Error, Tensor};

/// How a [`DataLoader`] batches. `Default`: batch 64, no shuffling, last partial batch
/// kept, seed 0, no normalization or augmentation, 2 worker threads, 4 batches prefetched.
#[derive(Clone, Debug)]
pub struct LoaderConfig {
    pub batch_size: usize,
    /// Reshuffle the order every epoch (seeded by `(seed, epoch)`).
    pub shuffle: bool,
    /// Drop the last batch when it is smaller than `batch_size`.
    pub drop_last: bool,
    pub seed: u64,
    /// Applied after augmentation (see [`super::normalization`] for the usual values).
    pub normalize: Option<Normalization>,
    pub augment: Augment,
    /// Background threads that decode and assemble batches (0 = build each batch on the
    /// calling thread when it is asked for).
    pub workers: usize,
    /// Batches built ahead of the consumer (at least one per worker).
    pub prefetch: usize,
    /// Serve only this rank's part of every batch (data-parallel training); the batches and
    /// their order stay those of the whole run.
    pub shard: Option<Shard>,
}

impl Default for LoaderConfig {
    fn default() -> Self {
        LoaderConfig {
            batch_size: 64,
            shuffle: false,
            drop_last: false,
            seed: 0,
            normalize: None,
            augment: Augment::default(),
            workers: 2,
            prefetch: 4,
            shard: None,
        }
    }
}

/// A batch: images `[N, C, H, W]`, their labels, and the dataset indices they came from.
#[derive(Clone, Debug)]
pub struct Batch {
    pub images: Tensor,
    pub labels: Vec<usize>,
    pub indices: Vec<usize>,
}

/// Turns a dataset into batches, epoch by epoch (see the module documentation).
#[derive(Clone)]
pub struct DataLoader {
    dataset: Arc<dyn Dataset>,
    config: LoaderConfig,
}

impl DataLoader {
    /// A loader over `dataset`. Panics on a configuration [`DataLoader::try_new`] rejects.
    pub fn new(dataset: Arc<dyn Dataset>, config: LoaderConfig) -> DataLoader {
        DataLoader::try_new(dataset, config).unwrap_or_else(|e| panic!("DataLoader: {e}"))
    }

    /// A loader over `dataset`, or an error for batch size 0 or a normalization whose
    /// channel count does not fit the dataset's images.
    pub fn try_new(dataset: Arc<dyn Dataset>, config: LoaderConfig) -> Result<DataLoader, Error> {
        if config.batch_size == 0 {
            return Err(Error::Invalid("batch size must be at least 1".into()));
        }
        if let Some(norm) = &config.normalize {
            check_normalization(norm, dataset.image_shape()[0])
                .map_err(|e| Error::Invalid(format!("{}: {e}", dataset.name())))?;
        }
        Ok(DataLoader { dataset, config })
    }

    pub fn dataset(&self) -> &Arc<dyn Dataset> {
        &self.dataset
    }

    pub fn config(&self) -> &LoaderConfig {
        &self.config
    }

    /// Batches in one epoch.
    pub fn batches_per_epoch(&self) -> usize {
        let (n, b) = (self.dataset.len(), self.config.batch_size);
        if self.config.drop_last {
            n / b
        } else {
            n.div_ceil(b)
        }
    }

    /// The dataset indices of epoch `epoch`, in the order they are served.
    pub fn order(&self, epoch: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.dataset.len()).collect();
        if self.config.shuffle {
            let mut rng = ChaCha8Rng::seed_from_u64(mix(self.config.seed, epoch as u64));
            order.shuffle(&mut rng);
        }
        order
    }

    /// The batches of epoch `epoch`, in order. With workers, building starts at once in the
    /// background; dropping the iterator stops the workers. After an error the iterator ends.
    pub fn epoch(&self, epoch: usize) -> EpochIter {
        let order = self.order(epoch);
        let b = self.config.batch_size;
        let part = |c: &[usize]| match self.config.shard {
            Some(s) => c[shard_range(c.len(), s.rank, s.size)].to_vec(),
            None => c.to_vec(),
        };
        let batches: Vec<Vec<usize>> = order.chunks(b).take(self.batches_per_epoch()).map(part).collect();
        let job = Arc::new(Job {
            dataset: self.dataset.clone(),
            config: self.config.clone(),
            epoch_seed: mix(self.config.seed, epoch as u64),
            batches,
        });
        let workers = self.config.workers.min(job.batches.len());
        let mut receivers = Vec::new();
        let mut handles = Vec::new();
        if workers > 0 {
            let capacity = self.config.prefetch.div_ceil(workers).max(1);
            for w in 0..workers {
                let (tx, rx) = bounded(capacity);
                let job = job.clone();
                let handle = std::thread::Builder::new()
                    .name(format!("convlab-data-{w}"))
                    .spawn(move || {
                        for i in (w..job.batches.len()).step_by(workers) {
                            let batch = job.build(i);
                            let failed = batch.is_err();
                            if tx.send(batch).is_err() || failed {
                                break;
                            }
                        }
                    })
                    .expect("spawning a data loader thread");
                receivers.push(rx);
                handles.push(handle);
            }
        }
        EpochIter { job, next: 0, receivers, handles, done: false }
    }
}

struct Job {
    dataset: Arc<dyn Dataset>,
    config: LoaderConfig,
    epoch_seed: u64,
    batches: Vec<Vec<usize>>,
}

impl Job {
    fn build(&self, i: usize) -> Result<Batch, Error> {
        let indices = self.batches[i].clone();
        let shape = self.dataset.image_shape();
        let per: usize = shape.iter().product();
        let mut images = Vec::with_capacity(per * indices.len());
        let mut labels = Vec::with_capacity(indices.len());
        for &index in &indices {
            let sample = self.dataset.get(index)?;
            if sample.image.len() != per {
                return Err(Error::Shape(format!(
                    "{}: sample {index} has {} values, expected {shape:?}",
                    self.dataset.name(),
                    sample.image.len()
                )));
            }
            let mut image = if self.config.augment.is_off() {
                sample.image
            } else {
                augment(&sample.image, shape, &self.config.augment, mix(self.epoch_seed, index as u64))
            };
            if let Some(norm) = &self.config.normalize {
                normalize(&mut image, shape, norm);
            }
            images.extend_from_slice(&image);
            labels.push(sample.label);
        }
        let n = indices.len();
        Ok(Batch { images: Tensor::from_vec(images, [n, shape[0], shape[1], shape[2]]), labels, indices })
    }
}

/// The batches of one epoch (see [`DataLoader::epoch`]).
pub struct EpochIter {
    job: Arc<Job>,
    next: usize,
    receivers: Vec<Receiver<Result<Batch, Error>>>,
    handles: Vec<JoinHandle<()>>,
    done: bool,
}

impl EpochIter {
    /// Batches not yet yielded.
    pub fn remaining(&self) -> usize {
        if self.done {
            0
        } else {
            self.job.batches.len() - self.next
        }
    }
}

impl Iterator for EpochIter {
    type Item = Result<Batch, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.next >= self.job.batches.len() {
            return None;
        }
        let i = self.next;
        self.next += 1;
        let item = if self.receivers.is_empty() {
            self.job.build(i)
        } else {
            let rx = &self.receivers[i % self.receivers.len()];
            rx.recv().unwrap_or_else(|_| Err(Error::Invalid("data loader worker stopped unexpectedly".into())))
        };
        if item.is_err() {
            self.done = true;
        }
        Some(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining(), Some(self.remaining()))
    }
}

impl Drop for EpochIter {
    fn drop(&mut self) {
        // Closing the channels makes every worker's next send fail, so each stops after at
        // most the batch it is building.
        self.receivers.clear();
        for handle in self.handles.drain(..) {
            let _ = handle.join();
        }
    }
}
