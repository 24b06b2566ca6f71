//! The operations, one file (or folder) per family. Each op writes its forward computation
//! and its chain rule next to each other; heavy ops call paired kernels in [`crate::kernels`].

pub mod activation;
pub mod batchnorm;
pub mod compare;
pub mod conv;
pub mod dropout;
pub mod elementwise;
pub mod layout;
pub mod linear;
pub mod loss;
pub mod matmul;
pub mod pad;
pub mod pool;
pub mod reduce;
pub mod softmax;
