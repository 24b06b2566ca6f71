//! What a run reports: [`Record`]s (one per logged step, one per epoch) written as JSON
//! lines to `metrics.jsonl` and passed to an [`Observer`], plus per-step [`Progress`] for
//! progress bars.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::Error;

/// One line of `metrics.jsonl`. Every line has every field; the ones that do not apply are
/// `null` (test metrics on step lines).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// `"step"` (every `log_every` steps) or `"epoch"` (after the evaluation of an epoch, or
    /// at the end of a run stopped by `steps`/`time_limit_s`).
    pub kind: String,
    /// Optimizer steps done in the whole run.
    pub step: usize,
    /// The epoch (0-based) the step belongs to.
    pub epoch: usize,
    /// Mean training loss since the previous record of the same kind.
    pub loss: f64,
    /// The learning rate of the last step.
    pub lr: f64,
    /// Training accuracy since the previous record of the same kind.
    pub train_acc: f64,
    pub test_acc: Option<f64>,
    pub test_loss: Option<f64>,
    /// Training throughput since the previous record of the same kind.
    pub images_per_sec: f64,
    /// Seconds of training since the run (or its first part, when resumed) started.
    pub wall_time: f64,
}

/// Per-step state for a progress display.
#[derive(Clone, Debug)]
pub struct Progress {
    pub epoch: usize,
    /// Steps done in this epoch / batches in an epoch.
    pub step_in_epoch: usize,
    pub batches_per_epoch: usize,
    pub step: usize,
    pub total_steps: usize,
    /// Running means over the epoch so far.
    pub loss: f64,
    pub train_acc: f64,
    pub images_per_sec: f64,
}

/// Receives what a run reports. Every method has an empty default.
pub trait Observer {
    /// Before the first step of an epoch (also when resuming inside it).
    fn epoch_start(&mut self, _epoch: usize, _batches: usize) {}
    /// After every optimizer step.
    fn step(&mut self, _progress: &Progress) {}
    /// Each record, as written to `metrics.jsonl`.
    fn record(&mut self, _record: &Record) {}
    /// A message (checkpoint written, stopping, ...).
    fn message(&mut self, _msg: &str) {}
}

/// An observer that ignores everything.
pub struct Quiet;
impl Observer for Quiet {}

/// Collects every record (for tests and callers that want the history in memory).
#[derive(Default)]
pub struct Collect(pub Vec<Record>);
impl Observer for Collect {
    fn record(&mut self, r: &Record) {
        self.0.push(r.clone());
    }
}

/// Appends records to a JSON-lines file, flushing each line.
pub struct JsonlWriter {
    path: PathBuf,
    file: File,
}

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io { path: path.display().to_string(), source }
}

impl JsonlWriter {
    /// Opens `path` for appending, after dropping any line whose step is beyond `keep_until`
    /// (records of a run that went on past its last checkpoint). Returns the writer and the
    /// records kept.
    pub fn open(path: &Path, keep_until: Option<usize>) -> Result<(JsonlWriter, Vec<Record>), Error> {
        let mut kept = Vec::new();
        match keep_until {
            Some(limit) if path.exists() => {
                let file = File::open(path).map_err(|e| io(path, e))?;
                for line in BufReader::new(file).lines() {
                    let line = line.map_err(|e| io(path, e))?;
                    if let Ok(r) = serde_json::from_str::<Record>(&line) {
                        if r.step <= limit {
                            kept.push(r);
                        }
                    }
                }
                let mut text = String::new();
                for r in &kept {
                    text.push_str(&serde_json::to_string(r).expect("records serialize"));
                    text.push('\n');
                }
                crate::checkpoint::write_atomic(path, |w| w.write_all(text.as_bytes()))?;
            }
            Some(_) => {}
            None => {
                // A fresh run starts a fresh file.
                let _ = std::fs::remove_file(path);
            }
        }
        let file = OpenOptions::new().create(true).append(true).open(path).map_err(|e| io(path, e))?;
        Ok((JsonlWriter { path: path.to_path_buf(), file }, kept))
    }

    pub fn write(&mut self, r: &Record) -> Result<(), Error> {
        let mut line = serde_json::to_string(r).expect("records serialize");
        line.push('\n');
        self.file.write_all(line.as_bytes()).and_then(|_| self.file.flush()).map_err(|e| io(&self.path, e))
    }
}
