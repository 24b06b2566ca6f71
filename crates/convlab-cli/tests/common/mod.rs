//! Shared by the CLI tests: running the binary and checking its one-line errors, scratch
//! folders, and for the explainer's tests a small model trained for a few steps on the
//! built-in digits, saved as a checkpoint beside a `metrics.jsonl`, and a running
//! `convlab explain`.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use convlab::checkpoint::{self, CheckpointMeta};
use convlab::data::{self, DataOptions, Split};
use convlab::nn::{Forward, Mode};
use convlab::ops::loss::cross_entropy;
use convlab::optim::{Optimizer, Sgd, SgdParams};
use convlab::spec::resolve_model;
use convlab::{CrossEntropyParams, Tensor};

/// Runs the `convlab` binary.
pub fn convlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_convlab")).args(args).output().expect("the convlab binary runs")
}

/// Runs `convlab`, asserts success and returns its standard output.
pub fn ok(args: &[&str]) -> String {
    let o = convlab(args);
    assert!(o.status.success(), "args {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Asserts a one-line error on stderr with exit status 2 that contains every needle.
pub fn assert_user_error(args: &[&str], needles: &[&str]) {
    let o = convlab(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "args {args:?}: stderr {err}");
    for needle in needles {
        assert!(err.contains(needle), "args {args:?}: expected '{needle}' in {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
}

/// A fresh, empty folder `group/name` under cargo's test scratch directory.
pub fn scratch(group: &str, name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(group).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

pub const SPEC: &str =
    "input(1,28,28) conv(4,3,padding=1) relu maxpool(2) conv(6,3) relu maxpool(2) flatten linear(10)";

/// Trains [`SPEC`] for `steps` SGD steps on the built-in digits and writes
/// `dir/checkpoint.safetensors` and `dir/metrics.jsonl`.
pub fn make_checkpoint(dir: &Path, steps: usize) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let m = resolve_model(SPEC, None, None, None, 7).unwrap();
    let train =
        data::open("builtin", Split::Train, &DataOptions { builtin_size: Some(steps * 32), ..DataOptions::default() })
            .unwrap();
    let norm = data::normalization("builtin").unwrap();
    let mut opt = Sgd::new(m.module.named_parameters(), SgdParams { lr: 0.05, momentum: 0.9, ..SgdParams::default() });
    let mut metrics = String::new();
    for step in 0..steps {
        let mut xs = Vec::new();
        let mut ys = Vec::new();
        for i in step * 32..(step + 1) * 32 {
            let s = train.get(i).unwrap();
            xs.extend(s.image.iter().map(|v| (v - norm.mean[0]) / norm.std[0]));
            ys.push(s.label);
        }
        let x = Tensor::from_vec(xs, [32, 1, 28, 28]);
        let y = m.module.forward(&x, &mut Forward::new(Mode::Train, step as u64));
        let loss = cross_entropy(&y, &ys, &CrossEntropyParams::default());
        opt.step(&loss.backward());
        metrics.push_str(&format!("{{\"step\":{},\"train_loss\":{}}}\n", step + 1, loss.item()));
    }
    let meta = CheckpointMeta {
        class_names: train.classes().to_vec(),
        normalization: Some(norm),
        epoch: Some(1),
        ..CheckpointMeta::new(
            &m.description,
            serde_json::json!({ "in_channels": 1, "num_classes": 10, "dataset": "builtin" }),
        )
    };
    let path = dir.join("checkpoint.safetensors");
    checkpoint::save(&path, &*m.module, &meta).unwrap();
    std::fs::write(dir.join("metrics.jsonl"), metrics).unwrap();
    path
}

/// A `convlab explain` process on a free loopback port; killed on drop.
pub struct Server {
    pub child: Child,
    pub url: String,
}

impl Server {
    pub fn start(checkpoint: &Path) -> Server {
        Server::start_with(checkpoint, &["--threads", "16"])
    }

    /// A server with more `convlab explain` options.
    pub fn start_with(checkpoint: &Path, args: &[&str]) -> Server {
        let mut all = vec!["--checkpoint".to_string(), s(checkpoint)];
        all.extend(args.iter().map(|a| a.to_string()));
        Server::start_args(&all.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// `convlab explain ARGS --port 0`.
    pub fn start_args(args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_convlab"))
            .arg("explain")
            .args(args)
            .args(["--port", "0"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = line.split_whitespace().last().unwrap_or_default().trim_end_matches('/').to_string();
        assert!(url.starts_with("http://127.0.0.1:"), "unexpected first line: {line:?}");
        Server { child, url }
    }

    /// `host:port` of the server.
    pub fn addr(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    /// The server's peak resident memory in KiB (`VmHWM` of /proc/<pid>/status; Linux).
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        s.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A shared test folder under target/ (kept: screenshots are test artefacts).
pub fn target_dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/explain-tests").join(name);
    std::fs::create_dir_all(&d).unwrap();
    d.canonicalize().unwrap()
}
