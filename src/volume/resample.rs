//! In-plane resampling between a scan's native slice grid and the model grid.
//!
//! Both grids are centred on each other: the model sees a square field of view
//! of `size · spacing` mm around the centre of the native slice (padding with
//! air where the scan is smaller, cropping where it is larger). The centre of
//! each grid is its pixel `n / 2` (not the midpoint between pixels), so that
//! at equal spacing the two grids coincide pixel for pixel, whatever the
//! parity of their sizes. Interpolation is
//! separable; the index and weight tables are computed once per volume, so the
//! per-slice work allocates nothing.

/// Linear interpolation taps along one axis: output index → (i0, i1, w1).
#[derive(Debug, Clone, PartialEq)]
pub struct AxisMap {
    taps: Vec<Option<(u32, u32, f32)>>,
}

impl AxisMap {
    /// Output pixel `o` of `n_out` pixels of `out_mm` each, read from an input
    /// axis of `n_in` pixels of `in_mm` each, both centred.
    pub fn new(n_in: usize, in_mm: f64, n_out: usize, out_mm: f64) -> Self {
        let taps = (0..n_out)
            .map(|o| {
                let mm = (o as f64 - (n_out / 2) as f64) * out_mm;
                let p = mm / in_mm + (n_in / 2) as f64;
                if p < -0.5 || p > n_in as f64 - 0.5 {
                    return None;
                }
                let p = p.clamp(0.0, (n_in - 1) as f64);
                let i0 = p.floor() as usize;
                let i1 = (i0 + 1).min(n_in - 1);
                Some((i0 as u32, i1 as u32, (p - i0 as f64) as f32))
            })
            .collect();
        Self { taps }
    }

    pub fn len(&self) -> usize {
        self.taps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.taps.is_empty()
    }

    #[inline]
    fn tap(&self, o: usize) -> Option<(usize, usize, f32)> {
        self.taps[o].map(|(a, b, w)| (a as usize, b as usize, w))
    }

    #[inline]
    fn nearest(&self, o: usize) -> Option<usize> {
        self.tap(o).map(|(a, b, w)| if w < 0.5 { a } else { b })
    }
}

/// Native slice (rows × cols at its spacing) ↔ model grid (size × size at the
/// model's spacing).
#[derive(Debug, Clone, PartialEq)]
pub struct SliceResampler {
    pub native: (usize, usize),
    pub size: usize,
    to_model: (AxisMap, AxisMap),
    to_native: (AxisMap, AxisMap),
}

impl SliceResampler {
    pub fn new(
        rows: usize,
        cols: usize,
        row_mm: f64,
        col_mm: f64,
        size: usize,
        model_mm: f64,
    ) -> Self {
        Self {
            native: (rows, cols),
            size,
            to_model: (
                AxisMap::new(rows, row_mm, size, model_mm),
                AxisMap::new(cols, col_mm, size, model_mm),
            ),
            to_native: (
                AxisMap::new(size, model_mm, rows, row_mm),
                AxisMap::new(size, model_mm, cols, col_mm),
            ),
        }
    }

    /// Bilinear resampling of a native image onto the model grid; pixels
    /// outside the scan get `fill`.
    pub fn image_to_model(&self, native: &[f32], fill: f32, out: &mut [f32]) {
        let (rows, cols) = (&self.to_model.0, &self.to_model.1);
        let nc = self.native.1;
        bilinear(native, nc, rows, cols, fill, out);
    }

    /// Nearest-neighbour resampling of a native label map onto the model grid.
    pub fn labels_to_model(&self, native: &[u8], out: &mut [u8]) {
        let nc = self.native.1;
        for (r, row_out) in out.chunks_exact_mut(self.size).enumerate() {
            let Some(ri) = self.to_model.0.nearest(r) else {
                row_out.fill(0);
                continue;
            };
            for (c, o) in row_out.iter_mut().enumerate() {
                *o = self
                    .to_model
                    .1
                    .nearest(c)
                    .map_or(0, |ci| native[ri * nc + ci]);
            }
        }
    }

    /// Bilinear resampling of one model-grid map back onto the native grid
    /// (e.g. a class probability); pixels outside the model's view get `fill`.
    pub fn map_to_native(&self, model: &[f32], fill: f32, out: &mut [f32]) {
        bilinear(
            model,
            self.size,
            &self.to_native.0,
            &self.to_native.1,
            fill,
            out,
        );
    }
}

fn bilinear(
    src: &[f32],
    src_cols: usize,
    rows: &AxisMap,
    cols: &AxisMap,
    fill: f32,
    out: &mut [f32],
) {
    let out_cols = cols.len();
    for (r, row_out) in out.chunks_exact_mut(out_cols).enumerate() {
        let Some((r0, r1, wr)) = rows.tap(r) else {
            row_out.fill(fill);
            continue;
        };
        let (a, b) = (
            &src[r0 * src_cols..][..src_cols],
            &src[r1 * src_cols..][..src_cols],
        );
        for (c, o) in row_out.iter_mut().enumerate() {
            *o = match cols.tap(c) {
                None => fill,
                Some((c0, c1, wc)) => {
                    let top = a[c0] + (a[c1] - a[c0]) * wc;
                    let bottom = b[c0] + (b[c1] - b[c0]) * wc;
                    top + (bottom - top) * wr
                }
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_grid_is_exact() {
        let r = SliceResampler::new(4, 4, 2.0, 2.0, 4, 2.0);
        let img: Vec<f32> = (0..16).map(|v| v as f32).collect();
        let mut out = vec![0.0; 16];
        r.image_to_model(&img, -1.0, &mut out);
        assert_eq!(out, img);
        let mut back = vec![0.0; 16];
        r.map_to_native(&out, -1.0, &mut back);
        assert_eq!(back, img);
    }

    #[test]
    fn padding_and_halving_keep_the_centre() {
        // A 2 mm native 4×4 seen by an 8×8 model grid of 2 mm: padded by 2 each side.
        let r = SliceResampler::new(4, 4, 2.0, 2.0, 8, 2.0);
        let img = vec![1.0f32; 16];
        let mut out = vec![0.0; 64];
        r.image_to_model(&img, 0.0, &mut out);
        assert_eq!(out.iter().sum::<f32>(), 16.0);
        assert_eq!(out[2 * 8 + 2], 1.0);
        assert_eq!(out[8 + 1], 0.0);
        // Odd native sizes map one to one at equal spacing.
        let r = SliceResampler::new(3, 5, 3.0, 3.0, 8, 3.0);
        let labels: Vec<u8> = (1..=15).collect();
        let mut m = vec![0u8; 64];
        r.labels_to_model(&labels, &mut m);
        let mut sorted: Vec<u8> = m.iter().copied().filter(|&v| v > 0).collect();
        sorted.sort();
        assert_eq!(sorted, labels);
        // Upsampling a ramp by 2: centres on pixel n/2, edges clamped.
        let m = AxisMap::new(4, 2.0, 8, 1.0);
        let mut up = vec![0.0; 8];
        bilinear(
            &[0.0, 2.0, 4.0, 6.0],
            4,
            &AxisMap::new(1, 1.0, 1, 1.0),
            &m,
            -1.0,
            &mut up,
        );
        assert_eq!(up, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 6.0]);
    }
}
