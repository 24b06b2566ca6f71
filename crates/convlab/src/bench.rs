//! The benchmark workloads of `convlab bench` and `cargo bench -p convlab --bench conv`:
//! conv2d forward and backward on LeNet and ResNet shapes, and whole-model inference and
//! training steps, with the measuring method (warm-up, time-bounded repeats, median) and a
//! register-bound FMA loop that measures the machine's peak.
//!
//! Names (the same in `bench/torch_bench.py`): `conv2d_fwd/<shape>`, `conv2d_bwd/<shape>`
//! (input and weight gradients, counted as twice the forward's FLOPs),
//! `lenet5_train_step/b64`, `lenet5_infer/b1000`, `resnet18_cifar_train_step/b64`,
//! `resnet18_cifar_infer/b256`, `resnet18_infer/b1`, `resnet18_infer/b8`; and [`inference`]
//! of any model (`convlab bench --model`).
//!
//! ```
//! use convlab::bench::{measure, workload, workload_names};
//! assert!(workload_names().contains(&"conv2d_fwd/lenet_conv2".to_string()));
//! let mut w = workload("conv2d_fwd/lenet_conv1").unwrap();
//! let (median_ms, reps) = measure(&mut *w.run, std::time::Duration::from_millis(1), 1);
//! assert!(median_ms > 0.0 && reps >= 1);
//! assert!(w.flops.unwrap() > 0.0);
//! ```

use std::time::{Duration, Instant};

use crate::kernels::conv::{conv2d_backward_input, conv2d_backward_weight};
use crate::models::{build, ModelConfig};
use crate::nn::{Forward, Mode, Module};
use crate::ops::conv::{conv2d_output_shape, Conv2dParams};
use crate::ops::loss::{cross_entropy, CrossEntropyParams};
use crate::optim::{Adam, AdamParams, Optimizer, Sgd, SgdParams};
use crate::{no_grad, Tensor};

/// A conv2d benchmark shape: `(name, N, Cin, H, W, Cout, k, stride, pad)`.
pub type ConvShape = (&'static str, usize, usize, usize, usize, usize, usize, usize, usize);

/// The issue's six convolution shapes (keep in sync with `bench/torch_bench.py`).
pub const CONV_SHAPES: [ConvShape; 6] = [
    ("lenet_conv1", 64, 1, 28, 28, 6, 5, 1, 2),
    ("lenet_conv2", 64, 6, 14, 14, 16, 5, 1, 0),
    ("resnet_s1", 32, 64, 56, 56, 64, 3, 1, 1),
    ("resnet_s2", 32, 128, 28, 28, 128, 3, 1, 1),
    ("resnet_stem", 8, 3, 224, 224, 64, 7, 2, 3),
    ("resnet_s3", 32, 256, 14, 14, 256, 3, 1, 1),
];

/// Whole-model workloads: (name, zoo model, batch, training step?, input side).
const MODELS: [(&str, &str, usize, bool, usize); 6] = [
    ("lenet5_train_step/b64", "lenet5", 64, true, 28),
    ("lenet5_infer/b1000", "lenet5", 1000, false, 28),
    ("resnet18_cifar_train_step/b64", "resnet18_cifar", 64, true, 32),
    ("resnet18_cifar_infer/b256", "resnet18_cifar", 256, false, 32),
    ("resnet18_infer/b1", "resnet18", 1, false, 224),
    ("resnet18_infer/b8", "resnet18", 8, false, 224),
];

/// One prepared workload: call `run` to do one unit of work.
pub struct Workload {
    pub name: String,
    /// Floating-point operations of one run (2 per multiply-add), when known.
    pub flops: Option<f64>,
    /// Images processed by one run (model workloads).
    pub images: Option<usize>,
    pub run: Box<dyn FnMut()>,
}

/// Every workload name, in the order they run.
pub fn workload_names() -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for dir in ["fwd", "bwd"] {
        names.extend(CONV_SHAPES.iter().map(|c| format!("conv2d_{dir}/{}", c.0)));
    }
    names.extend(MODELS.iter().map(|m| m.0.to_string()));
    names
}

/// Builds the inputs and model of the workload `name` (None for an unknown name).
pub fn workload(name: &str) -> Option<Workload> {
    if let Some((dir, shape)) = name.strip_prefix("conv2d_").and_then(|r| r.split_once('/')) {
        let &(_, n, cin, h, w, cout, k, s, p) = CONV_SHAPES.iter().find(|c| c.0 == shape)?;
        let x = Tensor::randn([n, cin, h, w], 1);
        let wt = Tensor::randn([cout, cin, k, k], 2);
        let b = Tensor::randn([cout], 3);
        let params = Conv2dParams { stride: [s, s], padding: p.into(), ..Default::default() };
        let g = conv2d_output_shape(x.dims(), wt.dims(), &params).ok()?;
        let flops = 2.0 * (n * cout * g.ho() * g.wo() * cin * k * k) as f64;
        let run: Box<dyn FnMut()> = match dir {
            "fwd" => Box::new(move || drop(no_grad(|| x.conv2d(&wt, Some(&b), &params)))),
            "bwd" => {
                // As autograd runs it for a hidden layer: input and weight gradients.
                let dout = Tensor::randn(g.output_dims(), 4).storage();
                let (xd, wd) = (x.storage(), wt.storage());
                Box::new(move || {
                    let mut dx = vec![0.0f32; xd.len()]; // [N, Cin, H, W]
                    conv2d_backward_input(&g, &dout, &wd, &mut dx);
                    let mut dw = vec![0.0f32; wd.len()]; // [Cout, Cin, k, k]
                    conv2d_backward_weight(&g, &xd, &dout, &mut dw);
                })
            }
            _ => return None,
        };
        let flops = if dir == "bwd" { 2.0 * flops } else { flops };
        return Some(Workload { name: name.to_string(), flops: Some(flops), images: None, run });
    }
    let &(_, model, batch, train, side) = MODELS.iter().find(|m| m.0 == name)?;
    let config = ModelConfig::for_model(model).ok()?;
    let net = build(model, &config, 0).ok()?;
    if !train {
        return Some(inference(name, net, &[config.in_channels, side, side], batch));
    }
    let macs = crate::summary::summarize(&*net, &[config.in_channels, side, side], 0).ok().map(|s| s.total_macs as f64);
    let x = Tensor::randn([batch, config.in_channels, side, side], 5);
    let targets: Vec<usize> = (0..batch).map(|i| i % config.num_classes).collect();
    let params = net.named_parameters();
    // LeNet-5 trains with Adam 1e-3 (the MNIST recipe), ResNet with SGD + momentum.
    let mut opt: Box<dyn Optimizer> = if model == "lenet5" {
        Box::new(Adam::new(params, AdamParams { lr: 1e-3, ..AdamParams::default() }))
    } else {
        Box::new(Sgd::new(params, SgdParams { lr: 0.01, momentum: 0.9, ..SgdParams::default() }))
    };
    let mut step = 0u64;
    let run: Box<dyn FnMut()> = Box::new(move || {
        step += 1;
        let mut ctx = Forward::new(Mode::Train, step);
        let logits = net.forward(&x, &mut ctx);
        let loss = cross_entropy(&logits, &targets, &CrossEntropyParams::default());
        let grads = loss.backward();
        opt.step(&grads);
    });
    // Training: forward + two backward products per layer, 3x the forward's FLOPs.
    let flops = macs.map(|m| 2.0 * m * batch as f64 * 3.0);
    Some(Workload { name: name.to_string(), flops, images: Some(batch), run })
}

/// Inference of `net` (eval mode, no gradients) on a random batch of `batch` inputs of shape
/// `input` (`[C, H, W]`), as workload `name`: any zoo, spec or imported model, compiled into an
/// [`crate::infer::Plan`] (the module itself where it cannot be traced).
pub fn inference(name: &str, net: Box<dyn Module>, input: &[usize], batch: usize) -> Workload {
    let macs = crate::summary::summarize(&*net, input, 0).ok().map(|s| s.total_macs as f64);
    let mut dims = vec![batch];
    dims.extend_from_slice(input);
    let x = Tensor::randn(dims.clone(), 5);
    let plan = crate::infer::Plan::or_module(net, &dims);
    let run = Box::new(move || drop(plan.run(&x)));
    Workload { name: name.to_string(), flops: macs.map(|m| 2.0 * m * batch as f64), images: Some(batch), run }
}

/// Runs `f` once to warm up, then repeats it for `budget` (at least `min_reps` times, at
/// most 1000): returns the median time in milliseconds and the number of timed runs.
pub fn measure(f: &mut dyn FnMut(), budget: Duration, min_reps: usize) -> (f64, usize) {
    f();
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < min_reps.max(1) || (start.elapsed() < budget && times.len() < 1000) {
        let t = Instant::now();
        f();
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(|a, b| a.total_cmp(b));
    (times[times.len() / 2], times.len())
}

/// The machine's measured f32 FMA peak in GFLOP/s on `threads` threads: each thread runs a
/// register-bound loop of independent fused multiply-adds, counted as 2 FLOPs per lane; the
/// best of a few short tries. One entry per instruction set the CPU has, widest first
/// (`"avx512"`, `"avx2"`, or `"scalar"` elsewhere); the first is the ceiling.
pub fn fma_peaks_gflops(threads: usize) -> Vec<(&'static str, f64)> {
    fma::available().into_iter().map(|isa| (isa, fma_peak(threads, isa))).collect()
}

fn fma_peak(threads: usize, isa: &'static str) -> f64 {
    let threads = threads.max(1);
    let iters: u64 = 10_000_000;
    let mut best = 0.0f64;
    for _ in 0..3 {
        let start = Instant::now();
        let flops: f64 = std::thread::scope(|s| {
            let hs: Vec<_> = (0..threads).map(|_| s.spawn(move || fma::run(isa, iters))).collect();
            hs.into_iter().map(|h| h.join().unwrap_or(0.0)).sum()
        });
        best = best.max(flops / start.elapsed().as_secs_f64() / 1e9);
    }
    best
}

mod fma {
    /// The loops this CPU can run, widest first.
    pub fn available() -> Vec<&'static str> {
        let mut v = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx512f") {
                v.push("avx512");
            }
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                v.push("avx2");
            }
        }
        if v.is_empty() {
            v.push("scalar");
        }
        v
    }

    /// Runs the FMA loop of `isa` (one of [`available`]); returns the FLOPs done.
    pub fn run(isa: &str, iters: u64) -> f64 {
        #[cfg(target_arch = "x86_64")]
        {
            if isa == "avx512" && is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU supports AVX-512F (checked above).
                std::hint::black_box(unsafe { avx512(iters) });
                return (iters * 12 * 16 * 2) as f64;
            }
            if isa == "avx2" && is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                // SAFETY: the CPU supports AVX2 and FMA (checked above).
                std::hint::black_box(unsafe { avx2(iters) });
                return (iters * 12 * 8 * 2) as f64;
            }
        }
        // Portable fallback: scalar mul_add chains (the compiler may or may not fuse them).
        let mut acc = [1.0f32; 8];
        for _ in 0..iters {
            for a in acc.iter_mut() {
                *a = a.mul_add(0.999_999, 1e-7);
            }
        }
        std::hint::black_box(acc);
        (iters * 8 * 2) as f64
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn avx512(iters: u64) -> f32 {
        use std::arch::x86_64::*;
        let (a, b) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
        let mut acc = [_mm512_set1_ps(1.0); 12];
        for _ in 0..iters {
            for v in acc.iter_mut() {
                *v = _mm512_fmadd_ps(*v, a, b);
            }
        }
        let mut s = _mm512_setzero_ps();
        for v in acc {
            s = _mm512_add_ps(s, v);
        }
        _mm512_reduce_add_ps(s)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn avx2(iters: u64) -> f32 {
        use std::arch::x86_64::*;
        let (a, b) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
        let mut acc = [_mm256_set1_ps(1.0); 12];
        for _ in 0..iters {
            for v in acc.iter_mut() {
                *v = _mm256_fmadd_ps(*v, a, b);
            }
        }
        let mut out = [0.0f32; 8];
        let mut s = _mm256_setzero_ps();
        for v in acc {
            s = _mm256_add_ps(s, v);
        }
        _mm256_storeu_ps(out.as_mut_ptr(), s);
        out.iter().sum()
    }
}

/// Sets glibc malloc so that large freed buffers are kept and reused instead of unmapped and
/// faulted in again: the settings the peers get (`GLIBC_TUNABLES` in `convlab bench
/// --compare`). Every `convlab` command and `cargo bench` call it first; programs using the
/// library can too. Returns a description for reports.
///
/// glibc serves requests over 32 MiB (the most `M_MMAP_THRESHOLD` allows) with a fresh `mmap`
/// and unmaps them on free, so every large activation of a batch is faulted in page by page
/// (~1.5 µs per 4 KiB page here). `M_MMAP_MAX = 0` keeps every buffer in the heap; one arena
/// (`M_ARENA_MAX = 1`) because the per-thread arenas of worker threads are capped at 64 MiB
/// each and fall back to `mmap` above that; a trim threshold at the maximum keeps freed memory
/// mapped. ResNet-18 (CIFAR form) inference at batch 256: 1.25 s → 0.90 s, peak RSS 1.56 →
/// 0.97 GB, minor page faults 1.44 M → 0.26 M.
pub fn tune_malloc() -> &'static str {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes glibc's allocation thresholds; called before the workloads allocate.
        let ok = unsafe {
            libc::mallopt(libc::M_MMAP_MAX, 0) == 1
                && libc::mallopt(libc::M_ARENA_MAX, 1) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX) == 1
        };
        if ok {
            return "no mmap, one arena, trim_threshold max (as the peers)";
        }
    }
    "default"
}
