//! Rendering one axial slice of a patient onto a pixel grid.

use super::*;

impl Phantom {
    /// Render the axial slice at relative height `z` in [0, 1] (0 = lower abdomen/pelvis inlet, 1 = lung bases/dome of the liver)
    /// on a `size`×`size` grid of `spacing_mm` pixels into `hu` (Hounsfield units) and `labels` (0 = background, 1..=7 = ORGANS index + 1).
    /// Both slices have length size*size, row-major: row 0 = anterior, last row = posterior; col 0 = patient RIGHT, last col = patient LEFT
    /// (the radiological display convention). `noise_seed` varies only the noise.
    ///
    /// `z` outside [0, 1] is clamped. The noise is Gaussian with a per-patient σ of 10–20 HU; it
    /// also depends on `z`, so the slices of one volume have independent noise.
    ///
    /// # Panics
    ///
    /// If `hu` or `labels` does not have length `size * size`, or `spacing_mm` is not a
    /// positive finite number.
    pub fn render(
        &self,
        z: f32,
        size: usize,
        spacing_mm: f32,
        noise_seed: u64,
        hu: &mut [f32],
        labels: &mut [u8],
    ) {
        let n = size * size;
        assert_eq!(hu.len(), n, "hu must have size*size = {n} elements");
        assert_eq!(labels.len(), n, "labels must have size*size = {n} elements");
        assert!(
            spacing_mm.is_finite() && spacing_mm > 0.0,
            "spacing_mm must be positive, got {spacing_mm}"
        );
        let z = if z.is_nan() { 0.5 } else { z.clamp(0.0, 1.0) };
        let grid = Grid::new(size, spacing_mm, self.body.offset);
        let scene = Scene::new(self, z);

        // 1. Body, wall, skeleton, muscles, vessels and the cavity the organs may occupy.
        // The bowel texture is separable into per-column and per-row factors.
        let tex_cols: Vec<[f32; 5]> = (0..size).map(|col| scene.texture_x(grid.x(col))).collect();
        for row in 0..size {
            let y = grid.y(row);
            let tex_row = scene.texture_y(y);
            let hu_row = &mut hu[row * size..(row + 1) * size];
            let label_row = &mut labels[row * size..(row + 1) * size];
            for (col, (h, l)) in hu_row.iter_mut().zip(label_row.iter_mut()).enumerate() {
                match scene.background(grid.x(col), y) {
                    Some(value) => {
                        *h = value;
                        *l = 0;
                    }
                    None => {
                        *h = scene.texture(&tex_cols[col], &tex_row);
                        *l = FREE;
                    }
                }
            }
        }

        // 2. Organs, lowest priority first: a later organ overwrites an earlier one.
        let t = &self.tissue;
        if let Some(sec) = self.stomach.section(z) {
            // Air rises anteriorly (small y) in the supine patient. Air inside the stomach
            // lumen is labelled stomach, like its wall and contents.
            let air_y = self.stomach_air.map(|level| sec.cy - level * sec.ry);
            paint(&grid, hu, labels, &sec, STOMACH, |rho, _, _, _, y| {
                Some(if rho > 0.85 {
                    t.stomach_wall
                } else if air_y.is_some_and(|air_y| y < air_y) {
                    t.stomach_air
                } else {
                    t.stomach_contents
                })
            });
        }
        for lobe in &self.liver {
            if let Some(sec) = lobe.section(z) {
                paint(&grid, hu, labels, &sec, LIVER, |_, _, _, _, _| {
                    Some(t.liver)
                });
            }
        }
        if let Some(sec) = self.spleen.section(z) {
            paint(&grid, hu, labels, &sec, SPLEEN, |_, _, _, _, _| {
                Some(t.spleen)
            });
        }
        let notch2 = self.kidney_notch * self.kidney_notch;
        for (kidney, id) in self.kidneys.iter().zip([KIDNEY_RIGHT, KIDNEY_LEFT]).rev() {
            if let Some(sec) = kidney.section(z) {
                paint(&grid, hu, labels, &sec, id, |rho, u, v, _, _| {
                    // Renal sinus at the hilum (u ≈ 1): a notch that makes the bean shape.
                    let du = u - 0.95;
                    if du * du + v * v < notch2 {
                        return None;
                    }
                    Some(if rho > 0.7 {
                        t.kidney_cortex
                    } else {
                        t.kidney_medulla
                    })
                });
            }
        }
        self.paint_pancreas(&grid, z, hu, labels);
        if let Some(sec) = self.gallbladder.section(z) {
            paint(&grid, hu, labels, &sec, GALLBLADDER, |_, _, _, _, _| {
                Some(t.gallbladder)
            });
        }

        // 3. Free cavity becomes background; add Gaussian noise.
        for l in labels.iter_mut() {
            if *l == FREE {
                *l = 0;
            }
        }
        let mut rng = StdRng::seed_from_u64(
            mix(self.seed) ^ mix(noise_seed.rotate_left(17) ^ 0x5EED) ^ mix(u64::from(z.to_bits())),
        );
        let sigma = self.noise_sigma;
        let mut pairs = hu.chunks_exact_mut(2);
        for pair in &mut pairs {
            let (g0, g1) = gauss_pair(&mut rng);
            pair[0] = (pair[0] + sigma * g0).clamp(HU_MIN, HU_MAX);
            pair[1] = (pair[1] + sigma * g1).clamp(HU_MIN, HU_MAX);
        }
        for v in pairs.into_remainder() {
            let (g0, _) = gauss_pair(&mut rng);
            *v = (*v + sigma * g0).clamp(HU_MIN, HU_MAX);
        }
    }

    pub(super) fn paint_pancreas(&self, grid: &Grid, z: f32, hu: &mut [f32], labels: &mut [u8]) {
        let p = &self.pancreas;
        let (z_lo, z_hi) = p.z_range();
        if z <= z_lo || z >= z_hi {
            return;
        }
        let Some((c0, c1)) = grid.cols(p.x[0], p.x[1]) else {
            return;
        };
        let size = grid.size;
        for col in c0..=c1 {
            let x = grid.x(col);
            let w = p.half_width(x, z);
            if w <= 0.0 {
                continue;
            }
            let yc = p.centre_y(x);
            let Some((r0, r1)) = grid.rows(yc - w, yc + w) else {
                continue;
            };
            for row in r0..=r1 {
                let i = row * size + col;
                if labels[i] != 0 && (grid.y(row) - yc).abs() < w {
                    labels[i] = PANCREAS;
                    hu[i] = self.tissue.pancreas;
                }
            }
        }
    }
}

/// Pixel grid in the body frame: pixel centres in mm relative to the body centre.
pub(super) struct Grid {
    pub(super) size: usize,
    pub(super) spacing: f32,
    /// Position (mm, body frame) of the grid's left / top edge, negated.
    pub(super) ox: f32,
    pub(super) oy: f32,
}

impl Grid {
    pub(super) fn new(size: usize, spacing: f32, body_offset: [f32; 2]) -> Self {
        let half = 0.5 * size as f32 * spacing;
        Grid {
            size,
            spacing,
            ox: half + body_offset[0],
            oy: half + body_offset[1],
        }
    }

    #[inline]
    pub(super) fn x(&self, col: usize) -> f32 {
        (col as f32 + 0.5) * self.spacing - self.ox
    }

    #[inline]
    pub(super) fn y(&self, row: usize) -> f32 {
        (row as f32 + 0.5) * self.spacing - self.oy
    }

    /// Inclusive range of indices whose pixel centres lie in `[lo, hi]`.
    pub(super) fn range(&self, lo: f32, hi: f32, offset: f32) -> Option<(usize, usize)> {
        let first = ((lo + offset) / self.spacing - 0.5).ceil().max(0.0);
        let last = ((hi + offset) / self.spacing - 0.5)
            .floor()
            .min(self.size as f32 - 1.0);
        (first <= last).then_some((first as usize, last as usize))
    }

    pub(super) fn cols(&self, lo: f32, hi: f32) -> Option<(usize, usize)> {
        self.range(lo, hi, self.ox)
    }

    pub(super) fn rows(&self, lo: f32, hi: f32) -> Option<(usize, usize)> {
        self.range(lo, hi, self.oy)
    }
}

/// Draws an organ section on the pixels still available to organs (cavity or a lower-priority
/// organ); `tissue(ρ, u, v, x, y)` gives its HU, or `None` to leave a pixel out.
pub(super) fn paint(
    grid: &Grid,
    hu: &mut [f32],
    labels: &mut [u8],
    sec: &Section,
    id: u8,
    tissue: impl Fn(f32, f32, f32, f32, f32) -> Option<f32>,
) {
    let (Some((c0, c1)), Some((r0, r1))) = (
        grid.cols(sec.cx - sec.reach, sec.cx + sec.reach),
        grid.rows(sec.cy - sec.reach, sec.cy + sec.reach),
    ) else {
        return;
    };
    for row in r0..=r1 {
        let y = grid.y(row);
        for col in c0..=c1 {
            let i = row * grid.size + col;
            if labels[i] == 0 {
                continue;
            }
            let x = grid.x(col);
            if let Some(value) = sec
                .locate(x, y)
                .and_then(|(rho, u, v)| tissue(rho, u, v, x, y))
            {
                labels[i] = id;
                hu[i] = value;
            }
        }
    }
}
