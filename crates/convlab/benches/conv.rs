//! The workloads of `convlab bench` (see `convlab::bench`): conv2d forward/backward on LeNet
//! and ResNet shapes and whole-model steps, median time and GFLOP/s.
//!
//! `cargo bench -p convlab --bench conv [-- --filter NAME]`; `CONVLAB_BENCH_QUICK=1` for a
//! smoke run. Side by side with PyTorch and ONNX Runtime: `convlab bench --compare`.

use std::time::Duration;

use convlab::bench::{fma_peaks_gflops, measure, workload, workload_names};

fn main() {
    convlab::bench::tune_malloc();
    let args: Vec<String> = std::env::args().collect();
    let filter = args.iter().position(|a| a == "--filter").and_then(|i| args.get(i + 1)).cloned().unwrap_or_default();
    let quick = std::env::var("CONVLAB_BENCH_QUICK").is_ok_and(|v| v == "1");
    let (budget, reps) = if quick { (Duration::ZERO, 1) } else { (Duration::from_millis(1500), 3) };
    let threads = rayon::current_num_threads();
    let peak = fma_peaks_gflops(threads)[0].1;
    println!("{threads} rayon threads, FMA peak {peak:.1} GFLOP/s{}", if quick { " (quick)" } else { "" });
    println!("{:<32} {:>10} {:>9} {:>6} {:>10}", "workload", "median ms", "GFLOP/s", "peak", "images/s");
    for name in workload_names().into_iter().filter(|n| n.contains(filter.as_str())) {
        let mut w = workload(&name).expect("a listed workload");
        let (ms, _) = measure(&mut *w.run, budget, reps);
        let gflops = w.flops.map(|f| f / ms / 1e6).unwrap_or(f64::NAN);
        let images = w.images.map_or_else(|| "-".to_string(), |i| format!("{:.0}", i as f64 / ms * 1e3));
        println!("{name:<32} {ms:>10.3} {gflops:>9.1} {:>5.0}% {images:>10}", 100.0 * gflops / peak);
    }
}
