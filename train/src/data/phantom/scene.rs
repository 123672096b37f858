//! Everything about one slice that does not depend on the pixel: bones, ribs,
//! muscles, vessels and texture, evaluated per point.

use super::*;

/// A rib cross-section: a small ellipse elongated along the body wall.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Rib {
    pub(super) cx: f32,
    pub(super) cy: f32,
    pub(super) tx: f32,
    pub(super) ty: f32,
}

pub(super) const RIB_HALF: [f32; 2] = [8.0, 4.5];

/// Everything about one slice that does not depend on the pixel.
pub(super) struct Scene<'a> {
    pub(super) p: &'a Phantom,
    pub(super) inv_a: f32,
    pub(super) inv_b: f32,
    pub(super) inv_fa: f32,
    pub(super) inv_fb: f32,
    pub(super) inv_ma: f32,
    pub(super) inv_mb: f32,
    pub(super) body_gate2: f32,
    pub(super) disc: bool,
    pub(super) psoas_r: f32,
    pub(super) ribs: [Rib; 2 * RIBS_PER_SIDE],
    pub(super) n_ribs: usize,
    pub(super) lungs: Option<[Section; 2]>,
    pub(super) iliac: Option<[Section; 2]>,
    pub(super) arteries: [Section; 2],
    pub(super) n_arteries: usize,
    pub(super) veins: [Section; 2],
    pub(super) n_veins: usize,
    pub(super) tex_z: f32,
}

impl<'a> Scene<'a> {
    pub(super) fn new(p: &'a Phantom, z: f32) -> Self {
        let body = &p.body;
        let spine = &p.spine;
        let scale = 1.0 + body.taper * (0.5 - z);
        let (a, b) = (body.a * scale, body.b * scale);
        let (fa, fb) = (a - body.fat, b - body.fat);
        let (ma, mb) = (fa - body.muscle, fb - body.muscle);
        let gate = 1.0 + harmonic_bound(&body.h);

        let disc = ((z - spine.disc_phase) / spine.disc_period).rem_euclid(1.0) < spine.disc_frac;
        let psoas_r = if z < PSOAS_TOP {
            5.0 + (spine.psoas_r - 5.0) * (PSOAS_TOP - z) / PSOAS_TOP
        } else {
            0.0
        };

        // Ribs in the body wall of the upper abdomen: posterior ones first, more anterior ones
        // higher up; each shows in about half of the slices (ribs run obliquely).
        let mut ribs = [Rib::default(); 2 * RIBS_PER_SIDE];
        let mut n_ribs = 0;
        let (wa, wb) = (fa - 0.5 * body.muscle, fb - 0.5 * body.muscle);
        for k in 0..RIBS_PER_SIDE {
            if z < 0.48 + 0.08 * k as f32 {
                continue;
            }
            for side in [-1.0f32, 1.0] {
                let shift = if side < 0.0 { 0.0 } else { 0.23 };
                if (z * spine.rib_freq + spine.rib_phase[k] + shift).rem_euclid(1.0) > 0.55 {
                    continue;
                }
                let phi = (90.0 - side * (30.0 + 24.0 * k as f32)).to_radians();
                let (s, c) = phi.sin_cos();
                let radius = 1.0 + harmonic_sum(&body.h, c, s);
                let (tx, ty) = (-wa * s, wb * c);
                let norm = tx.hypot(ty);
                ribs[n_ribs] = Rib {
                    cx: wa * c * radius,
                    cy: wb * s * radius,
                    tx: tx / norm,
                    ty: ty / norm,
                };
                n_ribs += 1;
            }
        }

        // Lung bases in the posterior costophrenic recesses.
        let lungs = (z > LUNG_BOTTOM).then(|| {
            let g = ((z - LUNG_BOTTOM) / (1.0 - LUNG_BOTTOM)).sqrt();
            let radii = [(0.32 * ma * g).max(0.1), (0.22 * mb * g).max(0.1)];
            [
                Section::ellipse([-0.52 * ma, 0.62 * mb], radii, -0.5),
                Section::ellipse([0.52 * ma, 0.62 * mb], radii, 0.5),
            ]
        });

        // Iliac wings near the pelvic inlet: plates running from the sacroiliac joints
        // antero-laterally.
        let iliac = (z < ILIAC_TOP).then(|| {
            let g = (ILIAC_TOP - z) / ILIAC_TOP;
            let half_len = 15.0 + 40.0 * g;
            let thick = 4.0 + 3.0 * g;
            let si = [spine.body[0] + 30.0, spine.y + 20.0];
            let wing = |side: f32| {
                let angle = if side > 0.0 { -1.1 } else { -PI + 1.1 };
                let (s, c) = f32::sin_cos(angle);
                Section::ellipse(
                    [side * si[0] + half_len * c, si[1] + half_len * s],
                    [half_len, thick],
                    angle,
                )
            };
            [wing(-1.0), wing(1.0)]
        });

        // Aorta (bifurcating into the common iliac arteries) and IVC (formed by the iliac veins).
        let v = &p.vessels;
        let mut arteries = [Section::ellipse([0.0; 2], [1.0; 2], 0.0); 2];
        let n_arteries = if z >= v.z_bifurcation {
            arteries[0] = Section::ellipse(v.aorta, [v.aorta_r; 2], 0.0);
            1
        } else {
            let d = 220.0 * (v.z_bifurcation - z);
            for (artery, side) in arteries.iter_mut().zip([-1.0, 1.0]) {
                *artery = Section::ellipse(
                    [
                        v.aorta[0] + side * (0.5 * v.aorta_r + d),
                        v.aorta[1] - 0.3 * d,
                    ],
                    [0.7 * v.aorta_r; 2],
                    0.0,
                );
            }
            2
        };
        let mut veins = [Section::ellipse([0.0; 2], [1.0; 2], 0.0); 2];
        let n_veins = if z >= v.z_confluence {
            veins[0] = Section::ellipse(v.ivc, v.ivc_r, 0.0);
            1
        } else {
            let d = v.z_confluence - z;
            let r = 0.7 * v.ivc_r[0].min(v.ivc_r[1] * 1.3);
            veins[0] = Section::ellipse([v.ivc[0] - 120.0 * d, v.ivc[1]], [r; 2], 0.0);
            veins[1] = Section::ellipse([v.ivc[0] + 450.0 * d, v.ivc[1] + 30.0 * d], [r; 2], 0.0);
            2
        };

        Scene {
            p,
            inv_a: 1.0 / a,
            inv_b: 1.0 / b,
            inv_fa: 1.0 / fa,
            inv_fb: 1.0 / fb,
            inv_ma: 1.0 / ma,
            inv_mb: 1.0 / mb,
            body_gate2: gate * gate,
            disc,
            psoas_r,
            ribs,
            n_ribs,
            lungs,
            iliac,
            arteries,
            n_arteries,
            veins,
            n_veins,
            tex_z: z * p.texture.z_freq,
        }
    }

    /// HU of everything but the organs and the bowel at `(x, y)` (mm, body frame), or `None`
    /// in the abdominal cavity, where organs may be drawn.
    #[inline]
    pub(super) fn background(&self, x: f32, y: f32) -> Option<f32> {
        let t = &self.p.tissue;
        let u = x * self.inv_a;
        let v = y * self.inv_b;
        let r2 = u * u + v * v;
        if r2 >= self.body_gate2 {
            return Some(AIR_HU);
        }
        let r = r2.sqrt();
        let radius = if r > 1e-6 {
            1.0 + harmonic_sum(&self.p.body.h, u / r, v / r)
        } else {
            1.0
        };
        if r >= radius {
            return Some(AIR_HU);
        }
        if let Some(bone) = self.bone(x, y) {
            return Some(bone);
        }
        let radius2 = radius * radius;
        let (uf, vf) = (x * self.inv_fa, y * self.inv_fb);
        let in_fat_ring = uf * uf + vf * vf >= radius2;
        let (um, vm) = (x * self.inv_ma, y * self.inv_mb);
        let in_wall = um * um + vm * vm >= radius2;
        if in_wall {
            if let Some(bone) = self.rib(x, y) {
                return Some(bone);
            }
        }
        if in_fat_ring {
            return Some(t.fat);
        }
        if self.muscle(x, y) || in_wall {
            return Some(t.muscle);
        }
        if let Some(lungs) = &self.lungs {
            if lungs.iter().any(|l| l.contains(x, y)) {
                return Some(t.lung);
            }
        }
        if self.arteries[..self.n_arteries]
            .iter()
            .any(|s| s.contains(x, y))
        {
            return Some(t.aorta);
        }
        if self.veins[..self.n_veins].iter().any(|s| s.contains(x, y)) {
            return Some(t.ivc);
        }
        None
    }

    /// Vertebra (body or disc, canal, arch, spinous and transverse processes) and iliac wings.
    #[inline]
    pub(super) fn bone(&self, x: f32, y: f32) -> Option<f32> {
        let t = &self.p.tissue;
        let s = &self.p.spine;
        if let Some(iliac) = &self.iliac {
            for wing in iliac {
                if let Some((rho, _, _)) = wing.locate(x, y) {
                    return Some(if rho < 0.6 { t.cancellous } else { t.cortical });
                }
            }
        }
        let dy = y - s.y;
        let ax = x.abs();
        if ax > s.tp_c[0] + s.tp_r[0] || dy < -s.body[1] || dy > s.body[1] + 70.0 {
            return None;
        }
        let [bx, by] = s.body;
        let e = (x / bx).powi(2) + (dy / by).powi(2);
        if e < 1.0 {
            if self.disc {
                return Some(t.disc);
            }
            let ei = (x / (bx - s.cortex)).powi(2) + (dy / (by - s.cortex)).powi(2);
            return Some(if ei < 1.0 { t.cancellous } else { t.cortical });
        }
        let canal_y = by + s.canal_r + 1.0;
        let dc = dy - canal_y;
        let rc2 = x * x + dc * dc;
        if rc2 < s.canal_r * s.canal_r {
            return Some(t.csf);
        }
        let outer = s.canal_r + s.arch;
        if rc2 < outer * outer && dc > -0.6 * s.canal_r {
            return Some(t.cortical);
        }
        if ax < s.spinous_w && dc > 0.0 && dc < s.canal_r + s.spinous_len {
            return Some(if ax < 0.4 * s.spinous_w {
                t.cancellous
            } else {
                t.cortical
            });
        }
        let tu = (ax - s.tp_c[0]) / s.tp_r[0];
        let tv = (dc - s.tp_c[1]) / s.tp_r[1];
        let et = tu * tu + tv * tv;
        if et < 1.0 {
            return Some(if et < 0.3 { t.cancellous } else { t.cortical });
        }
        None
    }

    #[inline]
    pub(super) fn rib(&self, x: f32, y: f32) -> Option<f32> {
        let t = &self.p.tissue;
        for rib in &self.ribs[..self.n_ribs] {
            let dx = x - rib.cx;
            let dy = y - rib.cy;
            if dx.abs() > RIB_HALF[0] || dy.abs() > RIB_HALF[0] {
                continue;
            }
            let a = (dx * rib.tx + dy * rib.ty) / RIB_HALF[0];
            let b = (dy * rib.tx - dx * rib.ty) / RIB_HALF[1];
            let e = a * a + b * b;
            if e < 1.0 {
                return Some(if e < 0.3 { t.cancellous } else { t.cortical });
            }
        }
        None
    }

    /// Paraspinal muscles and psoas.
    #[inline]
    pub(super) fn muscle(&self, x: f32, y: f32) -> bool {
        let s = &self.p.spine;
        let ax = x.abs();
        let [px, py, prx, pry] = s.paraspinal;
        let u = (ax - px) / prx;
        let v = (y - s.y - py) / pry;
        if u * u + v * v < 1.0 {
            return true;
        }
        if self.psoas_r > 0.0 {
            let dx = ax - (s.body[0] + self.psoas_r - 3.0);
            let dy = y - s.y - 2.0;
            if dx * dx + dy * dy < self.psoas_r * self.psoas_r {
                return true;
            }
        }
        false
    }

    /// Column factors of the bowel texture (see [`Scene::texture`]).
    pub(super) fn texture_x(&self, x: f32) -> [f32; 5] {
        let q = &self.p.texture;
        let (s2, c2) = (x * q.k[2] + self.tex_z + q.phase[2]).sin_cos();
        let (s3, c3) = (x * q.k[3] - 0.7 * self.tex_z + q.phase[3]).sin_cos();
        [(x * q.k[0] + q.phase[0]).sin(), s2, c2, s3, c3]
    }

    /// Row factors of the bowel texture (see [`Scene::texture`]).
    pub(super) fn texture_y(&self, y: f32) -> [f32; 5] {
        let q = &self.p.texture;
        let (s3, c3) = (y * q.k[3]).sin_cos();
        let (s2, c2) = (y * q.k[2]).sin_cos();
        [(y * q.k[1] + q.phase[1]).sin(), c3, s3, c2, s2]
    }

    /// Bowel loops in mesenteric fat, with scattered gas: thresholds of the smooth field
    /// `sin(k0 x + p0) sin(k1 y + p1) + 0.6 sin(k2 x - k3 y + ...) + 0.4 sin(k3 x + k2 y + ...)`,
    /// evaluated from its column and row factors.
    #[inline]
    pub(super) fn texture(&self, cx: &[f32; 5], ry: &[f32; 5]) -> f32 {
        let q = &self.p.texture;
        let t = &self.p.tissue;
        let f = cx[0] * ry[0]
            + 0.6 * (cx[1] * ry[1] - cx[2] * ry[2])
            + 0.4 * (cx[3] * ry[3] + cx[4] * ry[4]);
        if f > q.gas_threshold {
            return t.gas;
        }
        lerp(
            t.visceral_fat,
            t.bowel,
            smoothstep((f - q.threshold) / 0.3 + 0.5),
        )
    }
}
