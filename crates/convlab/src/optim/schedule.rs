//! Learning-rate schedules (PyTorch's `torch.optim.lr_scheduler`) as pure functions of the step
//! counter: `schedule.lr(base_lr, step)` is the learning rate PyTorch's scheduler sets after
//! `step` calls of `scheduler.step()` on an optimizer built with `lr = base_lr`. Nothing is
//! stored, so resuming training at step `n` needs only `n`.
//!
//! Computed in f64 with PyTorch's closed forms and returned as f32.
//!
//! ```
//! use convlab::optim::{CosineAnnealingLR, LinearLR, Schedule, SequentialLR};
//! // Five steps of linear warm-up from 1% of the base rate, then cosine annealing over 95.
//! let s = Schedule::from(SequentialLR {
//!     schedules: vec![
//!         LinearLR { start_factor: 0.01, end_factor: 1.0, total_iters: 5 }.into(),
//!         CosineAnnealingLR::new(95).into(),
//!     ],
//!     milestones: vec![5],
//! });
//! assert!((s.lr(0.1, 0) - 0.001).abs() < 1e-9);
//! assert_eq!(s.lr(0.1, 5), 0.1);
//! assert!(s.lr(0.1, 99) < 1e-4);
//! ```

use std::f64::consts::PI;

use crate::Error;

/// Multiplies by `gamma` every `step_size` steps (PyTorch's `StepLR`).
#[derive(Clone, Debug, PartialEq)]
pub struct StepLR {
    pub step_size: usize,
    pub gamma: f32,
}

impl StepLR {
    /// PyTorch's default `gamma = 0.1`.
    pub fn new(step_size: usize) -> StepLR {
        StepLR { step_size, gamma: 0.1 }
    }
}

/// Multiplies by `gamma` at each milestone (PyTorch's `MultiStepLR`); milestones ascending.
#[derive(Clone, Debug, PartialEq)]
pub struct MultiStepLR {
    pub milestones: Vec<usize>,
    pub gamma: f32,
}

impl MultiStepLR {
    /// PyTorch's default `gamma = 0.1`.
    pub fn new(milestones: Vec<usize>) -> MultiStepLR {
        MultiStepLR { milestones, gamma: 0.1 }
    }
}

/// Multiplies by `gamma` every step (PyTorch's `ExponentialLR`).
#[derive(Clone, Debug, PartialEq)]
pub struct ExponentialLR {
    pub gamma: f32,
}

/// `eta_min + (base_lr − eta_min)·(1 + cos(π·step/t_max))/2` (PyTorch's `CosineAnnealingLR`,
/// whose values follow this closed form; past `t_max` the cosine continues, rising again).
#[derive(Clone, Debug, PartialEq)]
pub struct CosineAnnealingLR {
    pub t_max: usize,
    pub eta_min: f32,
}

impl CosineAnnealingLR {
    /// PyTorch's default `eta_min = 0`.
    pub fn new(t_max: usize) -> CosineAnnealingLR {
        CosineAnnealingLR { t_max, eta_min: 0.0 }
    }
}

/// Scales the base rate by a factor going linearly from `start_factor` to `end_factor` over
/// `total_iters` steps, then constant (PyTorch's `LinearLR`; the usual linear warm-up).
#[derive(Clone, Debug, PartialEq)]
pub struct LinearLR {
    pub start_factor: f32,
    pub end_factor: f32,
    pub total_iters: usize,
}

impl Default for LinearLR {
    fn default() -> Self {
        LinearLR { start_factor: 1.0 / 3.0, end_factor: 1.0, total_iters: 5 }
    }
}

/// How [`OneCycleLR`] moves between its rates (PyTorch's `anneal_strategy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Anneal {
    #[default]
    Cos,
    Linear,
}

/// The 1cycle policy (PyTorch's `OneCycleLR`): from `max_lr/div_factor` up to `max_lr` over
/// `pct_start` of the steps, then down to `max_lr/div_factor/final_div_factor` (with
/// `three_phase`, back to the initial rate first, then down).
///
/// NOTE: the rate does not depend on the optimizer's base rate (as in PyTorch, where `max_lr`
/// overrides it). PyTorch also cycles momentum by default (`cycle_momentum`); a [`Schedule`]
/// sets only the learning rate. Past `total_steps` (an error in PyTorch) it stays at the final
/// rate.
#[derive(Clone, Debug, PartialEq)]
pub struct OneCycleLR {
    pub max_lr: f32,
    pub total_steps: usize,
    pub pct_start: f32,
    pub anneal_strategy: Anneal,
    pub div_factor: f32,
    pub final_div_factor: f32,
    pub three_phase: bool,
}

impl OneCycleLR {
    /// PyTorch's defaults: `pct_start 0.3`, cosine, `div_factor 25`, `final_div_factor 1e4`,
    /// two phases.
    pub fn new(max_lr: f32, total_steps: usize) -> OneCycleLR {
        OneCycleLR {
            max_lr,
            total_steps,
            pct_start: 0.3,
            anneal_strategy: Anneal::Cos,
            div_factor: 25.0,
            final_div_factor: 1e4,
            three_phase: false,
        }
    }

    fn lr(&self, step: usize) -> f64 {
        let max_lr = self.max_lr as f64;
        let initial_lr = max_lr / self.div_factor as f64;
        let min_lr = initial_lr / self.final_div_factor as f64;
        let total = self.total_steps as f64;
        let pct_start = self.pct_start as f64;
        // (end_step, start_lr, end_lr) per phase, as PyTorch lays them out.
        let phases: Vec<(f64, f64, f64)> = if self.three_phase {
            vec![
                (pct_start * total - 1.0, initial_lr, max_lr),
                (2.0 * pct_start * total - 2.0, max_lr, initial_lr),
                (total - 1.0, initial_lr, min_lr),
            ]
        } else {
            vec![(pct_start * total - 1.0, initial_lr, max_lr), (total - 1.0, max_lr, min_lr)]
        };
        if step > self.total_steps {
            return min_lr;
        }
        let step = step as f64;
        let mut start_step = 0.0;
        for (i, &(end_step, start, end)) in phases.iter().enumerate() {
            if step <= end_step || i == phases.len() - 1 {
                let pct = (step - start_step) / (end_step - start_step);
                return match self.anneal_strategy {
                    Anneal::Cos => end + (start - end) / 2.0 * ((PI * pct).cos() + 1.0),
                    Anneal::Linear => (end - start) * pct + start,
                };
            }
            start_step = end_step;
        }
        unreachable!("the last phase always matches")
    }
}

/// Runs `schedules[0]` until `milestones[0]`, then `schedules[1]` restarted from step 0, and so
/// on (PyTorch's `SequentialLR`): e.g. a linear warm-up followed by cosine annealing.
#[derive(Clone, Debug, PartialEq)]
pub struct SequentialLR {
    pub schedules: Vec<Schedule>,
    pub milestones: Vec<usize>,
}

/// A learning-rate schedule; see the module documentation.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Schedule {
    /// The base rate throughout.
    #[default]
    Constant,
    Step(StepLR),
    MultiStep(MultiStepLR),
    Exponential(ExponentialLR),
    CosineAnnealing(CosineAnnealingLR),
    Linear(LinearLR),
    OneCycle(OneCycleLR),
    Sequential(SequentialLR),
}

impl Schedule {
    /// The learning rate after `step` scheduler steps, for an optimizer whose initial rate is
    /// `base_lr`. Panics on settings [`Schedule::check`] rejects.
    pub fn lr(&self, base_lr: f32, step: usize) -> f32 {
        if let Err(e) = self.check() {
            panic!("{e}");
        }
        self.lr_f64(base_lr as f64, step) as f32
    }

    fn lr_f64(&self, base: f64, step: usize) -> f64 {
        match self {
            Schedule::Constant => base,
            Schedule::Step(s) => base * (s.gamma as f64).powf((step / s.step_size) as f64),
            Schedule::MultiStep(s) => {
                let passed = s.milestones.iter().filter(|&&m| m <= step).count();
                base * (s.gamma as f64).powf(passed as f64)
            }
            Schedule::Exponential(s) => base * (s.gamma as f64).powf(step as f64),
            Schedule::CosineAnnealing(s) => {
                let eta_min = s.eta_min as f64;
                eta_min + (base - eta_min) * (1.0 + (PI * step as f64 / s.t_max as f64).cos()) / 2.0
            }
            Schedule::Linear(s) => {
                let (start, end) = (s.start_factor as f64, s.end_factor as f64);
                let t = step.min(s.total_iters) as f64;
                let factor = if s.total_iters == 0 { end } else { start + (end - start) * t / s.total_iters as f64 };
                base * factor
            }
            Schedule::OneCycle(s) => s.lr(step),
            Schedule::Sequential(s) => {
                let idx = s.milestones.iter().filter(|&&m| m <= step).count();
                let local = if idx == 0 { step } else { step - s.milestones[idx - 1] };
                s.schedules[idx].lr_f64(base, local)
            }
        }
    }

    /// PyTorch's argument checks (and that a sequence has one more schedule than milestones).
    pub fn check(&self) -> Result<(), Error> {
        let bad = |m: String| Err(Error::Invalid(m));
        match self {
            Schedule::Constant | Schedule::Exponential(_) => Ok(()),
            Schedule::Step(s) if s.step_size == 0 => bad("StepLR: step_size must be positive".into()),
            Schedule::Step(_) => Ok(()),
            Schedule::MultiStep(s) if s.milestones.windows(2).any(|w| w[0] > w[1]) => {
                bad(format!("MultiStepLR: milestones {:?} are not in ascending order", s.milestones))
            }
            Schedule::MultiStep(_) => Ok(()),
            Schedule::CosineAnnealing(s) if s.t_max == 0 => bad("CosineAnnealingLR: t_max must be positive".into()),
            Schedule::CosineAnnealing(_) => Ok(()),
            Schedule::Linear(s) if !(s.start_factor > 0.0 && s.start_factor <= 1.0) => {
                bad(format!("LinearLR: start_factor must be in (0, 1], got {}", s.start_factor))
            }
            Schedule::Linear(s) if !(0.0..=1.0).contains(&s.end_factor) => {
                bad(format!("LinearLR: end_factor must be in [0, 1], got {}", s.end_factor))
            }
            Schedule::Linear(_) => Ok(()),
            Schedule::OneCycle(s) if s.total_steps == 0 => bad("OneCycleLR: total_steps must be positive".into()),
            Schedule::OneCycle(s) if !(0.0..=1.0).contains(&s.pct_start) => {
                bad(format!("OneCycleLR: pct_start must be in [0, 1], got {}", s.pct_start))
            }
            Schedule::OneCycle(_) => Ok(()),
            Schedule::Sequential(s) => {
                if s.schedules.len() != s.milestones.len() + 1 {
                    return bad(format!(
                        "SequentialLR: {} schedules need {} milestones, got {}",
                        s.schedules.len(),
                        s.schedules.len().saturating_sub(1),
                        s.milestones.len()
                    ));
                }
                if s.milestones.windows(2).any(|w| w[0] > w[1]) {
                    return bad(format!("SequentialLR: milestones {:?} are not in ascending order", s.milestones));
                }
                s.schedules.iter().try_for_each(Schedule::check)
            }
        }
    }
}

impl From<StepLR> for Schedule {
    fn from(s: StepLR) -> Schedule {
        Schedule::Step(s)
    }
}

impl From<MultiStepLR> for Schedule {
    fn from(s: MultiStepLR) -> Schedule {
        Schedule::MultiStep(s)
    }
}

impl From<ExponentialLR> for Schedule {
    fn from(s: ExponentialLR) -> Schedule {
        Schedule::Exponential(s)
    }
}

impl From<CosineAnnealingLR> for Schedule {
    fn from(s: CosineAnnealingLR) -> Schedule {
        Schedule::CosineAnnealing(s)
    }
}

impl From<LinearLR> for Schedule {
    fn from(s: LinearLR) -> Schedule {
        Schedule::Linear(s)
    }
}

impl From<OneCycleLR> for Schedule {
    fn from(s: OneCycleLR) -> Schedule {
        Schedule::OneCycle(s)
    }
}

impl From<SequentialLR> for Schedule {
    fn from(s: SequentialLR) -> Schedule {
        Schedule::Sequential(s)
    }
}
