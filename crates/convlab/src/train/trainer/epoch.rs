//! An epoch of a run: its steps (forward, backward, all-reduce, non-finite check, update),
//! what each step reports, when the run stops inside the epoch, and the epoch's end
//! (evaluation, record, checkpoint).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{Outcome, Trainer, CHECKPOINT};
use crate::autograd::Gradients;
use crate::checkpoint;
use crate::data::Batch;
use crate::nn::Forward;
use crate::ops::loss::cross_entropy;
use crate::optim::clip_grad_norm;
use crate::train::collective::{reduce_step, StepTotals};
use crate::train::eval::{argmax_rows, evaluate, Evaluation};
use crate::train::guard::nonfinite;
use crate::train::metrics::{Observer, Progress, Record};
use crate::train::sink::write_curves;
use crate::train::sink::Sink;
use crate::train::Sums;
use crate::{CrossEntropyParams, Error, Tensor};

/// What one call of [`Trainer::run`] works with besides the trainer.
pub(super) struct Run {
    pub(super) batches_per_epoch: usize,
    pub(super) total_steps: usize,
    pub(super) sink: Sink,
    pub(super) clock: Clock,
    pub(super) ce: CrossEntropyParams,
    /// The parameters with their names (the non-finite check), and alone (all-reduce, clipping).
    pub(super) named: Vec<(String, Tensor)>,
    pub(super) params: Vec<Tensor>,
    pub(super) last_eval: Option<Evaluation>,
}

/// Seconds of training: those of the earlier parts of a resumed run plus this one's.
pub(super) struct Clock {
    started: Instant,
    before: f64,
}

impl Clock {
    pub(super) fn start(before: f64) -> Clock {
        Clock { started: Instant::now(), before }
    }

    fn wall(&self) -> f64 {
        self.before + self.started.elapsed().as_secs_f64()
    }
}

/// Throughput counters of this process since the start of an epoch or of a log window:
/// images, time, and the all-reduce time and step there. (The sums of the records live in
/// the state, so that a resumed run reports what an uninterrupted one does.)
pub(super) struct Tally {
    images: usize,
    started: Instant,
    comm: (Duration, usize),
}

impl Tally {
    fn start(t: &Trainer) -> Tally {
        Tally { images: 0, started: Instant::now(), comm: (t.comm_time, t.state.step) }
    }

    fn images_per_sec(&self) -> f64 {
        self.images as f64 / self.started.elapsed().as_secs_f64().max(1e-9)
    }
}

/// The counters of the current epoch and of its current log window.
pub(super) struct Counters {
    pub(super) epoch: Tally,
    log: Tally,
}

impl Counters {
    pub(super) fn start(t: &Trainer) -> Counters {
        Counters { epoch: Tally::start(t), log: Tally::start(t) }
    }
}

/// A seed for step `step`'s dropout masks (splitmix64 of the run seed and the step).
fn step_seed(seed: u64, step: usize) -> u64 {
    let mut z = seed.wrapping_add((step as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Trainer {
    /// The steps of the current epoch from where it stands: `None` when its batches run
    /// out, else how the run ends inside it.
    pub(super) fn train_epoch(
        &mut self,
        run: &mut Run,
        counters: &mut Counters,
        observer: &mut dyn Observer,
    ) -> Result<Option<Outcome>, Error> {
        let (epoch, done) = (self.state.epoch, self.state.step_in_epoch);
        if done >= run.batches_per_epoch {
            return Ok(None);
        }
        for batch in self.train.epoch(epoch).skip(done) {
            let totals = self.step(&batch?, run, observer)?;
            self.advance(totals.images, run, counters);
            self.log(epoch, run, counters, observer)?;
            if let Some(outcome) = self.decide_stop(&totals, run) {
                return Ok(Some(outcome));
            }
            self.periodic_checkpoint(run)?;
        }
        Ok(None)
    }

    /// One step on `batch`: its learning rate, forward and backward on this process's
    /// images, the all-reduce of a data-parallel run, the non-finite check, the update.
    /// Returns the global batch's totals and flags.
    fn step(&mut self, batch: &Batch, run: &Run, observer: &mut dyn Observer) -> Result<StepTotals, Error> {
        let lr = self.schedule.lr(self.config.lr, self.state.step);
        self.opt.set_lr(lr);
        let (mut grads, loss_sum, correct) = self.forward_backward(batch, &run.ce, &run.params);
        let local = StepTotals {
            images: batch.labels.len(),
            loss_sum,
            correct,
            stop: self.stop.load(Ordering::SeqCst),
            time_up: self.time_up(run.clock.wall()),
        };
        let totals = self.all_reduce(&mut grads, &run.params, local)?;
        let loss = (totals.loss_sum / totals.images.max(1) as f64) as f32;
        match nonfinite(loss, &grads, &run.named) {
            Some(what) if self.config.skip_nonfinite => self.skip_step(&what, observer),
            Some(what) => return Err(self.diverged(&what, lr)),
            None => self.update(&mut grads, &run.params, &totals),
        }
        Ok(totals)
    }

    /// Forward and backward on this process's images of `batch`: the gradients, the summed
    /// loss and the correct predictions. A rank's shard of a short last batch may be empty:
    /// it adds nothing. With a frozen backbone only the gradients of `params` (the
    /// classifier's) are computed.
    fn forward_backward(&self, batch: &Batch, ce: &CrossEntropyParams, params: &[Tensor]) -> (Gradients, f64, usize) {
        let n = batch.labels.len();
        if n == 0 {
            return (Gradients::default(), 0.0, 0);
        }
        let mut fwd = Forward::train(step_seed(self.config.seed, self.state.step));
        let logits = self.model.forward(&batch.images, &mut fwd);
        let loss = cross_entropy(&logits, &batch.labels, ce);
        let classes = logits.dims()[1];
        let correct =
            argmax_rows(&logits.to_vec(), classes).iter().zip(&batch.labels).filter(|((p, _), y)| p == *y).count();
        let grads = if self.config.freeze_backbone { loss.backward_to(params) } else { loss.backward() };
        (grads, loss.item() as f64 * n as f64, correct)
    }

    /// With ranks: the global batch's totals and flags, and the gradient of its mean loss in
    /// `grads` (the time it takes is counted). Alone: `local`.
    fn all_reduce(&mut self, grads: &mut Gradients, params: &[Tensor], local: StepTotals) -> Result<StepTotals, Error> {
        let Some(c) = self.collective.as_mut() else { return Ok(local) };
        let (total, comm) = reduce_step(&mut **c, grads, params, local)?;
        self.comm_time += comm;
        Ok(total)
    }

    /// A non-finite step with `skip_nonfinite`: no update (the weights and the optimizer
    /// state stay as they were); counted, and the first ten are reported.
    fn skip_step(&mut self, what: &str, observer: &mut dyn Observer) {
        self.state.skipped_steps += 1;
        match self.state.skipped_steps {
            ..=10 => observer.message(&format!("step {}: {what}; skipped (no update)", self.state.step + 1)),
            11 => observer.message("more steps skipped: see skipped_steps in metrics.jsonl"),
            _ => {}
        }
    }

    /// The update: gradient clipping, the optimizer step, the step's totals into the sums.
    fn update(&mut self, grads: &mut Gradients, params: &[Tensor], totals: &StepTotals) {
        if let Some(c) = self.config.clip_grad_norm {
            clip_grad_norm(grads, params, c, 2.0);
        }
        self.opt.step(grads);
        self.state.window_sums.add(totals.loss_sum, totals.correct, totals.images);
        self.state.epoch_sums.add(totals.loss_sum, totals.correct, totals.images);
    }

    /// Counts a step done over `images` images.
    fn advance(&mut self, images: usize, run: &Run, counters: &mut Counters) {
        counters.epoch.images += images;
        counters.log.images += images;
        self.state.step += 1;
        self.state.step_in_epoch += 1;
        self.state.wall_time = run.clock.wall();
    }

    /// The observer's progress after every step, and every `log_every` steps the record of
    /// the log window (and a new window).
    fn log(
        &mut self,
        epoch: usize,
        run: &mut Run,
        counters: &mut Counters,
        observer: &mut dyn Observer,
    ) -> Result<(), Error> {
        let es = self.state.epoch_sums;
        observer.step(&Progress {
            epoch,
            step_in_epoch: self.state.step_in_epoch,
            batches_per_epoch: run.batches_per_epoch,
            step: self.state.step,
            total_steps: run.total_steps,
            loss: es.loss / es.images as f64,
            train_acc: es.correct as f64 / es.images as f64,
            images_per_sec: counters.epoch.images_per_sec(),
        });
        if self.state.step.is_multiple_of(self.config.log_every) {
            let sums = std::mem::take(&mut self.state.window_sums);
            let r = self.record("step", epoch, sums, &counters.log, None);
            run.sink.emit(r, observer)?;
            counters.log = Tally::start(self);
        }
        Ok(())
    }

    /// How the run ends after this step, if it does: the stop flag, the last step, the time
    /// limit. Ranks go by the flags they agreed on in the all-reduce; one process looks at
    /// them now.
    fn decide_stop(&self, totals: &StepTotals, run: &Run) -> Option<Outcome> {
        let single = self.collective.is_none();
        if totals.stop || (single && self.stop.load(Ordering::SeqCst)) {
            Some(Outcome::Stopped)
        } else if self.state.step >= run.total_steps {
            Some(Outcome::Finished)
        } else if totals.time_up || (single && self.time_up(self.state.wall_time)) {
            Some(Outcome::TimeLimit)
        } else {
            None
        }
    }

    /// Whether `wall_time` seconds reach the time limit.
    fn time_up(&self, wall_time: f64) -> bool {
        self.config.time_limit_s.is_some_and(|t| wall_time >= t)
    }

    /// The checkpoints every `checkpoint_every` steps inside an epoch (its end saves one).
    fn periodic_checkpoint(&mut self, run: &mut Run) -> Result<(), Error> {
        let due = self.config.checkpoint_every.is_some_and(|k| self.state.step.is_multiple_of(k));
        if due && self.state.step_in_epoch < run.batches_per_epoch {
            self.sync_buffers()?;
            self.save(CHECKPOINT, &mut run.sink)?;
        }
        Ok(())
    }

    /// The end of epoch `epoch` (or of the run, inside it): evaluate, count the epoch done,
    /// keep the best model, record, save the checkpoint and the curves.
    pub(super) fn end_epoch(
        &mut self,
        epoch: usize,
        run: &mut Run,
        since: &Tally,
        observer: &mut dyn Observer,
    ) -> Result<(), Error> {
        self.sync_buffers()?;
        let ev = self.evaluate_test()?;
        let epoch_done = self.state.step_in_epoch >= run.batches_per_epoch;
        if epoch_done {
            self.state.epoch += 1;
            self.state.step_in_epoch = 0;
            // A log window does not reach over an epoch end.
            self.state.window_sums = Sums::default();
        }
        self.keep_best(ev.as_ref())?;
        self.state.wall_time = run.clock.wall();
        let r = self.record("epoch", epoch, self.state.epoch_sums, since, ev.as_ref());
        // A run that ends inside an epoch keeps its sums: a resumed one goes on from them.
        if epoch_done {
            self.state.epoch_sums = Sums::default();
        }
        run.sink.emit(r, observer)?;
        run.last_eval = ev;
        self.save(CHECKPOINT, &mut run.sink)?;
        match self.path("curves.png") {
            Some(p) => write_curves(&p, &run.sink.curves),
            None => Ok(()),
        }
    }

    /// The evaluation on the test split (none without one, and on ranks other than 0).
    fn evaluate_test(&self) -> Result<Option<Evaluation>, Error> {
        self.test.as_ref().map(|t| evaluate(&*self.model, t, self.config.test_limit, false)).transpose()
    }

    /// A test accuracy above the best so far becomes the best, and the model is saved as
    /// `best.safetensors`.
    fn keep_best(&mut self, ev: Option<&Evaluation>) -> Result<(), Error> {
        let Some(acc) = ev.map(|e| e.accuracy) else { return Ok(()) };
        if self.state.best_test_acc.is_none_or(|b| acc > b) {
            self.state.best_test_acc = Some(acc);
            self.state.best_step = Some(self.state.step);
            if let Some(p) = self.path("best.safetensors") {
                checkpoint::save(&p, &*self.model, &self.meta())?;
            }
        }
        Ok(())
    }

    /// A metrics line of `kind` (`"step"` or `"epoch"`) over `sums` and the counters
    /// `since`, at the current step.
    fn record(&self, kind: &str, epoch: usize, sums: Sums, since: &Tally, ev: Option<&Evaluation>) -> Record {
        Record {
            kind: kind.into(),
            step: self.state.step,
            epoch,
            loss: sums.loss / sums.images as f64,
            lr: self.opt.lr() as f64,
            train_acc: sums.correct as f64 / sums.images as f64,
            test_acc: ev.map(|e| e.accuracy),
            test_loss: ev.map(|e| e.loss),
            images_per_sec: since.images_per_sec(),
            wall_time: self.state.wall_time,
            skipped_steps: self.state.skipped_steps,
            allreduce_ms: self.comm_ms_since(since.comm),
        }
    }
}
