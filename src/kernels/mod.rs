//! Compute kernels of our own, for the places where tract has no fast path
//! (see BENCHMARKS.md, issue 6): plain functions on slices, tested against
//! naive references, wrapped as tract operators in `model::ops`.

pub mod attention;
pub mod conv;
pub mod exp;
pub mod pool;
pub mod qconv;
pub mod upconv;
