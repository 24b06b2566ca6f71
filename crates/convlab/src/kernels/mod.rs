//! The compute boundary: plain-slice CPU kernels that the ops in [`crate::ops`] call.
//!
//! Kernels know nothing of tensors or graphs: they take row-major slices and explicit sizes,
//! with a shape comment on every buffer. Forward and backward kernels come in pairs
//! (`conv2d_forward`, `conv2d_backward_input`, `conv2d_backward_weight`). A GPU backend would
//! add a sibling of this module without touching the op definitions.
//!
//! Every kernel takes its arguments in one order: first what describes the work (a geometry
//! such as [`conv::Conv2dGeometry`], sizes and settings in named structs or enums, never bare
//! `bool` flags), then the input buffers, then the output buffers (scratch space last).
//!
//! The crate is compiled for its target's baseline; [`simd::dispatch`] runs the hand-written
//! loops (Winograd transforms, pooling, batch norm, element-wise maps, optimizer steps) with
//! AVX-512 or AVX2 + FMA where the CPU has them. GEMM is the `gemm` crate's, which dispatches
//! on its own.

/// Whether a kernel may spread its work over rayon's threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Threads {
    /// On the calling thread only (the caller already runs tasks in parallel).
    Serial,
    /// On rayon's pool, where the work is large enough to be worth it.
    Parallel,
}

pub mod batchnorm;
pub mod conv;
pub mod dropout;
pub mod gemm;
pub mod map;
pub mod pool;
pub mod simd;
pub mod softmax;
