//! The int8 convolution of our exported models (`QuantizeLinear →
//! QLinearConv → DequantizeLinear`, export/src/quantize.rs) as one kernel:
//! f32 in, integer products, f32 out.
//!
//! - The input is quantised once per call to u8 in a channel-interleaved
//!   layout `[cin / 4][h][w][4]`, so that the 4 bytes one VNNI instruction
//!   multiplies for a pixel (4 input channels at one kernel tap) are
//!   adjacent, and the taps of a run of pixels are one contiguous copy.
//! - Panels of `NR` pixels are gathered from it (the zero point in the
//!   padding, which is 0.0 in float) and multiplied by the i8 weights,
//!   packed once: `acc[co, p] = Σ w[co, k] · x_q[k, p]` in i32.
//! - The store does what QLinearConv and DequantizeLinear do: subtract the
//!   zero point's contribution (`x0 · Σ w`, a constant per channel since the
//!   weights are symmetric), add the integer bias, requantise with
//!   `x_scale · w_scale[co] / y_scale` rounding half to even, clamp to u8,
//!   and write `(y_q − y0) · y_scale`, optionally through a ReLU.
//!
//! The products use AVX-512 VNNI (`vpdpbusd`: 64 multiply–adds per
//! instruction, 4× the f32 FMA) when the CPU has it, and exact i32
//! arithmetic in portable Rust otherwise.
//!
//! ```
//! use utx_edge::kernels::conv::ConvShape;
//! use utx_edge::kernels::qconv::{QConv, Quant};
//! // One 3 × 3 averaging-like filter on a constant image of 1.0.
//! let shape = ConvShape::new(1, 1, 4, 4, 3, 1, 1);
//! let conv = QConv::new(shape, &[10i8; 9], &[0.01], &[0], Quant::new(1.0 / 255.0, 0), Quant::new(0.1, 0));
//! let mut y = vec![0f32; 16];
//! conv.run(&[1.0; 16], &mut y, false, None);
//! // Inner pixels: 9 taps · 1.0 · 0.1 = 0.9; corners: 4 taps = 0.4.
//! assert!((y[5] - 0.9).abs() < 1e-6 && (y[0] - 0.4).abs() < 1e-6);
//! ```

use std::cell::RefCell;

use super::conv::{gather, ConvShape};

/// Pixels per panel and output channels per micro-tile: 2 × 16 i32 lanes by
/// 8 channels, 16 of the 32 zmm registers as accumulators.
const NR: usize = 32;
const MR: usize = 8;

/// A u8 quantisation: `real = (q − zero_point) · scale`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quant {
    pub scale: f32,
    pub zero_point: u8,
}

impl Quant {
    pub fn new(scale: f32, zero_point: u8) -> Self {
        Self { scale, zero_point }
    }

    /// ONNX QuantizeLinear: round half to even, saturate.
    #[inline(always)]
    pub fn quantize(&self, x: f32) -> u8 {
        (round_even(x / self.scale) + self.zero_point as f32).clamp(0.0, 255.0) as u8
    }
}

/// Rounds half to even like `f32::round_ties_even`, which is a libm call
/// on baseline x86-64: adding and subtracting 1.5 · 2^23 leaves the
/// nearest integer (ties to even, the default rounding mode), in a form
/// that vectorises. Arguments are clamped to ±2^22 first; every caller
/// saturates to 0..=255 afterwards.
#[inline(always)]
fn round_even(x: f32) -> f32 {
    const ROUND: f32 = 12_582_912.0;
    (x.clamp(-4_194_304.0, 4_194_304.0) + ROUND) - ROUND
}

/// Packed int8 weights and the requantisation constants of one QLinearConv.
#[derive(Clone, Debug)]
pub struct QConv {
    pub shape: ConvShape,
    x: Quant,
    y: Quant,
    /// `[cout / MR][cin4 · taps][MR][4]`, zero past `cout` and `cin`.
    a: Vec<i8>,
    /// Per output channel: `bias − x0 · Σ w`.
    offset: Vec<i32>,
    /// Per output channel: `x_scale · w_scale / y_scale`.
    multiplier: Vec<f32>,
    vnni: bool,
}

#[derive(Clone, Copy)]
struct OutPtr(*mut f32);
// SAFETY: threads write disjoint pixel ranges of the output (see `run`).
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

impl OutPtr {
    /// Through a method, so that closures capture the `Sync` wrapper, not the pointer.
    fn get(self) -> *mut f32 {
        self.0
    }
}

thread_local! {
    /// The quantised input of the current call (on the calling thread), one
    /// word per pixel and group of 4 channels.
    static QUANTISED: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
    /// One gathered panel per worker thread.
    static PANEL: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
}

impl QConv {
    /// `weights` `[cout, cin, k, k]` with one scale per output channel
    /// (zero point 0), `bias` in units of `x.scale · w_scale`.
    pub fn new(
        shape: ConvShape,
        weights: &[i8],
        w_scales: &[f32],
        bias: &[i32],
        x: Quant,
        y: Quant,
    ) -> Self {
        let vnni = cfg!(target_arch = "x86_64") && vnni_available();
        Self::with_vnni(shape, weights, w_scales, bias, x, y, vnni)
    }

    pub fn with_vnni(
        shape: ConvShape,
        weights: &[i8],
        w_scales: &[f32],
        bias: &[i32],
        x: Quant,
        y: Quant,
        vnni: bool,
    ) -> Self {
        let (cout, cin, taps) = (shape.cout, shape.cin, shape.kernel * shape.kernel);
        assert_eq!(
            weights.len(),
            cout * cin * taps,
            "weights do not match {shape:?}"
        );
        assert!(
            w_scales.len() == cout || w_scales.len() == 1,
            "weight scales do not match {shape:?}"
        );
        assert!(
            bias.len() == cout || bias.is_empty(),
            "bias does not match {shape:?}"
        );
        let k4 = cin.div_ceil(4) * taps;
        let blocks = cout.div_ceil(MR);
        let mut a = vec![0i8; blocks * k4 * MR * 4];
        for co in 0..cout {
            for ci in 0..cin {
                for t in 0..taps {
                    let kk = (ci / 4) * taps + t;
                    a[((co / MR * k4 + kk) * MR + co % MR) * 4 + ci % 4] =
                        weights[(co * cin + ci) * taps + t];
                }
            }
        }
        let offset = (0..cout)
            .map(|co| {
                let sum: i32 = weights[co * cin * taps..(co + 1) * cin * taps]
                    .iter()
                    .map(|w| *w as i32)
                    .sum();
                bias.get(co).copied().unwrap_or(0) - x.zero_point as i32 * sum
            })
            .collect();
        let multiplier = (0..cout)
            .map(|co| {
                let ws = if w_scales.len() == 1 {
                    w_scales[0]
                } else {
                    w_scales[co]
                };
                (x.scale as f64 * ws as f64 / y.scale as f64) as f32
            })
            .collect();
        Self {
            shape,
            x,
            y,
            a,
            offset,
            multiplier,
            vnni,
        }
    }

    pub fn uses_vnni(&self) -> bool {
        self.vnni
    }

    /// `input` `[n, cin, h, w]` f32 → `output` `[n, cout, oh, ow]` f32, the
    /// dequantised result of the integer convolution; `relu` clamps it at 0.
    pub fn run(
        &self,
        input: &[f32],
        output: &mut [f32],
        relu: bool,
        pool: Option<&rayon::ThreadPool>,
    ) {
        let s = &self.shape;
        let (in_len, out_len) = (s.cin * s.h * s.w, s.cout * s.pixels());
        assert!(
            input.len().is_multiple_of(in_len) && output.len() == input.len() / in_len * out_len,
            "qconv buffers ({} in, {} out) do not match {s:?}",
            input.len(),
            output.len()
        );
        let panels = s.pixels().div_ceil(NR);
        let threads = pool.map_or(1, |p| p.current_num_threads());
        let per_task = panels.div_ceil(4 * threads).max(1);
        let tasks = panels.div_ceil(per_task);
        QUANTISED.with(|q| {
            let mut q = q.borrow_mut();
            for (n, x) in input.chunks_exact(in_len).enumerate() {
                self.quantise_input(x, &mut q, pool);
                let q = &q[..];
                // SAFETY: image n's plane; each task writes its own pixels.
                let y = OutPtr(unsafe { output.as_mut_ptr().add(n * out_len) });
                let task = |t: usize| {
                    let first = t * per_task * NR;
                    let last = ((t + 1) * per_task * NR).min(s.pixels());
                    PANEL.with(|p| {
                        self.run_pixels(q, y.get(), first..last, relu, &mut p.borrow_mut())
                    });
                };
                super::for_each_task(pool, tasks, task);
            }
        });
    }

    /// f32 `[cin][h][w]` → words `[cin4][h][w]` of 4 u8 channels (little
    /// endian: byte t is channel 4g + t), channels past `cin` at the zero point.
    fn quantise_input(&self, x: &[f32], q: &mut Vec<u32>, pool: Option<&rayon::ThreadPool>) {
        let s = &self.shape;
        let plane = s.h * s.w;
        q.resize(s.cin.div_ceil(4) * plane, 0);
        let zero = self.x.zero_point;
        let group = |(g, dst): (usize, &mut [u32])| {
            let channel = |t: usize| {
                let c = g * 4 + t;
                (c < s.cin).then(|| &x[c * plane..(c + 1) * plane])
            };
            let src = [channel(0), channel(1), channel(2), channel(3)];
            let byte = |t: usize, p: usize| match src[t] {
                Some(c) => self.x.quantize(c[p]),
                None => zero,
            };
            for (p, d) in dst.iter_mut().enumerate() {
                *d = u32::from_le_bytes([byte(0, p), byte(1, p), byte(2, p), byte(3, p)]);
            }
        };
        match pool {
            Some(pool) if s.cin > 4 => pool.install(|| {
                use rayon::prelude::*;
                q.par_chunks_mut(plane).enumerate().for_each(group)
            }),
            _ => q.chunks_mut(plane).enumerate().for_each(group),
        }
    }

    fn run_pixels(
        &self,
        q: &[u32],
        y: *mut f32,
        pixels: std::ops::Range<usize>,
        relu: bool,
        panel: &mut Vec<u32>,
    ) {
        #[cfg(target_arch = "x86_64")]
        if self.vnni {
            // SAFETY: `vnni` is only set when the CPU has AVX-512 VNNI.
            return unsafe { self.run_pixels_vnni(q, y, pixels, relu, panel) };
        }
        self.run_pixels_with(q, y, pixels, relu, panel, tile_portable)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma")]
    unsafe fn run_pixels_vnni(
        &self,
        q: &[u32],
        y: *mut f32,
        pixels: std::ops::Range<usize>,
        relu: bool,
        panel: &mut Vec<u32>,
    ) {
        self.run_pixels_with(q, y, pixels, relu, panel, |k4, a, b, acc| {
            // SAFETY: this function only runs where the CPU has AVX-512 VNNI.
            unsafe { vnni::tile(k4, a, b, acc) }
        })
    }

    #[inline(always)]
    fn run_pixels_with(
        &self,
        q: &[u32],
        y: *mut f32,
        pixels: std::ops::Range<usize>,
        relu: bool,
        panel: &mut Vec<u32>,
        tile: impl Fn(usize, &[i8], &[u32], &mut [[i32; NR]; MR]),
    ) {
        let s = &self.shape;
        let k4 = s.cin.div_ceil(4) * s.kernel * s.kernel;
        // The gather sees the words as the pixels of a cin4-channel image.
        let words = ConvShape {
            cin: s.cin.div_ceil(4),
            ..*s
        };
        let zero = u32::from_le_bytes([self.x.zero_point; 4]);
        panel.resize(k4 * NR, 0);
        let mut p0 = pixels.start;
        while p0 < pixels.end {
            let cols = NR.min(pixels.end - p0);
            gather::<u32, NR>(&words, q, p0, cols, 0, k4, panel, zero);
            for blk in 0..s.cout.div_ceil(MR) {
                let a = &self.a[blk * k4 * MR * 4..(blk + 1) * k4 * MR * 4];
                let mut acc = [[0i32; NR]; MR];
                tile(k4, a, panel, &mut acc);
                self.store(&acc, blk, y, p0, cols, relu);
            }
            p0 += cols;
        }
    }

    /// Requantise, dequantise and write one micro-tile.
    #[inline(always)]
    fn store(
        &self,
        acc: &[[i32; NR]; MR],
        blk: usize,
        y: *mut f32,
        p0: usize,
        cols: usize,
        relu: bool,
    ) {
        let s = &self.shape;
        let (y0, ys) = (self.y.zero_point as f32, self.y.scale);
        // A ReLU after dequantising is a clamp at the zero point before it.
        let floor = if relu { y0 } else { 0.0 };
        for (r, acc_r) in acc.iter().enumerate().take(MR.min(s.cout - blk * MR)) {
            let co = blk * MR + r;
            let (off, m) = (self.offset[co], self.multiplier[co]);
            // SAFETY: row co, pixels p0..p0 + cols of this image's plane,
            // which only this task writes.
            let dst = unsafe { std::slice::from_raw_parts_mut(y.add(co * s.pixels() + p0), cols) };
            for (d, a) in dst.iter_mut().zip(acc_r) {
                let q = (round_even((a + off) as f32 * m) + y0).clamp(floor, 255.0);
                *d = (q - y0) * ys;
            }
        }
    }
}

/// True when this CPU runs the VNNI path (AVX-512 F, BW and VNNI).
pub fn vnni_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `acc[i][j] += Σ_t a[k][i][t] · b[k][j] byte t` over `k4` groups, exact in i32.
fn tile_portable(k4: usize, a: &[i8], b: &[u32], acc: &mut [[i32; NR]; MR]) {
    for (a, b) in a.chunks_exact(MR * 4).zip(b.chunks_exact(NR)).take(k4) {
        for i in 0..MR {
            for j in 0..NR {
                let x = b[j].to_le_bytes();
                let mut s = 0i32;
                for t in 0..4 {
                    s += a[i * 4 + t] as i32 * x[t] as i32;
                }
                acc[i][j] += s;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod vnni {
    use super::{MR, NR};
    use std::arch::x86_64::*;

    /// [`super::tile_portable`] with `vpdpbusd`: per `k4` group, two loads of
    /// 32 pixels × 4 bytes and one broadcast of 4 weight bytes per channel.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub unsafe fn tile(k4: usize, a: &[i8], b: &[u32], acc: &mut [[i32; NR]; MR]) {
        assert!(a.len() >= k4 * MR * 4 && b.len() >= k4 * NR);
        let mut c = [[_mm512_setzero_si512(); 2]; MR];
        let (mut pa, mut pb) = (a.as_ptr() as *const i32, b.as_ptr());
        for _ in 0..k4 {
            let b0 = _mm512_loadu_si512(pb as *const _);
            let b1 = _mm512_loadu_si512(pb.add(16) as *const _);
            for (i, ci) in c.iter_mut().enumerate() {
                let w = _mm512_set1_epi32(pa.add(i).read_unaligned());
                ci[0] = _mm512_dpbusd_epi32(ci[0], b0, w);
                ci[1] = _mm512_dpbusd_epi32(ci[1], b1, w);
            }
            pa = pa.add(MR);
            pb = pb.add(NR);
        }
        for (ci, acc_i) in c.iter().zip(acc.iter_mut()) {
            _mm512_storeu_si512(acc_i.as_mut_ptr() as *mut _, ci[0]);
            _mm512_storeu_si512(acc_i.as_mut_ptr().add(16) as *mut _, ci[1]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: u32) -> Vec<i32> {
        let mut state = seed.wrapping_mul(2_654_435_761).max(1);
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state % 1000) as i32
            })
            .collect()
    }

    /// QuantizeLinear → QLinearConv → DequantizeLinear → ReLU as ONNX defines
    /// them, directly, in i64.
    #[allow(clippy::too_many_arguments)]
    fn reference(
        s: &ConvShape,
        x: &[f32],
        w: &[i8],
        ws: &[f32],
        b: &[i32],
        xq: Quant,
        yq: Quant,
        relu: bool,
    ) -> Vec<f32> {
        let q: Vec<u8> = x.iter().map(|v| xq.quantize(*v)).collect();
        let mut out = vec![0f32; s.cout * s.pixels()];
        for co in 0..s.cout {
            for p in 0..s.pixels() {
                let (oy, ox) = (p / s.ow, p % s.ow);
                let mut acc = b[co] as i64;
                for ci in 0..s.cin {
                    for ky in 0..s.kernel {
                        for kx in 0..s.kernel {
                            let iy = (oy * s.stride + ky) as isize - s.pad as isize;
                            let ix = (ox * s.stride + kx) as isize - s.pad as isize;
                            if iy < 0 || ix < 0 || iy >= s.h as isize || ix >= s.w as isize {
                                continue;
                            }
                            let xv = q[(ci * s.h + iy as usize) * s.w + ix as usize] as i64
                                - xq.zero_point as i64;
                            acc +=
                                xv * w[((co * s.cin + ci) * s.kernel + ky) * s.kernel + kx] as i64;
                        }
                    }
                }
                let m = (xq.scale as f64 * ws[co] as f64 / yq.scale as f64) as f32;
                let yv =
                    ((acc as f32 * m).round_ties_even() + yq.zero_point as f32).clamp(0.0, 255.0);
                let v = (yv - yq.zero_point as f32) * yq.scale;
                out[co * s.pixels() + p] = if relu { v.max(0.0) } else { v };
            }
        }
        out
    }

    /// Both paths equal the ONNX definition exactly (the same f32 rounding
    /// steps), on shapes with channel, pixel and kernel remainders, strides,
    /// non-zero zero points and saturation.
    #[test]
    fn matches_the_onnx_definition() {
        let shapes = [
            ConvShape::new(1, 8, 9, 7, 3, 1, 1),
            ConvShape::new(6, 11, 7, 37, 3, 1, 1),
            ConvShape::new(33, 16, 5, 40, 3, 1, 1),
            ConvShape::new(7, 9, 13, 10, 3, 2, 1),
            ConvShape::new(17, 9, 8, 40, 1, 1, 0),
            ConvShape::new(4, 6, 16, 16, 4, 4, 0),
        ];
        for (i, s) in shapes.iter().enumerate() {
            let seed = i as u32 * 10;
            let x: Vec<f32> = values(2 * s.cin * s.h * s.w, seed + 1)
                .iter()
                .map(|v| *v as f32 / 400.0 - 0.8)
                .collect();
            let w: Vec<i8> = values(s.cout * s.k(), seed + 2)
                .iter()
                .map(|v| (v % 255 - 127) as i8)
                .collect();
            let ws: Vec<f32> = values(s.cout, seed + 3)
                .iter()
                .map(|v| 1e-3 + *v as f32 * 1e-5)
                .collect();
            let b: Vec<i32> = values(s.cout, seed + 4)
                .iter()
                .map(|v| v * 20 - 10_000)
                .collect();
            let (xq, yq) = (
                Quant::new(0.0075, 107),
                Quant::new(0.02 * (1.0 + i as f32), 31 * i as u8),
            );
            for relu in [false, true] {
                let want: Vec<f32> = x
                    .chunks(s.cin * s.h * s.w)
                    .flat_map(|x| reference(s, x, &w, &ws, &b, xq, yq, relu))
                    .collect();
                for vnni in [false, vnni_available()] {
                    let conv = QConv::with_vnni(*s, &w, &ws, &b, xq, yq, vnni);
                    let mut got = vec![f32::NAN; want.len()];
                    conv.run(&x, &mut got, relu, None);
                    assert_eq!(got, want, "{s:?} vnni {vnni} relu {relu}");
                }
            }
        }
    }

    #[test]
    fn threads_give_the_same_result() {
        let s = ConvShape::new(6, 10, 30, 50, 3, 1, 1);
        let x: Vec<f32> = values(3 * 6 * 1500, 1)
            .iter()
            .map(|v| *v as f32 / 500.0 - 1.0)
            .collect();
        let w: Vec<i8> = values(10 * 54, 2)
            .iter()
            .map(|v| (v % 200 - 100) as i8)
            .collect();
        let conv = QConv::new(
            s,
            &w,
            &[0.01; 10],
            &[5; 10],
            Quant::new(0.01, 100),
            Quant::new(0.05, 10),
        );
        let mut one = vec![0f32; 3 * 10 * 1500];
        conv.run(&x, &mut one, true, None);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let mut three = vec![f32::NAN; one.len()];
        conv.run(&x, &mut three, true, Some(&pool));
        assert_eq!(one, three);
    }
}
