//! 2 × 2, stride-2 max pooling on f32 NCHW planes: the U-Net's downsampling.
//!
//! ```
//! use utx_edge::kernels::pool::max_pool_2x2;
//! let x = [1.0, 5.0, 2.0, 0.0, 3.0, 4.0, 7.0, 8.0]; // one 2 × 4 plane
//! let mut y = [0.0; 2];
//! max_pool_2x2(&x, &mut y, 2, 4, None);
//! assert_eq!(y, [5.0, 8.0]);
//! ```

/// `x` is `[planes][h][w]`, `y` is `[planes][h / 2][w / 2]` (a last odd
/// row or column is dropped, as ONNX MaxPool without padding does).
/// Planes are spread over `pool`'s threads when one is given.
pub fn max_pool_2x2(
    x: &[f32],
    y: &mut [f32],
    h: usize,
    w: usize,
    pool: Option<&rayon::ThreadPool>,
) {
    let (oh, ow) = (h / 2, w / 2);
    assert!(
        h * w > 0 && x.len().is_multiple_of(h * w) && y.len() == x.len() / (h * w) * oh * ow,
        "max pool buffers ({} in, {} out) do not match {h} × {w}",
        x.len(),
        y.len()
    );
    let plane = |(x, y): (&[f32], &mut [f32])| {
        for (r, out) in y.chunks_exact_mut(ow).enumerate() {
            let (top, bottom) = (&x[2 * r * w..][..2 * ow], &x[(2 * r + 1) * w..][..2 * ow]);
            for ((o, t), b) in out
                .iter_mut()
                .zip(top.chunks_exact(2))
                .zip(bottom.chunks_exact(2))
            {
                *o = t[0].max(t[1]).max(b[0].max(b[1]));
            }
        }
    };
    match pool {
        Some(pool) if x.len() > h * w => pool.install(|| {
            use rayon::prelude::*;
            x.par_chunks(h * w)
                .zip(y.par_chunks_mut(oh * ow))
                .for_each(plane)
        }),
        _ => x.chunks(h * w).zip(y.chunks_mut(oh * ow)).for_each(plane),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_direct_max_on_odd_sizes_and_threads() {
        let (planes, h, w) = (5, 9, 13);
        let x: Vec<f32> = (0..planes * h * w)
            .map(|i| ((i * 7919) % 1000) as f32 - 500.0)
            .collect();
        let mut want = vec![0f32; planes * 4 * 6];
        for p in 0..planes {
            for r in 0..4 {
                for c in 0..6 {
                    let at = |dr: usize, dc: usize| x[p * h * w + (2 * r + dr) * w + 2 * c + dc];
                    want[(p * 4 + r) * 6 + c] = at(0, 0).max(at(0, 1)).max(at(1, 0)).max(at(1, 1));
                }
            }
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        for p in [None, Some(&pool)] {
            let mut y = vec![f32::NAN; want.len()];
            max_pool_2x2(&x, &mut y, h, w, p);
            assert_eq!(y, want);
        }
    }
}
