//! Where a run's records go besides its observer: `metrics.jsonl` and the points of
//! `curves.png`.

use std::path::Path;

use super::metrics::{Curves, JsonlWriter, Observer, Record};
use crate::Error;

/// Where records go besides the observer: `metrics.jsonl` and the curves.
pub(crate) struct Sink {
    pub(crate) metrics: Option<JsonlWriter>,
    pub(crate) curves: Curves,
}

impl Sink {
    pub(crate) fn emit(&mut self, r: Record, observer: &mut dyn Observer) -> Result<(), Error> {
        add_point(&mut self.curves, &r);
        observer.record(&r);
        match self.metrics.as_mut() {
            Some(m) => m.write(&r),
            None => Ok(()),
        }
    }

    pub(crate) fn sync(&mut self) -> Result<(), Error> {
        self.metrics.as_mut().map_or(Ok(()), |m| m.sync())
    }
}

pub(crate) fn add_point(curves: &mut Curves, r: &Record) {
    let x = r.step as f64;
    if r.kind == "step" {
        curves.train_loss.push((x, r.loss));
    } else {
        curves.train_acc.push((x, r.train_acc));
        if let (Some(a), Some(l)) = (r.test_acc, r.test_loss) {
            curves.test_acc.push((x, a));
            curves.test_loss.push((x, l));
        }
    }
}

/// Draws `curves.png` at `path` (with the `plot` feature).
#[cfg(feature = "plot")]
pub(crate) fn write_curves(path: &Path, curves: &Curves) -> Result<(), Error> {
    super::plot::draw_curves(path, curves)
}

/// Without the `plot` feature a run writes no `curves.png`.
#[cfg(not(feature = "plot"))]
pub(crate) fn write_curves(_path: &Path, _curves: &Curves) -> Result<(), Error> {
    Ok(())
}
