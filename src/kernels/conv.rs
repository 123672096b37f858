//! 2D convolution on f32 NCHW planes as a packed GEMM with implicit im2col.
//!
//! `out[co, p] = bias[co] + Σ_k w[co, k] · col[k, p]`, with `k` running over
//! (input channel, kernel row, kernel column) and `p` over output pixels. The
//! weights are packed once, in blocks of `MR` output channels; the `col`
//! matrix is never built: each panel of `NR` output pixels is gathered from
//! the input `KC` taps at a time into a small per-thread buffer, then every
//! block of output channels runs a register-tiled `MR × NR` micro-kernel over
//! it. Memory is therefore bounded by `KC × NR` floats per thread whatever the
//! image size, where tract's im2col materialises `K × pixels` (BENCHMARKS.md).
//!
//! Panels away from the image border are not even gathered: the
//! micro-kernel reads each tap's `NR` inputs where they lie in the image,
//! through a table of offsets (an indirect GEMM, as XNNPACK does). Copying
//! them first cost 30–50 % of the time of a 3 × 3 layer with 32–64 output
//! channels (BENCHMARKS.md).
//!
//! The micro-kernel is written with intrinsics for AVX-512 and AVX2 + FMA,
//! chosen at run time, and in plain Rust for other targets.
//!
//! ```
//! use utx_edge::kernels::conv::{ConvShape, PackedConv};
//! // 2 → 3 channels, 3 × 3 kernel, padding 1, on a 4 × 5 image.
//! let shape = ConvShape::new(2, 3, 4, 5, 3, 1, 1);
//! let w = vec![0.1f32; 3 * 2 * 9];
//! let conv = PackedConv::new(shape, &w, &[0.0, 1.0, -1.0]);
//! let x = vec![1.0f32; 2 * 4 * 5];
//! let mut y = vec![0.0f32; 3 * 4 * 5];
//! conv.run(&x, &mut y, true, None);
//! // A corner pixel sees 2 channels × 4 taps of 1.0 · 0.1.
//! assert!((y[0] - 0.8).abs() < 1e-6 && (y[20] - 1.8).abs() < 1e-6 && y[40] == 0.0);
//! ```

use std::cell::RefCell;

/// Taps gathered per pass: a `KC × NR` panel stays in the L1/L2 cache while
/// every block of output channels runs over it.
const KC: usize = 256;

/// Geometry of a square-kernel, single-group convolution on one image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    pub cin: usize,
    pub cout: usize,
    pub h: usize,
    pub w: usize,
    pub kernel: usize,
    pub stride: usize,
    /// Zero padding on every side.
    pub pad: usize,
    pub oh: usize,
    pub ow: usize,
}

impl ConvShape {
    pub fn new(
        cin: usize,
        cout: usize,
        h: usize,
        w: usize,
        kernel: usize,
        stride: usize,
        pad: usize,
    ) -> Self {
        let out = |n: usize| (n + 2 * pad - kernel) / stride + 1;
        Self {
            cin,
            cout,
            h,
            w,
            kernel,
            stride,
            pad,
            oh: out(h),
            ow: out(w),
        }
    }

    /// Length of the reduction: input channels × kernel taps.
    pub fn k(&self) -> usize {
        self.cin * self.kernel * self.kernel
    }

    pub fn pixels(&self) -> usize {
        self.oh * self.ow
    }

    /// Multiply–adds per image.
    pub fn macs(&self) -> usize {
        self.cout * self.k() * self.pixels()
    }
}

/// The instruction sets the micro-kernel is compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    Avx512,
    Avx2Fma,
    Portable,
}

impl Isa {
    /// The best one this CPU runs.
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Isa::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Isa::Avx2Fma;
            }
        }
        Isa::Portable
    }

    /// Output channels × pixels of one micro-tile: as many accumulators as
    /// the registers hold (32 zmm, 16 ymm, 16 or 32 128-bit).
    fn tile(self) -> (usize, usize) {
        match self {
            Isa::Avx512 => (8, 32),
            Isa::Avx2Fma => (4, 16),
            Isa::Portable => (4, 16),
        }
    }
}

/// Weights packed for one instruction set, with the bias.
#[derive(Clone, Debug)]
pub struct PackedConv {
    pub shape: ConvShape,
    isa: Isa,
    /// `[cout / MR][k][MR]`, zero rows past `cout`.
    a: Vec<f32>,
    bias: Vec<f32>,
}

/// The output pointer shared by the threads of one call; each writes its own pixels.
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

/// Per-thread buffers, reused across calls.
#[derive(Default)]
struct Scratch {
    /// One gathered `KC × NR` panel (border panels).
    panel: Vec<f32>,
    /// Where each tap's run of `NR` inputs starts in the image (inner panels).
    rows: Vec<usize>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl PackedConv {
    /// `weights` is `[cout, cin, kernel, kernel]`, `bias` is `[cout]`.
    pub fn new(shape: ConvShape, weights: &[f32], bias: &[f32]) -> Self {
        Self::with_isa(shape, weights, bias, Isa::detect())
    }

    pub fn with_isa(shape: ConvShape, weights: &[f32], bias: &[f32], isa: Isa) -> Self {
        let k = shape.k();
        assert_eq!(
            weights.len(),
            shape.cout * k,
            "weights do not match {shape:?}"
        );
        assert_eq!(bias.len(), shape.cout, "bias does not match {shape:?}");
        let (mr, _) = isa.tile();
        let blocks = shape.cout.div_ceil(mr);
        let mut a = vec![0f32; blocks * k * mr];
        for co in 0..shape.cout {
            let (blk, r) = (co / mr, co % mr);
            for kk in 0..k {
                a[(blk * k + kk) * mr + r] = weights[co * k + kk];
            }
        }
        Self {
            shape,
            isa,
            a,
            bias: bias.to_vec(),
        }
    }

    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// Convolves `images` images: `input` is `[n, cin, h, w]`, `output`
    /// `[n, cout, oh, ow]`; `relu` clamps the result at 0. Pixel panels are
    /// spread over `pool`'s threads when one is given.
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
            "conv buffers ({} in, {} out) do not match {s:?}",
            input.len(),
            output.len()
        );
        let images = input.len() / in_len;
        let (_, nr) = self.isa.tile();
        let panels = s.pixels().div_ceil(nr);
        // Tasks of whole panels; several per thread so they even out.
        let per_task = match pool {
            Some(p) => panels.div_ceil(4 * p.current_num_threads()).max(1),
            None => panels,
        };
        let tasks_per_image = panels.div_ceil(per_task);
        let out = OutPtr(output.as_mut_ptr());
        let task = |t: usize| {
            let (n, j) = (t / tasks_per_image, t % tasks_per_image);
            let first = j * per_task * nr;
            let last = ((j + 1) * per_task * nr).min(s.pixels());
            let x = &input[n * in_len..(n + 1) * in_len];
            // SAFETY: image n's output plane; this task writes pixels first..last only.
            let y = unsafe { out.get().add(n * out_len) };
            SCRATCH.with(|p| self.run_pixels(x, y, first..last, relu, &mut p.borrow_mut()));
        };
        super::for_each_task(pool, images * tasks_per_image, task);
    }

    fn run_pixels(
        &self,
        x: &[f32],
        y: *mut f32,
        pixels: std::ops::Range<usize>,
        relu: bool,
        scratch: &mut Scratch,
    ) {
        match self.isa {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Isa::Avx512` is only chosen when the CPU has AVX-512F.
            Isa::Avx512 => unsafe { self.run_avx512(x, y, pixels, relu, scratch) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Isa::Avx2Fma` is only chosen when the CPU has AVX2 and FMA.
            Isa::Avx2Fma => unsafe { self.run_avx2(x, y, pixels, relu, scratch) },
            _ => self.run_generic::<4, 16, PortableTile>(x, y, pixels, relu, scratch),
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn run_avx512(
        &self,
        x: &[f32],
        y: *mut f32,
        pixels: std::ops::Range<usize>,
        relu: bool,
        scratch: &mut Scratch,
    ) {
        self.run_generic::<8, 32, Avx512Tile>(x, y, pixels, relu, scratch)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn run_avx2(
        &self,
        x: &[f32],
        y: *mut f32,
        pixels: std::ops::Range<usize>,
        relu: bool,
        scratch: &mut Scratch,
    ) {
        self.run_generic::<4, 16, Avx2Tile>(x, y, pixels, relu, scratch)
    }

    /// Output pixels `pixels` of one image, all channels, written through `y`.
    #[inline(always)]
    fn run_generic<const MR: usize, const NR: usize, T: Tile<MR, NR>>(
        &self,
        x: &[f32],
        y: *mut f32,
        pixels: std::ops::Range<usize>,
        relu: bool,
        scratch: &mut Scratch,
    ) {
        let s = &self.shape;
        let (k, npix) = (s.k(), s.pixels());
        scratch.panel.resize(KC * NR, 0.0);
        scratch.rows.resize(KC, 0);
        // K in equal blocks of at most KC taps (288 = 2 × 144, not 256 + 32).
        let kc_max = k.div_ceil(k.div_ceil(KC));
        let mut p0 = pixels.start;
        while p0 < pixels.end {
            let cols = NR.min(pixels.end - p0);
            let inner = inner_panel(s, p0, cols, NR);
            let mut k0 = 0;
            while k0 < k {
                let kc = kc_max.min(k - k0);
                // Inner panels read their taps where they lie in the image
                // (an indirection per tap, no copy); border panels gather
                // them with the padding zeros into the panel buffer.
                match inner {
                    Some((oy, ox)) => {
                        tap_offsets(s, oy, ox, k0, &mut scratch.rows[..kc]);
                        // Offsets grow with the tap: the last one bounds them all.
                        assert!(
                            scratch.rows[kc - 1] + NR <= x.len(),
                            "conv tap outside {s:?}"
                        );
                    }
                    None => gather::<f32, NR>(s, x, p0, cols, k0, kc, &mut scratch.panel, 0.0),
                }
                let (first, last) = (k0 == 0, k0 + kc == k);
                for blk in 0..s.cout.div_ceil(MR) {
                    let rows = MR.min(s.cout - blk * MR);
                    // SAFETY: rows blk·MR.. of this image's plane, pixels
                    // p0..p0 + cols, which only this task writes.
                    let row = |r: usize| unsafe {
                        std::slice::from_raw_parts_mut(y.add((blk * MR + r) * npix + p0), cols)
                    };
                    let mut acc = [[0f32; NR]; MR];
                    for (r, acc_r) in acc.iter_mut().enumerate().take(rows) {
                        if first {
                            *acc_r = [self.bias[blk * MR + r]; NR];
                        } else {
                            acc_r[..cols].copy_from_slice(row(r));
                        }
                    }
                    let a = &self.a[(blk * k + k0) * MR..(blk * k + k0 + kc) * MR];
                    match inner {
                        // SAFETY: every offset is checked above.
                        Some(_) => unsafe { T::tile_rows(kc, a, x, &scratch.rows[..kc], &mut acc) },
                        None => T::tile(kc, a, &scratch.panel[..kc * NR], &mut acc),
                    }
                    for (r, acc_r) in acc.iter().enumerate().take(rows) {
                        let dst = row(r);
                        if relu && last {
                            for (d, a) in dst.iter_mut().zip(acc_r) {
                                *d = a.max(0.0);
                            }
                        } else {
                            dst.copy_from_slice(&acc_r[..cols]);
                        }
                    }
                }
                k0 += kc;
            }
            p0 += cols;
        }
    }
}

/// The output row and column of the panel at `p0` when it is a full panel
/// on one output row whose every tap reads `nr` inputs inside the image
/// (stride 1, away from the padding).
#[inline(always)]
fn inner_panel(s: &ConvShape, p0: usize, cols: usize, nr: usize) -> Option<(usize, usize)> {
    let (oy, ox) = (p0 / s.ow, p0 % s.ow);
    let reach = s.kernel - 1;
    (s.stride == 1
        && cols == nr
        && ox + nr <= s.ow
        && oy >= s.pad
        && oy + reach < s.h + s.pad
        && ox >= s.pad
        && ox + nr + reach <= s.w + s.pad)
        .then_some((oy, ox))
}

/// For an inner panel at (`oy`, `ox`): where tap `k0 + i`'s run of inputs
/// starts in the image, for each `i`.
#[inline(always)]
fn tap_offsets(s: &ConvShape, oy: usize, ox: usize, k0: usize, offsets: &mut [usize]) {
    let taps = s.kernel * s.kernel;
    let (mut ci, t) = (k0 / taps, k0 % taps);
    let (mut ky, mut kx) = (t / s.kernel, t % s.kernel);
    for o in offsets.iter_mut() {
        *o = (ci * s.h + oy + ky - s.pad) * s.w + ox + kx - s.pad;
        kx += 1;
        if kx == s.kernel {
            (kx, ky) = (0, ky + 1);
            if ky == s.kernel {
                (ky, ci) = (0, ci + 1);
            }
        }
    }
}

/// Gathers taps `k0..k0 + kc` of output pixels `p0..p0 + cols` into
/// `panel[kc][NR]`: the input value each tap reads, `zero` in the padding
/// and past the last pixel. `x` is `[s.cin][s.h][s.w]` of any element type
/// (f32 here, words of 4 u8 channels in [`super::qconv`]).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(super) fn gather<T: Copy, const NR: usize>(
    s: &ConvShape,
    x: &[T],
    p0: usize,
    cols: usize,
    k0: usize,
    kc: usize,
    panel: &mut [T],
    zero: T,
) {
    let taps = s.kernel * s.kernel;
    let (oy, ox) = (p0 / s.ow, p0 % s.ow);
    // Common case: the panel lies on one output row and stride is 1, so each
    // tap reads a contiguous run of an input row.
    let one_row = s.stride == 1 && ox + cols <= s.ow;
    // (channel, kernel row, kernel column) of tap k0, then stepped: no
    // divisions per tap.
    let (mut ci, t) = (k0 / taps, k0 % taps);
    let (mut ky, mut kx) = (t / s.kernel, t % s.kernel);
    for dst in panel.chunks_exact_mut(NR).take(kc) {
        let dst: &mut [T; NR] = dst.try_into().unwrap();
        let plane = &x[ci * s.h * s.w..(ci + 1) * s.h * s.w];
        if one_row {
            gather_row(s, plane, dst, oy + ky, ox + kx, cols, zero);
        } else {
            for (j, d) in dst.iter_mut().enumerate() {
                *d = if j < cols {
                    let p = p0 + j;
                    let (oy, ox) = (p / s.ow, p % s.ow);
                    let iy = (oy * s.stride + ky) as isize - s.pad as isize;
                    let ix = (ox * s.stride + kx) as isize - s.pad as isize;
                    if iy < 0 || ix < 0 || iy >= s.h as isize || ix >= s.w as isize {
                        zero
                    } else {
                        plane[iy as usize * s.w + ix as usize]
                    }
                } else {
                    zero
                };
            }
        }
        kx += 1;
        if kx == s.kernel {
            (kx, ky) = (0, ky + 1);
            if ky == s.kernel {
                (ky, ci) = (0, ci + 1);
            }
        }
    }
}

/// One tap of a one-row panel: output columns `ox..ox + cols` read input
/// row `y − pad`, columns from `x − pad` (both in padded coordinates).
#[inline(always)]
fn gather_row<T: Copy, const NR: usize>(
    s: &ConvShape,
    plane: &[T],
    dst: &mut [T; NR],
    y: usize,
    x: usize,
    cols: usize,
    zero: T,
) {
    if y < s.pad || y - s.pad >= s.h {
        dst.fill(zero);
        return;
    }
    let row = &plane[(y - s.pad) * s.w..(y - s.pad + 1) * s.w];
    if x >= s.pad && x - s.pad + NR <= s.w && cols == NR {
        // Interior: one fixed-size copy, a few vector moves.
        let start = x - s.pad;
        dst.copy_from_slice(&row[start..start + NR]);
        return;
    }
    let shift = x as isize - s.pad as isize;
    let lo = (-shift).clamp(0, cols as isize) as usize;
    let hi = (s.w as isize - shift).clamp(lo as isize, cols as isize) as usize;
    dst[..lo].fill(zero);
    let start = (shift + lo as isize) as usize;
    dst[lo..hi].copy_from_slice(&row[start..start + hi - lo]);
    dst[hi..].fill(zero);
}

/// The micro-kernel: `acc += a · b` over `kc` taps, `a` `[kc][MR]`, `b` `[kc][NR]`.
trait Tile<const MR: usize, const NR: usize> {
    fn tile(kc: usize, a: &[f32], b: &[f32], acc: &mut [[f32; NR]; MR]);

    /// The same with `b`'s rows read in place: row `i` is `x[rows[i]..][..NR]`.
    ///
    /// # Safety
    /// `rows[..kc]` all satisfy `rows[i] + NR <= x.len()` (checked once per
    /// block by the caller, not per micro-tile).
    unsafe fn tile_rows(kc: usize, a: &[f32], x: &[f32], rows: &[usize], acc: &mut [[f32; NR]; MR]);
}

/// Plain Rust, for targets without a kernel of their own.
struct PortableTile;

impl<const MR: usize, const NR: usize> Tile<MR, NR> for PortableTile {
    #[inline(always)]
    fn tile(kc: usize, a: &[f32], b: &[f32], acc: &mut [[f32; NR]; MR]) {
        for (a, b) in a.chunks_exact(MR).zip(b.chunks_exact(NR)).take(kc) {
            for i in 0..MR {
                for j in 0..NR {
                    acc[i][j] += a[i] * b[j];
                }
            }
        }
    }

    #[inline(always)]
    unsafe fn tile_rows(
        kc: usize,
        a: &[f32],
        x: &[f32],
        rows: &[usize],
        acc: &mut [[f32; NR]; MR],
    ) {
        for (a, &r) in a.chunks_exact(MR).zip(rows).take(kc) {
            let b = &x[r..r + NR];
            for i in 0..MR {
                for j in 0..NR {
                    acc[i][j] += a[i] * b[j];
                }
            }
        }
    }
}

/// 8 channels × 32 pixels in 16 zmm accumulators; per tap two loads of
/// the panel and one broadcast weight per channel.
#[cfg(target_arch = "x86_64")]
struct Avx512Tile;

#[cfg(target_arch = "x86_64")]
impl Tile<8, 32> for Avx512Tile {
    #[inline(always)]
    fn tile(kc: usize, a: &[f32], b: &[f32], acc: &mut [[f32; 32]; 8]) {
        assert!(a.len() >= kc * 8 && b.len() >= kc * 32);
        // SAFETY: only reached from `run_avx512` (AVX-512F present); the
        // lengths are checked above.
        unsafe { tile_avx512(kc, a.as_ptr(), |k| b.as_ptr().add(32 * k), acc) }
    }

    #[inline(always)]
    unsafe fn tile_rows(kc: usize, a: &[f32], x: &[f32], rows: &[usize], acc: &mut [[f32; 32]; 8]) {
        assert!(a.len() >= kc * 8 && rows.len() >= kc);
        // SAFETY: as above, and every row's 32 values are inside `x` (the
        // caller's contract).
        unsafe {
            tile_avx512(
                kc,
                a.as_ptr(),
                |k| x.as_ptr().add(*rows.get_unchecked(k)),
                acc,
            )
        }
    }
}

/// A function of its own with the feature enabled, so that the intrinsics
/// inline into it and the 16 accumulators live in registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn tile_avx512(
    kc: usize,
    mut pa: *const f32,
    b_row: impl Fn(usize) -> *const f32,
    acc: &mut [[f32; 32]; 8],
) {
    use std::arch::x86_64::*;
    let mut c = [[_mm512_setzero_ps(); 2]; 8];
    for (ci, acc_i) in c.iter_mut().zip(acc.iter()) {
        ci[0] = _mm512_loadu_ps(acc_i.as_ptr());
        ci[1] = _mm512_loadu_ps(acc_i.as_ptr().add(16));
    }
    for k in 0..kc {
        let pb = b_row(k);
        let b0 = _mm512_loadu_ps(pb);
        let b1 = _mm512_loadu_ps(pb.add(16));
        for (i, ci) in c.iter_mut().enumerate() {
            let w = _mm512_set1_ps(*pa.add(i));
            ci[0] = _mm512_fmadd_ps(w, b0, ci[0]);
            ci[1] = _mm512_fmadd_ps(w, b1, ci[1]);
        }
        pa = pa.add(8);
    }
    for (ci, acc_i) in c.iter().zip(acc.iter_mut()) {
        _mm512_storeu_ps(acc_i.as_mut_ptr(), ci[0]);
        _mm512_storeu_ps(acc_i.as_mut_ptr().add(16), ci[1]);
    }
}

/// 4 channels × 16 pixels in 8 ymm accumulators.
#[cfg(target_arch = "x86_64")]
struct Avx2Tile;

#[cfg(target_arch = "x86_64")]
impl Tile<4, 16> for Avx2Tile {
    #[inline(always)]
    fn tile(kc: usize, a: &[f32], b: &[f32], acc: &mut [[f32; 16]; 4]) {
        assert!(a.len() >= kc * 4 && b.len() >= kc * 16);
        // SAFETY: only reached from `run_avx2` (AVX2 and FMA present); the
        // lengths are checked above.
        unsafe { tile_avx2(kc, a.as_ptr(), |k| b.as_ptr().add(16 * k), acc) }
    }

    #[inline(always)]
    unsafe fn tile_rows(kc: usize, a: &[f32], x: &[f32], rows: &[usize], acc: &mut [[f32; 16]; 4]) {
        assert!(a.len() >= kc * 4 && rows.len() >= kc);
        // SAFETY: as above, and every row's 16 values are inside `x` (the
        // caller's contract).
        unsafe {
            tile_avx2(
                kc,
                a.as_ptr(),
                |k| x.as_ptr().add(*rows.get_unchecked(k)),
                acc,
            )
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn tile_avx2(
    kc: usize,
    mut pa: *const f32,
    b_row: impl Fn(usize) -> *const f32,
    acc: &mut [[f32; 16]; 4],
) {
    use std::arch::x86_64::*;
    let mut c = [[_mm256_setzero_ps(); 2]; 4];
    for (ci, acc_i) in c.iter_mut().zip(acc.iter()) {
        ci[0] = _mm256_loadu_ps(acc_i.as_ptr());
        ci[1] = _mm256_loadu_ps(acc_i.as_ptr().add(8));
    }
    for k in 0..kc {
        let pb = b_row(k);
        let b0 = _mm256_loadu_ps(pb);
        let b1 = _mm256_loadu_ps(pb.add(8));
        for (i, ci) in c.iter_mut().enumerate() {
            let w = _mm256_set1_ps(*pa.add(i));
            ci[0] = _mm256_fmadd_ps(w, b0, ci[0]);
            ci[1] = _mm256_fmadd_ps(w, b1, ci[1]);
        }
        pa = pa.add(4);
    }
    for (ci, acc_i) in c.iter().zip(acc.iter_mut()) {
        _mm256_storeu_ps(acc_i.as_mut_ptr(), ci[0]);
        _mm256_storeu_ps(acc_i.as_mut_ptr().add(8), ci[1]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct f64 convolution, the reference.
    fn naive(s: &ConvShape, x: &[f32], w: &[f32], b: &[f32], relu: bool) -> Vec<f32> {
        let mut y = vec![0f32; s.cout * s.pixels()];
        for co in 0..s.cout {
            for oy in 0..s.oh {
                for ox in 0..s.ow {
                    let mut acc = b[co] as f64;
                    for ci in 0..s.cin {
                        for ky in 0..s.kernel {
                            for kx in 0..s.kernel {
                                let iy = (oy * s.stride + ky) as isize - s.pad as isize;
                                let ix = (ox * s.stride + kx) as isize - s.pad as isize;
                                if iy < 0 || ix < 0 || iy >= s.h as isize || ix >= s.w as isize {
                                    continue;
                                }
                                let wv = w[((co * s.cin + ci) * s.kernel + ky) * s.kernel + kx];
                                let xv = x[(ci * s.h + iy as usize) * s.w + ix as usize];
                                acc += wv as f64 * xv as f64;
                            }
                        }
                    }
                    let v = acc as f32;
                    y[co * s.pixels() + oy * s.ow + ox] = if relu { v.max(0.0) } else { v };
                }
            }
        }
        y
    }

    fn values(n: usize, seed: u32) -> Vec<f32> {
        let mut state = seed.wrapping_mul(2_654_435_761).max(1);
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    fn isas() -> Vec<Isa> {
        let mut v = vec![Isa::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                v.push(Isa::Avx2Fma);
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                v.push(Isa::Avx512);
            }
        }
        v
    }

    /// Every instruction set against the f64 reference, on shapes that hit
    /// channel and pixel remainders, several K blocks, strides, 1 × 1
    /// kernels, images narrower than a panel, and a batch of two.
    #[test]
    fn matches_the_direct_convolution() {
        let shapes = [
            ConvShape::new(1, 8, 9, 7, 3, 1, 1),
            ConvShape::new(3, 5, 11, 37, 3, 1, 1),
            ConvShape::new(40, 16, 6, 33, 3, 1, 1), // K = 360 > KC
            ConvShape::new(7, 12, 13, 10, 3, 2, 1),
            ConvShape::new(17, 9, 8, 40, 1, 1, 0),
            ConvShape::new(4, 6, 16, 16, 4, 4, 0),
            ConvShape::new(2, 3, 5, 5, 5, 1, 2),
            // Wide rows: inner panels read in place, next to border panels.
            ConvShape::new(3, 10, 5, 96, 3, 1, 1),
            ConvShape::new(30, 9, 4, 128, 3, 1, 1),
            ConvShape::new(2, 3, 7, 80, 5, 1, 2),
        ];
        for (i, s) in shapes.iter().enumerate() {
            let x = values(2 * s.cin * s.h * s.w, i as u32 + 1);
            let w = values(s.cout * s.k(), i as u32 + 100);
            let b = values(s.cout, i as u32 + 200);
            for relu in [false, true] {
                let want: Vec<f32> = x
                    .chunks(s.cin * s.h * s.w)
                    .flat_map(|x| naive(s, x, &w, &b, relu))
                    .collect();
                for isa in isas() {
                    let conv = PackedConv::with_isa(*s, &w, &b, isa);
                    let mut got = vec![f32::NAN; want.len()];
                    conv.run(&x, &mut got, relu, None);
                    for (g, e) in got.iter().zip(&want) {
                        assert!(
                            (g - e).abs() < 1e-4 * (1.0 + e.abs()),
                            "{s:?} {isa:?}: {g} vs {e}"
                        );
                    }
                }
            }
        }
    }

    /// Threads split the pixels without overlap or gaps.
    #[test]
    fn threads_give_the_same_result() {
        let s = ConvShape::new(6, 10, 30, 50, 3, 1, 1);
        let (x, w, b) = (values(3 * 6 * 1500, 1), values(10 * 54, 2), values(10, 3));
        let conv = PackedConv::new(s, &w, &b);
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
