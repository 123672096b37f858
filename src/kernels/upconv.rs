//! 2 × 2, stride-2 transposed convolution (the U-Net's learned upsampling)
//! as a 1 × 1 convolution to `4 · cout` channels followed by depth-to-space:
//! each input pixel feeds exactly one output pixel per kernel tap, so
//! `out[co, 2y + dy, 2x + dx] = b[co] + Σ_ci w[co, ci, dy, dx] · x[ci, y, x]`
//! is one GEMM ([`PackedConv`]) and an interleaving copy.
//!
//! ```
//! use utx_edge::kernels::upconv::UpConv2x2;
//! // 1 → 1 channel: each input pixel becomes a 2 × 2 block w · x + b.
//! let up = UpConv2x2::new(1, 1, 1, 2, &[1.0, 2.0, 3.0, 4.0], &[0.5]);
//! let mut y = vec![0.0; 8];
//! up.run(&[1.0, 10.0], &mut y, None);
//! assert_eq!(y, [1.5, 2.5, 10.5, 20.5, 3.5, 4.5, 30.5, 40.5]);
//! ```

use std::cell::RefCell;

use super::conv::{ConvShape, PackedConv};

/// Packed weights of one 2 × 2 stride-2 transposed convolution on `h × w` inputs.
#[derive(Clone, Debug)]
pub struct UpConv2x2 {
    pub cin: usize,
    pub cout: usize,
    pub h: usize,
    pub w: usize,
    /// The 1 × 1 convolution to `[dy][dx][cout]` channels.
    conv: PackedConv,
}

thread_local! {
    /// The `[4 · cout][h][w]` result of the GEMM, before interleaving.
    static TAPS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

impl UpConv2x2 {
    /// `weights` `[cout, cin, 2, 2]` (tract's OIHW after its ONNX import),
    /// `bias` `[cout]`.
    pub fn new(cin: usize, cout: usize, h: usize, w: usize, weights: &[f32], bias: &[f32]) -> Self {
        assert_eq!(
            weights.len(),
            cout * cin * 4,
            "weights do not match {cout}×{cin}×2×2"
        );
        assert_eq!(bias.len(), cout, "bias does not match {cout} channels");
        let mut w1 = vec![0f32; 4 * cout * cin];
        for co in 0..cout {
            for ci in 0..cin {
                for t in 0..4 {
                    w1[(t * cout + co) * cin + ci] = weights[(co * cin + ci) * 4 + t];
                }
            }
        }
        let b1: Vec<f32> = (0..4).flat_map(|_| bias.iter().copied()).collect();
        let conv = PackedConv::new(ConvShape::new(cin, 4 * cout, h, w, 1, 1, 0), &w1, &b1);
        Self {
            cin,
            cout,
            h,
            w,
            conv,
        }
    }

    /// `input` `[n, cin, h, w]` → `output` `[n, cout, 2h, 2w]`.
    pub fn run(&self, input: &[f32], output: &mut [f32], pool: Option<&rayon::ThreadPool>) {
        let (plane, out_plane) = (self.h * self.w, 4 * self.h * self.w);
        let images = input.len() / (self.cin * plane);
        assert!(
            input.len() == images * self.cin * plane
                && output.len() == images * self.cout * out_plane,
            "transposed conv buffers ({} in, {} out) do not match {}→{} on {}×{}",
            input.len(),
            output.len(),
            self.cin,
            self.cout,
            self.h,
            self.w
        );
        TAPS.with(|taps| {
            let mut taps = taps.borrow_mut();
            taps.resize(4 * self.cout * plane, 0.0);
            for (x, y) in input
                .chunks_exact(self.cin * plane)
                .zip(output.chunks_exact_mut(self.cout * out_plane))
            {
                self.conv.run(x, &mut taps, false, pool);
                let taps = &taps[..];
                // Channel co of the output takes taps t·cout + co, t = 2·dy + dx.
                let interleave = |(co, out): (usize, &mut [f32])| {
                    for (r, rows) in out.chunks_exact_mut(4 * self.w).enumerate() {
                        for (dy, row) in rows.chunks_exact_mut(2 * self.w).enumerate() {
                            let t0 =
                                &taps[((2 * dy) * self.cout + co) * plane + r * self.w..][..self.w];
                            let t1 = &taps[((2 * dy + 1) * self.cout + co) * plane + r * self.w..]
                                [..self.w];
                            for ((o, a), b) in row.chunks_exact_mut(2).zip(t0).zip(t1) {
                                o[0] = *a;
                                o[1] = *b;
                            }
                        }
                    }
                };
                match pool {
                    Some(pool) => pool.install(|| {
                        use rayon::prelude::*;
                        y.par_chunks_mut(out_plane).enumerate().for_each(interleave)
                    }),
                    None => y.chunks_mut(out_plane).enumerate().for_each(interleave),
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against the definition, scattering every input pixel, on a batch of
    /// two, with and without threads.
    #[test]
    fn matches_the_transposed_convolution() {
        let (n, cin, cout, h, w) = (2, 5, 3, 4, 7);
        let x: Vec<f32> = (0..n * cin * h * w)
            .map(|i| ((i * 37) % 23) as f32 / 7.0 - 1.5)
            .collect();
        let wt: Vec<f32> = (0..cout * cin * 4)
            .map(|i| ((i * 11) % 13) as f32 / 5.0 - 1.2)
            .collect();
        let b = [0.25, -1.0, 3.0];
        let mut want = vec![0f32; n * cout * 4 * h * w];
        for i in 0..n {
            for co in 0..cout {
                for y in 0..2 * h {
                    for xx in 0..2 * w {
                        let mut acc = b[co] as f64;
                        for ci in 0..cin {
                            let k = wt[((co * cin + ci) * 2 + y % 2) * 2 + xx % 2] as f64;
                            acc += k * x[((i * cin + ci) * h + y / 2) * w + xx / 2] as f64;
                        }
                        want[((i * cout + co) * 2 * h + y) * 2 * w + xx] = acc as f32;
                    }
                }
            }
        }
        let up = UpConv2x2::new(cin, cout, h, w, &wt, &b);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        for p in [None, Some(&pool)] {
            let mut got = vec![f32::NAN; want.len()];
            up.run(&x, &mut got, p);
            for (g, e) in got.iter().zip(&want) {
                assert!((g - e).abs() < 1e-4, "{g} vs {e}");
            }
        }
    }
}
