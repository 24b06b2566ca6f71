//! The calculator commands: the lecture's hand computations, for any numbers.

pub mod conv;
pub mod matrix;
pub mod options;
pub mod pool;
