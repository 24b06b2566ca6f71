//! What a run reports: [`Record`]s (one per logged step, one per epoch) written as JSON
//! lines to `metrics.jsonl` and passed to an [`Observer`], plus per-step [`Progress`] for
//! progress bars.
//!
//! Each line goes to the file in one `write` call, so a run killed at any moment leaves
//! whole lines and at most a torn last one, which [`read_records`] ignores (and a resumed
//! run drops).

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
    /// Mean training loss since the previous record of the same kind (`null`, read as NaN,
    /// when every step since was skipped).
    #[serde(deserialize_with = "nan_if_null")]
    pub loss: f64,
    /// The learning rate of the last step.
    pub lr: f64,
    /// Training accuracy since the previous record of the same kind.
    #[serde(deserialize_with = "nan_if_null")]
    pub train_acc: f64,
    pub test_acc: Option<f64>,
    pub test_loss: Option<f64>,
    /// Training throughput since the previous record of the same kind.
    pub images_per_sec: f64,
    /// Seconds of training since the run (or its first part, when resumed) started.
    pub wall_time: f64,
    /// Steps skipped so far in the whole run because their loss or gradient was not finite
    /// (`skip_nonfinite`).
    #[serde(default)]
    pub skipped_steps: usize,
    /// Data-parallel runs: milliseconds per step spent in all-reduces since the previous
    /// record of the same kind (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allreduce_ms: Option<f64>,
}

/// JSON has no NaN: serde_json writes it as `null`; read `null` back as NaN.
fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// The records of a `metrics.jsonl`, in order, and whether its end was torn (a last line
/// without its newline, as a run killed in the middle of a write leaves). A complete line
/// that is not a record is an error naming the file and the line.
pub fn read_records(path: &Path) -> Result<(Vec<Record>, bool), Error> {
    let bytes = std::fs::read(path).map_err(|e| io(path, e))?;
    let (complete, torn) = match bytes.iter().rposition(|&b| b == b'\n') {
        Some(i) => (&bytes[..=i], i + 1 < bytes.len()),
        None => (&bytes[..0], !bytes.is_empty()),
    };
    let mut records = Vec::new();
    for (i, line) in complete.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let r = serde_json::from_slice::<Record>(line)
            .map_err(|e| Error::Format { path: path.display().to_string(), msg: format!("line {}: {e}", i + 1) })?;
        records.push(r);
    }
    Ok((records, torn))
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

/// One point of a curve: x (step or epoch) and y.
pub type Point = (f64, f64);

/// The series of `curves.png`: training loss per logged step, test loss per epoch (both
/// against the step), and training/test accuracy per epoch.
#[derive(Clone, Debug, Default)]
pub struct Curves {
    pub train_loss: Vec<Point>,
    pub test_loss: Vec<Point>,
    pub train_acc: Vec<Point>,
    pub test_acc: Vec<Point>,
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
                // Lines that do not parse (a torn last line, or a foreign one) are dropped.
                let file = File::open(path).map_err(|e| io(path, e))?;
                for line in BufReader::new(file).split(b'\n') {
                    let line = line.map_err(|e| io(path, e))?;
                    if let Ok(r) = serde_json::from_slice::<Record>(&line) {
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

    /// Appends one line (one `write` call for the whole line).
    pub fn write(&mut self, r: &Record) -> Result<(), Error> {
        let mut line = serde_json::to_string(r).expect("records serialize");
        line.push('\n');
        self.file.write_all(line.as_bytes()).and_then(|_| self.file.flush()).map_err(|e| io(&self.path, e))
    }

    /// Flushes the lines written so far to the disk (before a checkpoint names their step).
    pub fn sync(&mut self) -> Result<(), Error> {
        self.file.sync_data().map_err(|e| io(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(step: usize) -> Record {
        Record {
            kind: "step".into(),
            step,
            epoch: 0,
            loss: 0.5,
            lr: 0.1,
            train_acc: 0.25,
            test_acc: None,
            test_loss: None,
            images_per_sec: 1.0,
            wall_time: 2.0,
            skipped_steps: 0,
            allreduce_ms: None,
        }
    }

    #[test]
    fn a_torn_last_line_is_ignored_and_dropped_on_resuming() {
        let dir = std::env::temp_dir().join(format!("convlab-metrics-torn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("metrics.jsonl");
        let (mut w, _) = JsonlWriter::open(&path, None).unwrap();
        for step in 1..=3 {
            w.write(&record(step)).unwrap();
        }
        drop(w);
        let mut text = std::fs::read_to_string(&path).unwrap();
        let whole = serde_json::to_string(&record(4)).unwrap();
        text.push_str(&whole[..whole.len() / 2]);
        std::fs::write(&path, &text).unwrap();
        let (records, torn) = read_records(&path).unwrap();
        assert_eq!((records.iter().map(|r| r.step).collect::<Vec<_>>(), torn), (vec![1, 2, 3], true));
        // Resuming from step 2 keeps steps 1 and 2, drops the rest and the torn line.
        let (mut w, kept) = JsonlWriter::open(&path, Some(2)).unwrap();
        assert_eq!(kept.len(), 2);
        w.write(&record(3)).unwrap();
        let (records, torn) = read_records(&path).unwrap();
        assert_eq!((records.iter().map(|r| r.step).collect::<Vec<_>>(), torn), (vec![1, 2, 3], false));
        // A broken line in the middle is an error naming the file and the line.
        std::fs::write(&path, format!("{whole}\n{{oops\n{whole}\n")).unwrap();
        let e = read_records(&path).unwrap_err().to_string();
        assert!(e.contains("metrics.jsonl") && e.contains("line 2"), "{e}");
        // NaN losses (every step skipped) are written as null and read back as NaN.
        let mut r = record(5);
        r.loss = f64::NAN;
        std::fs::write(&path, format!("{}\n", serde_json::to_string(&r).unwrap())).unwrap();
        assert!(read_records(&path).unwrap().0[0].loss.is_nan());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
