//! conv2d forward and backward (input + weight gradients) on LeNet and ResNet shapes, next to
//! PyTorch (bench/torch_conv.py, 2 threads) when `import torch` works.
//!
//! `cargo bench -p convlab --bench conv [-- --filter NAME]`; `CONVLAB_BENCH_QUICK=1` for a
//! smoke run. Method: one warm-up call, then repeats for ~1.5 s (at least 3), median.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use convlab::kernels::conv::{conv2d_backward_input, conv2d_backward_weight};
use convlab::ops::conv::{conv2d_output_shape, Conv2dParams};
use convlab::{no_grad, Tensor};

/// (name, N, Cin, H, W, Cout, k, stride, pad): keep in sync with bench/torch_conv.py.
type Case = (&'static str, usize, usize, usize, usize, usize, usize, usize, usize);

const CASES: [Case; 6] = [
    ("lenet_conv1", 64, 1, 28, 28, 6, 5, 1, 2),
    ("lenet_conv2", 64, 6, 14, 14, 16, 5, 1, 0),
    ("resnet_s1", 32, 64, 56, 56, 64, 3, 1, 1),
    ("resnet_s2", 32, 128, 28, 28, 128, 3, 1, 1),
    ("resnet_stem", 8, 3, 224, 224, 64, 7, 2, 3),
    ("resnet_s3", 32, 256, 14, 14, 256, 3, 1, 1),
];

fn median_ms(mut f: impl FnMut(), budget: Duration, min_reps: usize) -> f64 {
    f(); // warm-up
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < min_reps || (start.elapsed() < budget && times.len() < 1000) {
        let t = Instant::now();
        f();
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    times[times.len() / 2]
}

struct Row {
    name: String,
    fwd_ms: f64,
    bwd_ms: f64,
    fwd_gflops: f64,
    bwd_gflops: f64,
}

fn torch_rows(filter: &str, quick: bool) -> Option<Vec<Row>> {
    let ok = Command::new("python3").args(["-c", "import torch"]).output().map(|o| o.status.success()).unwrap_or(false);
    if !ok {
        println!("\n(PyTorch not importable by python3: skipping the side-by-side comparison)");
        return None;
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../bench/torch_conv.py");
    let mut cmd = Command::new("python3");
    cmd.arg(&script).args(["--filter", filter]);
    if quick {
        cmd.arg("--quick");
    }
    let out = cmd.output().ok()?;
    if !out.status.success() {
        println!("\n{} failed: {}", script.display(), String::from_utf8_lossy(&out.stderr));
        return None;
    }
    let rows = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| Row {
            name: v["name"].as_str().unwrap_or("").to_string(),
            fwd_ms: v["fwd_ms"].as_f64().unwrap_or(f64::NAN),
            bwd_ms: v["bwd_ms"].as_f64().unwrap_or(f64::NAN),
            fwd_gflops: v["fwd_gflops"].as_f64().unwrap_or(f64::NAN),
            bwd_gflops: v["bwd_gflops"].as_f64().unwrap_or(f64::NAN),
        })
        .collect();
    Some(rows)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let filter = args.iter().position(|a| a == "--filter").and_then(|i| args.get(i + 1)).cloned().unwrap_or_default();
    let quick = std::env::var("CONVLAB_BENCH_QUICK").is_ok_and(|v| v == "1");
    let (budget, reps) = if quick { (Duration::from_millis(200), 1) } else { (Duration::from_millis(1500), 3) };
    println!("conv2d, {} rayon threads{}", rayon::current_num_threads(), if quick { " (quick)" } else { "" });
    println!("{:<12} {:>10} {:>10} {:>10} {:>10}", "case", "fwd ms", "GFLOP/s", "bwd ms", "GFLOP/s");
    let mut ours = Vec::new();
    for (name, n, cin, h, w, cout, k, s, p) in CASES {
        if !name.contains(filter.as_str()) {
            continue;
        }
        let x = Tensor::randn([n, cin, h, w], 1);
        let wt = Tensor::randn([cout, cin, k, k], 2);
        let b = Tensor::randn([cout], 3);
        let params = Conv2dParams { stride: [s, s], padding: p.into(), ..Default::default() };
        let g = conv2d_output_shape(x.dims(), wt.dims(), &params).unwrap();
        let flops = 2.0 * (n * cout * g.ho * g.wo * cin * k * k) as f64;
        let fwd_ms = median_ms(|| drop(no_grad(|| x.conv2d(&wt, Some(&b), &params))), budget, reps);
        // Backward as autograd runs it for a hidden layer: input and weight gradients.
        let dout = Tensor::randn(g.output_dims(), 4).storage();
        let (xd, wd) = (x.storage(), wt.storage());
        let bwd_ms = median_ms(
            || {
                let mut dx = vec![0.0f32; xd.len()];
                conv2d_backward_input(&g, &dout, &wd, &mut dx);
                let mut dw = vec![0.0f32; wd.len()];
                conv2d_backward_weight(&g, &xd, &dout, &mut dw);
            },
            budget,
            reps,
        );
        let row = Row { name: name.to_string(), fwd_ms, bwd_ms, fwd_gflops: flops / fwd_ms / 1e6, bwd_gflops: 2.0 * flops / bwd_ms / 1e6 };
        println!("{:<12} {:>10.2} {:>10.1} {:>10.2} {:>10.1}", name, row.fwd_ms, row.fwd_gflops, row.bwd_ms, row.bwd_gflops);
        ours.push(row);
    }
    let Some(theirs) = torch_rows(&filter, quick) else { return };
    println!("\nside by side (GFLOP/s; ratio = ours / torch, > 1 is faster)");
    println!("{:<12} {:>9} {:>9} {:>7} {:>9} {:>9} {:>7}", "case", "fwd ours", "fwd torch", "ratio", "bwd ours", "bwd torch", "ratio");
    for o in &ours {
        if let Some(t) = theirs.iter().find(|t| t.name == o.name) {
            println!(
                "{:<12} {:>9.1} {:>9.1} {:>7.2} {:>9.1} {:>9.1} {:>7.2}",
                o.name,
                o.fwd_gflops,
                t.fwd_gflops,
                t.fwd_ms / o.fwd_ms,
                o.bwd_gflops,
                t.bwd_gflops,
                t.bwd_ms / o.bwd_ms
            );
        }
    }
}
