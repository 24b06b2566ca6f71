//! `convlab bench`: the benchmark workloads of [`convlab::bench`], timed (warm-up, repeats for
//! a time budget, median), with GFLOP/s, images/s and the fraction of the FMA peak that the
//! command measures on the same threads at start.
//!
//! `--compare` runs `bench/torch_bench.py --serve` (PyTorch, channels-last where faster, and
//! ONNX Runtime for inference, malloc tuned as the issue describes) and interleaves: ours, then
//! theirs, workload by workload, so a noisy machine hits both alike. It prints the ratio
//! table (ours / best peer; > 1 means ConvLab is faster).

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use convlab::bench::{fma_peaks_gflops, measure, workload, workload_names, Workload};
use convlab::kernels::simd;
use convlab::spec::{resolve_model, ModelSource};
use serde_json::{json, Value};

use crate::args::JsonArgs;

/// The malloc settings the peers run with (large buffers reused instead of re-faulted), the
/// same as [`convlab::bench::tune_malloc`] sets for ConvLab.
const GLIBC_TUNABLES: &str = "glibc.malloc.mmap_max=0:glibc.malloc.arena_max=1:glibc.malloc.trim_threshold=4294967296";

#[derive(Args)]
#[command(mut_arg("json", |a| a.help(
    r#"One JSON object per line: {"name", "median_ms", "gflops", "images_per_s", ...}"#
)))]
pub struct BenchArgs {
    #[command(flatten)]
    format: JsonArgs,
    /// Threads for ConvLab (and for the peers with --compare).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Only workloads whose name contains this text (default: all of them).
    #[arg(long, default_value = "", hide_default_value = true)]
    filter: String,
    /// A smoke run: one timed repeat each.
    #[arg(long)]
    quick: bool,
    /// Also run PyTorch / ONNX Runtime (bench/torch_bench.py) and print ours / best peer.
    #[arg(long)]
    compare: bool,
    /// Time budget per workload, in seconds.
    #[arg(long, default_value_t = 2.0)]
    budget: f64,
    /// Time this model instead of the built-in workloads: a zoo name, a spec or an ONNX file
    /// (inference in eval mode on random inputs); with --compare, ONNX Runtime runs the same
    /// ONNX file (and PyTorch the same zoo model, where the peer script knows it) (default:
    /// the built-in workloads).
    #[arg(long)]
    model: Option<String>,
    /// Inputs per batch, with --model.
    #[arg(long, default_value_t = 1, requires = "model")]
    batch: usize,
    /// Input shape without the batch with --model, e.g. 3x224x224 (default: the model's own).
    #[arg(long, requires = "model")]
    input: Option<String>,
}

/// The model of `--model`, as one workload.
struct ModelBench {
    name: String,
    model: String,
    /// The resolved model, until [`ModelBench::workload`] takes it.
    module: Option<Box<dyn convlab::nn::Module>>,
    input: Vec<usize>,
    batch: usize,
}

impl ModelBench {
    /// Resolves `--model` once to name the workload and fix its input shape.
    fn new(args: &BenchArgs, model: &str) -> Result<ModelBench> {
        if args.batch == 0 || args.batch > 1 << 16 {
            bail!("--batch {} must be from 1 to 65536", args.batch);
        }
        let input = args.input.as_deref().map(crate::summary::parse_shape).transpose()?;
        let resolved = resolve_model(model, None, None, input.as_deref(), 0)?;
        let label = match &resolved.source {
            ModelSource::Zoo { name, .. } => name.clone(),
            ModelSource::Spec(_) => "spec".into(),
            ModelSource::Onnx { path } => {
                path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
            }
        };
        Ok(ModelBench {
            name: format!("{label}_infer/b{}", args.batch),
            model: model.to_string(),
            module: Some(resolved.module),
            input: resolved.input,
            batch: args.batch,
        })
    }

    fn workload(&mut self) -> Result<Workload> {
        let module = self.module.take().context("the model is timed once")?;
        Ok(convlab::bench::inference(&self.name, module, &self.input, self.batch))
    }

    /// The peer's request: the zoo name or the ONNX file's absolute path, batch and input.
    fn request(&self) -> String {
        let lower = self.model.to_ascii_lowercase();
        let onnx = lower.ends_with(".onnx").then(|| std::fs::canonicalize(&self.model).ok()).flatten();
        let zoo = convlab::models::names().iter().any(|n| n.eq_ignore_ascii_case(&self.model));
        json!({
            "name": self.name, "model": zoo.then_some(&self.model), "onnx": onnx,
            "batch": self.batch, "input": self.input,
        })
        .to_string()
    }
}

/// One measured row.
struct Row {
    name: String,
    median_ms: f64,
    reps: usize,
    gflops: Option<f64>,
    images_per_s: Option<f64>,
}

pub fn run(args: &BenchArgs) -> Result<()> {
    if args.threads == 0 {
        bail!("--threads must be at least 1");
    }
    if !(args.budget.is_finite() && (0.0..=3600.0).contains(&args.budget)) {
        bail!("--budget {} must be a number of seconds from 0 to 3600", args.budget);
    }
    let mut custom = args.model.as_deref().map(|m| ModelBench::new(args, m)).transpose()?;
    let names: Vec<String> = match &custom {
        Some(c) => vec![c.name.clone()],
        None => workload_names().into_iter().filter(|n| n.contains(&args.filter)).collect(),
    };
    if names.is_empty() {
        bail!("no workload matches --filter {:?}; the workloads are: {}", args.filter, workload_names().join(", "));
    }
    let pool = rayon::ThreadPoolBuilder::new().num_threads(args.threads).build().context("starting the thread pool")?;
    let malloc = convlab::bench::tune_malloc();
    let peaks = fma_peaks_gflops(args.threads);
    let peak = peaks[0].1;
    let peaks_text: Vec<String> = peaks.iter().map(|(isa, g)| format!("{isa} {g:.1}")).collect();
    let mut peer = if args.compare { Some(Peer::start(args)?) } else { None };
    let (budget, min_reps) = if args.quick { (Duration::ZERO, 1) } else { (Duration::from_secs_f64(args.budget), 3) };
    if args.format.json {
        for (isa, g) in &peaks {
            println!("{}", json!({"name": format!("fma_peak/{isa}"), "threads": args.threads, "gflops": g}));
        }
        println!("{}", json!({"name": "machine", "cpu": cpu_name(), "kernel_isa": simd::active().name()}));
    } else {
        println!(
            "ConvLab bench: {} threads, measured FMA peak GFLOP/s: {}{}",
            args.threads,
            peaks_text.join(", "),
            if args.quick { " (quick)" } else { "" }
        );
        println!("(peak % is of the first, widest one; malloc: {malloc})");
        println!("CPU: {}; ConvLab's kernels use {} (CONVLAB_ISA caps it)", cpu_name(), simd::active().name());
        println!(
            "{:<32} {:>10} {:>6} {:>9} {:>6} {:>10}",
            "workload", "median ms", "reps", "GFLOP/s", "peak", "images/s"
        );
    }
    let mut table = Vec::new();
    for name in &names {
        // Built and run inside the pool so every rayon call in the workload uses its threads.
        let row = pool.install(|| -> Result<Row> {
            let mut w = match custom.as_mut() {
                Some(c) => c.workload()?,
                None => workload(name).with_context(|| format!("unknown workload {name}"))?,
            };
            let (median_ms, reps) = measure(&mut *w.run, budget, min_reps);
            Ok(Row {
                name: name.clone(),
                median_ms,
                reps,
                gflops: w.flops.map(|f| f / median_ms / 1e6),
                images_per_s: w.images.map(|i| i as f64 / (median_ms / 1e3)),
            })
        })?;
        print_row(args, &row, peak);
        if let Some(p) = peer.as_mut() {
            let request = custom.as_ref().map(ModelBench::request).unwrap_or_else(|| name.clone());
            let theirs = p.measure(&request, name)?;
            for t in &theirs {
                if args.format.json {
                    println!("{t}");
                } else {
                    println!(
                        "  {:<30} {:>10.3}   ({})",
                        t["peer"].as_str().unwrap_or("?"),
                        t["median_ms"].as_f64().unwrap_or(f64::NAN),
                        t["layout"].as_str().unwrap_or("")
                    );
                }
            }
            table.push((row, theirs));
        }
    }
    if let Some(p) = peer {
        p.finish();
        print_ratios(args, &table);
    }
    Ok(())
}

fn print_row(args: &BenchArgs, r: &Row, peak: f64) {
    if args.format.json {
        println!(
            "{}",
            json!({"name": r.name, "median_ms": r.median_ms, "gflops": r.gflops, "images_per_s": r.images_per_s, "reps": r.reps, "peak_fraction": r.gflops.map(|g| g / peak)})
        );
    } else {
        let opt = |v: Option<f64>, prec: usize| v.map(|v| format!("{v:.prec$}")).unwrap_or_else(|| "-".into());
        println!(
            "{:<32} {:>10.3} {:>6} {:>9} {:>6} {:>10}",
            r.name,
            r.median_ms,
            r.reps,
            opt(r.gflops, 1),
            r.gflops.map(|g| format!("{:.0}%", 100.0 * g / peak)).unwrap_or_else(|| "-".into()),
            opt(r.images_per_s, 0)
        );
    }
}

fn print_ratios(args: &BenchArgs, table: &[(Row, Vec<Value>)]) {
    if !args.format.json {
        println!("\nratio = best peer's time / ours (> 1: ConvLab is faster)");
        println!("{:<32} {:>10} {:>10} {:>22} {:>7}", "workload", "ours ms", "peer ms", "best peer", "ratio");
    }
    for (ours, theirs) in table {
        let best = theirs
            .iter()
            .filter(|t| t["median_ms"].as_f64().is_some())
            .min_by(|a, b| a["median_ms"].as_f64().unwrap().total_cmp(&b["median_ms"].as_f64().unwrap()));
        let Some(best) = best else { continue };
        let peer_ms = best["median_ms"].as_f64().unwrap_or(f64::NAN);
        let who = format!("{} {}", best["peer"].as_str().unwrap_or("?"), best["layout"].as_str().unwrap_or(""));
        if args.format.json {
            println!(
                "{}",
                json!({"name": ours.name, "ratio": peer_ms / ours.median_ms, "ours_ms": ours.median_ms, "peer_ms": peer_ms, "best_peer": who.trim()})
            );
        } else {
            println!(
                "{:<32} {:>10.3} {:>10.3} {:>22} {:>7.2}",
                ours.name,
                ours.median_ms,
                peer_ms,
                who.trim(),
                peer_ms / ours.median_ms
            );
        }
    }
}

/// The PyTorch / ONNX Runtime process, answering one workload name per line.
struct Peer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Peer {
    fn start(args: &BenchArgs) -> Result<Peer> {
        let ok =
            Command::new("python3").args(["-c", "import torch"]).output().map(|o| o.status.success()).unwrap_or(false);
        if !ok {
            bail!("--compare needs PyTorch: `python3 -c 'import torch'` failed (pip install torch onnxruntime onnx onnxscript)");
        }
        let script = script_path()
            .context("bench/torch_bench.py not found (run from the repository, or set CONVLAB_TORCH_BENCH)")?;
        let mut cmd = Command::new("python3");
        cmd.arg(&script).args([
            "--serve",
            "--threads",
            &args.threads.to_string(),
            "--budget",
            &args.budget.to_string(),
        ]);
        if args.quick {
            cmd.arg("--quick");
        }
        let mut child = cmd
            .env("GLIBC_TUNABLES", GLIBC_TUNABLES)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", script.display()))?;
        let stdin = child.stdin.take().context("peer stdin")?;
        let stdout = BufReader::new(child.stdout.take().context("peer stdout")?);
        Ok(Peer { child, stdin, stdout })
    }

    /// Sends `request` (a workload name, or a model as JSON), collects result lines until
    /// `{"done": name}`.
    fn measure(&mut self, request: &str, name: &str) -> Result<Vec<Value>> {
        writeln!(self.stdin, "{request}")?;
        self.stdin.flush()?;
        let mut rows = Vec::new();
        loop {
            let mut line = String::new();
            if self.stdout.read_line(&mut line)? == 0 {
                bail!("bench/torch_bench.py ended early (while measuring {name})");
            }
            let Ok(v) = serde_json::from_str::<Value>(&line) else { continue };
            if v.get("done").is_some() {
                return Ok(rows);
            }
            rows.push(v);
        }
    }

    fn finish(mut self) {
        drop(self.stdin);
        let _ = self.child.wait();
    }
}

/// The CPU's model name (`/proc/cpuinfo` on Linux), for the numbers it goes with.
fn cpu_name() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let name =
        info.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split_once(':')).map(|(_, v)| v.trim());
    name.unwrap_or("unknown CPU").to_string()
}

fn script_path() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("CONVLAB_TORCH_BENCH") {
        return Some(PathBuf::from(p));
    }
    let candidates = [
        PathBuf::from("bench/torch_bench.py"),
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../bench/torch_bench.py"),
    ];
    candidates.into_iter().find(|p| p.exists())
}
