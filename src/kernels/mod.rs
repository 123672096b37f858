//! Compute kernels of our own, for the places where tract has no fast path
//! (see BENCHMARKS.md, issue 6): plain functions on slices, tested against
//! naive references, wrapped as tract operators in `model::ops`.

pub mod attention;
pub mod conv;
pub mod exp;
pub mod pool;
pub mod qconv;
pub mod upconv;

/// Runs `task(0..tasks)`, spread over `pool`'s threads when one is given
/// (and there is more than one task), in order on the calling thread
/// otherwise.
pub fn for_each_task(
    pool: Option<&rayon::ThreadPool>,
    tasks: usize,
    task: impl Fn(usize) + Sync + Send,
) {
    match pool {
        Some(pool) if tasks > 1 => pool.install(|| {
            use rayon::prelude::*;
            (0..tasks).into_par_iter().for_each(task)
        }),
        _ => (0..tasks).for_each(task),
    }
}
