//! Runtime choice of vector instructions for the hand-written kernels.
//!
//! The crate is compiled for the baseline of its target (SSE2 on x86-64), so that one binary
//! runs on any machine. [`dispatch`] runs a closure inside a function compiled with AVX-512
//! (or AVX2 + FMA) enabled when the CPU has it; everything the closure inlines (kernels mark
//! their hot helpers `#[inline(always)]`) is then auto-vectorised with 512-bit (or 256-bit)
//! registers. Calls that are not inlined run as compiled, so the gain is only where inlining
//! reaches. `CONVLAB_ISA=avx2` (or `baseline`) caps the choice, to measure the narrower
//! paths on a wider machine ([`active`]); the GEMM crate chooses its own kernels.
//!
//! ```
//! let v: Vec<f32> = (0..1000).map(|i| i as f32).collect();
//! let s = convlab::kernels::simd::dispatch(|| v.iter().map(|x| x * 2.0).sum::<f32>());
//! assert_eq!(s, 999_000.0);
//! assert!(convlab::kernels::simd::active() <= convlab::kernels::simd::detected());
//! ```

/// The vector extensions [`dispatch`] chooses between, narrowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Isa {
    /// The target's baseline (SSE2 on x86-64).
    Baseline,
    /// AVX2 and FMA.
    Avx2,
    /// AVX-512 F/VL/BW/DQ.
    Avx512,
}

impl Isa {
    /// The name `CONVLAB_ISA` takes: `baseline`, `avx2`, `avx512`.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Baseline => "baseline",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }
}

/// The widest extension this CPU has.
pub fn detected() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512dq")
        {
            return Isa::Avx512;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            return Isa::Avx2;
        }
    }
    Isa::Baseline
}

/// The extension [`dispatch`] uses: the widest this CPU has, or a narrower one named by the
/// environment variable `CONVLAB_ISA` (`avx2` measures the AVX2 kernels on an AVX-512
/// machine; `baseline` turns the vector paths off). A wider or unknown name than the CPU
/// has is ignored. Read once per process.
pub fn active() -> Isa {
    static ACTIVE: std::sync::OnceLock<Isa> = std::sync::OnceLock::new();
    *ACTIVE.get_or_init(|| {
        let cpu = detected();
        let asked = match std::env::var("CONVLAB_ISA").ok().as_deref().map(str::trim) {
            Some("baseline" | "sse2") => Some(Isa::Baseline),
            Some("avx2") => Some(Isa::Avx2),
            Some("avx512") => Some(Isa::Avx512),
            _ => None,
        };
        asked.map_or(cpu, |a| a.min(cpu))
    })
}

/// Runs `f` compiled for the extension [`active`] names.
#[inline(always)]
pub fn dispatch<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        match active() {
            // SAFETY: `active` names only extensions the CPU supports.
            Isa::Avx512 => return unsafe { x86::avx512(f) },
            // SAFETY: as above.
            Isa::Avx2 => return unsafe { x86::avx2(f) },
            Isa::Baseline => {}
        }
    }
    f()
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    /// # Safety
    /// The CPU must support AVX-512 F/VL/BW/DQ.
    #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,bmi1,bmi2,lzcnt,popcnt")]
    pub(super) unsafe fn avx512<R>(f: impl FnOnce() -> R) -> R {
        f()
    }

    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma,bmi1,bmi2,lzcnt,popcnt")]
    pub(super) unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
        f()
    }
}
