//! Runtime choice of vector instructions for the hand-written kernels.
//!
//! The crate is compiled for the baseline of its target (SSE2 on x86-64), so that one binary
//! runs on any machine. [`dispatch`] runs a closure inside a function compiled with AVX-512
//! (or AVX2 + FMA) enabled when the CPU has it; everything the closure inlines (kernels mark
//! their hot helpers `#[inline(always)]`) is then auto-vectorised with 512-bit (or 256-bit)
//! registers. Calls that are not inlined run as compiled, so the gain is only where inlining
//! reaches.
//!
//! ```
//! let v: Vec<f32> = (0..1000).map(|i| i as f32).collect();
//! let s = convlab::kernels::simd::dispatch(|| v.iter().map(|x| x * 2.0).sum::<f32>());
//! assert_eq!(s, 999_000.0);
//! ```

/// Runs `f` compiled for the widest vector extension this CPU supports.
#[inline(always)]
pub fn dispatch<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512dq")
        {
            // SAFETY: the CPU supports every feature the function is compiled for.
            return unsafe { x86::avx512(f) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: as above.
            return unsafe { x86::avx2(f) };
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
