//! One synthetic patient: the anatomy drawn from the seed ([`Phantom::new`]).

use super::*;

/// Hounsfield units of the tissues of one patient.
#[derive(Debug, Clone)]
pub(super) struct Tissue {
    pub(super) fat: f32,
    pub(super) visceral_fat: f32,
    pub(super) bowel: f32,
    pub(super) gas: f32,
    pub(super) muscle: f32,
    pub(super) cortical: f32,
    pub(super) cancellous: f32,
    pub(super) disc: f32,
    pub(super) csf: f32,
    pub(super) lung: f32,
    pub(super) aorta: f32,
    pub(super) ivc: f32,
    pub(super) liver: f32,
    pub(super) spleen: f32,
    pub(super) kidney_cortex: f32,
    pub(super) kidney_medulla: f32,
    pub(super) gallbladder: f32,
    pub(super) stomach_wall: f32,
    pub(super) stomach_contents: f32,
    pub(super) stomach_air: f32,
    pub(super) pancreas: f32,
}

/// Body outline and wall, in mm.
#[derive(Debug, Clone)]
pub(super) struct Body {
    /// Half-width (left-right) and half-depth (antero-posterior) of the skin outline.
    pub(super) a: f32,
    pub(super) b: f32,
    /// Relative widening towards the pelvis (a and b scale by 1 + taper (0.5 − z)).
    pub(super) taper: f32,
    /// Subcutaneous fat and abdominal wall muscle thickness.
    pub(super) fat: f32,
    pub(super) muscle: f32,
    pub(super) h: Harmonics,
    /// Position of the body centre in the field of view (mm, +x = patient left, +y = posterior).
    pub(super) offset: [f32; 2],
}

/// Lumbar spine, paraspinal muscles and psoas, in mm; x is 0 on the midline.
#[derive(Debug, Clone)]
pub(super) struct Spine {
    /// y of the vertebral body centre.
    pub(super) y: f32,
    /// Vertebral body half-axes and cortical shell thickness.
    pub(super) body: [f32; 2],
    pub(super) cortex: f32,
    pub(super) canal_r: f32,
    pub(super) arch: f32,
    pub(super) spinous_len: f32,
    pub(super) spinous_w: f32,
    /// Transverse process centre (x, y offset from the canal centre) and half-axes.
    pub(super) tp_c: [f32; 2],
    pub(super) tp_r: [f32; 2],
    /// Intervertebral discs: period and phase in z, and the fraction of a period they occupy.
    pub(super) disc_period: f32,
    pub(super) disc_phase: f32,
    pub(super) disc_frac: f32,
    /// Paraspinal (erector spinae) muscles: x offset, y offset from `y`, half-axes.
    pub(super) paraspinal: [f32; 4],
    /// Psoas radius at z = 0 (it vanishes at z = PSOAS_TOP).
    pub(super) psoas_r: f32,
    /// Rib pattern phases.
    pub(super) rib_phase: [f32; RIBS_PER_SIDE],
    pub(super) rib_freq: f32,
}

pub(super) const RIBS_PER_SIDE: usize = 5;
pub(super) const PSOAS_TOP: f32 = 0.62;
pub(super) const LUNG_BOTTOM: f32 = 0.86;
pub(super) const ILIAC_TOP: f32 = 0.16;

/// Large vessels: aorta and inferior vena cava, with their bifurcations low in the abdomen.
#[derive(Debug, Clone)]
pub(super) struct Vessels {
    pub(super) aorta: [f32; 2],
    pub(super) aorta_r: f32,
    pub(super) ivc: [f32; 2],
    pub(super) ivc_r: [f32; 2],
    pub(super) z_bifurcation: f32,
    pub(super) z_confluence: f32,
}

/// Texture of the remaining cavity: bowel loops in mesenteric fat, with some gas.
#[derive(Debug, Clone)]
pub(super) struct Texture {
    pub(super) k: [f32; 4],
    pub(super) phase: [f32; 4],
    pub(super) z_freq: f32,
    pub(super) threshold: f32,
    pub(super) gas_threshold: f32,
}

/// One synthetic patient: random anatomy fixed by the seed (body size, organ sizes/positions, contrast).
#[derive(Debug, Clone)]
pub struct Phantom {
    pub(super) seed: u64,
    pub(super) body: Body,
    pub(super) spine: Spine,
    pub(super) vessels: Vessels,
    pub(super) tissue: Tissue,
    pub(super) texture: Texture,
    /// Right lobe and left lobe.
    pub(super) liver: [Blob; 2],
    pub(super) spleen: Blob,
    /// Right and left kidney.
    pub(super) kidneys: [Blob; 2],
    /// Radius (in units of the kidney half-axes) of the hilar notch that makes the kidney a bean.
    pub(super) kidney_notch: f32,
    pub(super) gallbladder: Blob,
    pub(super) stomach: Blob,
    /// Air-fluid level of the gastric air pocket, as a fraction of the stomach's half-axis
    /// above its centre; `None` without gastric air.
    pub(super) stomach_air: Option<f32>,
    pub(super) pancreas: Pancreas,
    pub(super) noise_sigma: f32,
}

impl Phantom {
    /// A new synthetic patient; the same seed always gives the same patient.
    pub fn new(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(mix(seed));
        let r = &mut rng;

        // Body habitus: larger patients are wider, deeper and fatter.
        let habitus: f32 = r.random();
        let a = (150.0 + 26.0 * habitus + r.random_range(-4.0..4.0)).clamp(150.0, 176.0);
        let b = (110.0 + 20.0 * habitus + r.random_range(-5.0..5.0)).clamp(110.0, 130.0);
        let fat = 7.0 + 15.0 * habitus + r.random_range(0.0..4.0);
        let muscle = r.random_range(8.0..13.0);
        let body = Body {
            a,
            b,
            taper: r.random_range(0.0..0.04),
            fat,
            muscle,
            h: harmonics(r, [0.02, 0.01, 0.006]),
            offset: [r.random_range(-4.0..4.0), r.random_range(-4.0..4.0)],
        };
        // Half-axes of the abdominal cavity, used to place the organs.
        let ai = a - fat - muscle;
        let bi = b - fat - muscle;

        let vb = [r.random_range(19.0..24.0), r.random_range(14.0..18.0)];
        let spine_y = b - fat - r.random_range(70.0..77.0);
        let mut rib_phase = [0.0; RIBS_PER_SIDE];
        for p in &mut rib_phase {
            *p = r.random();
        }
        let spine = Spine {
            y: spine_y,
            body: vb,
            cortex: r.random_range(1.5..2.5),
            canal_r: r.random_range(8.0..10.0),
            arch: r.random_range(4.5..6.0),
            spinous_len: r.random_range(32.0..40.0),
            spinous_w: r.random_range(3.0..4.0),
            tp_c: [vb[0] + r.random_range(6.0..10.0), -r.random_range(2.0..4.0)],
            tp_r: [r.random_range(12.0..16.0), r.random_range(4.0..5.0)],
            disc_period: r.random_range(0.13..0.15),
            disc_phase: r.random(),
            disc_frac: r.random_range(0.18..0.25),
            paraspinal: [
                r.random_range(34.0..40.0),
                vb[1] + r.random_range(24.0..30.0),
                r.random_range(24.0..30.0),
                r.random_range(18.0..23.0),
            ],
            psoas_r: r.random_range(16.0..21.0),
            rib_phase,
            rib_freq: r.random_range(9.0..12.0),
        };

        let aorta_r = r.random_range(9.5..12.5);
        let aorta_y = spine_y - vb[1] - aorta_r - r.random_range(1.0..3.0);
        let vessels = Vessels {
            aorta: [r.random_range(10.0..17.0), aorta_y],
            aorta_r,
            ivc: [
                -r.random_range(20.0..27.0),
                spine_y - vb[1] - r.random_range(6.0..10.0),
            ],
            ivc_r: [r.random_range(11.0..14.0), r.random_range(7.0..10.0)],
            z_bifurcation: r.random_range(0.10..0.14),
            z_confluence: r.random_range(0.07..0.10),
        };

        let contrast = r.random::<f32>() < 0.6;
        let fat_hu = r.random_range(-110.0..-90.0);
        let stomach_contents = r.random_range(20.0..35.0);
        let tissue = Tissue {
            fat: fat_hu,
            visceral_fat: fat_hu + r.random_range(0.0..15.0),
            bowel: r.random_range(20.0..40.0) + if contrast { 25.0 } else { 0.0 },
            gas: r.random_range(-950.0..-800.0),
            muscle: r.random_range(35.0..50.0),
            cortical: r.random_range(700.0..1000.0),
            cancellous: r.random_range(200.0..300.0),
            disc: r.random_range(70.0..95.0),
            csf: r.random_range(5.0..20.0),
            lung: r.random_range(-880.0..-820.0),
            aorta: if contrast {
                r.random_range(150.0..250.0)
            } else {
                r.random_range(35.0..45.0)
            },
            ivc: if contrast {
                r.random_range(100.0..150.0)
            } else {
                r.random_range(35.0..45.0)
            },
            liver: if contrast {
                r.random_range(90.0..130.0)
            } else {
                r.random_range(50.0..70.0)
            },
            spleen: if contrast {
                r.random_range(100.0..120.0)
            } else {
                r.random_range(45.0..60.0)
            },
            kidney_cortex: if contrast {
                r.random_range(150.0..200.0)
            } else {
                r.random_range(28.0..35.0)
            },
            kidney_medulla: if contrast {
                r.random_range(90.0..130.0)
            } else {
                r.random_range(28.0..35.0)
            },
            gallbladder: r.random_range(0.0..20.0),
            stomach_wall: stomach_contents
                + r.random_range(5.0..15.0)
                + if contrast { 35.0 } else { 0.0 },
            stomach_contents,
            stomach_air: r.random_range(-930.0..-870.0),
            pancreas: r.random_range(35.0..50.0) + if contrast { 50.0 } else { 0.0 },
        };

        let texture = Texture {
            k: [
                r.random_range(0.06..0.12),
                r.random_range(0.06..0.12),
                r.random_range(0.03..0.06),
                r.random_range(0.03..0.06),
            ],
            phase: [
                r.random_range(0.0..TAU),
                r.random_range(0.0..TAU),
                r.random_range(0.0..TAU),
                r.random_range(0.0..TAU),
            ],
            z_freq: r.random_range(20.0..35.0),
            threshold: r.random_range(-0.3..0.3),
            gas_threshold: r.random_range(1.4..1.8),
        };

        // Liver: right lobe (patient right = -x, anterior-lateral, biggest high up) and the left
        // lobe crossing the midline anteriorly in the upper abdomen.
        let liver_size = r.random_range(0.9..1.12);
        let liver_right = Blob {
            centre: [
                -0.42 * ai + r.random_range(-6.0..6.0),
                r.random_range(-0.08..0.06) * bi,
            ],
            drift: [0.25 * ai, -0.2 * bi],
            radii: [0.46 * ai * liver_size, 0.72 * bi * liver_size],
            angle: r.random_range(-0.15..0.15),
            z: [
                r.random_range(0.33..0.38),
                r.random_range(0.78..0.84),
                r.random_range(1.05..1.10),
            ],
            h0: harmonics(r, [0.08, 0.05, 0.03]),
            h1: harmonics(r, [0.10, 0.06, 0.04]),
        };
        let liver_left = Blob {
            centre: [
                r.random_range(-5.0..12.0),
                -0.55 * bi + r.random_range(-5.0..5.0),
            ],
            drift: [0.1 * ai, 0.0],
            radii: [0.30 * ai * liver_size, 0.22 * bi * liver_size],
            angle: r.random_range(-0.25..0.1),
            z: [
                r.random_range(0.60..0.66),
                r.random_range(0.84..0.90),
                r.random_range(1.04..1.10),
            ],
            h0: harmonics(r, [0.08, 0.05, 0.03]),
            h1: harmonics(r, [0.10, 0.06, 0.04]),
        };

        // Spleen: patient left, posterior-lateral, long axis along the ribs.
        let spleen_size = r.random_range(0.85..1.15);
        let spleen = Blob {
            centre: [
                0.66 * ai + r.random_range(-5.0..5.0),
                0.32 * bi + r.random_range(-5.0..5.0),
            ],
            drift: [0.0, 0.2 * bi],
            radii: [0.30 * ai * spleen_size, 0.15 * ai * spleen_size],
            angle: r.random_range(-1.05..-0.75),
            z: [
                r.random_range(0.48..0.53),
                r.random_range(0.70..0.78),
                r.random_range(0.92..0.97),
            ],
            h0: harmonics(r, [0.06, 0.05, 0.03]),
            h1: harmonics(r, [0.06, 0.04, 0.03]),
        };

        // Kidneys: either side of the spine, posterior; u points to the hilum (antero-medial).
        // The right kidney sits lower than the left (below the liver).
        let kidney_z = [
            r.random_range(0.12..0.16),
            r.random_range(0.34..0.38),
            r.random_range(0.56..0.60),
        ];
        let left_shift = r.random_range(0.03..0.07);
        let mut kidney = |side: f32, z: [f32; 3]| Blob {
            centre: [
                side * r.random_range(62.0..72.0),
                spine_y + r.random_range(6.0..14.0),
            ],
            drift: [-side * 30.0, 20.0],
            radii: [r.random_range(17.0..21.0), r.random_range(24.0..29.0)],
            angle: (if side < 0.0 { -0.70 } else { PI + 0.70 }) + r.random_range(-0.15..0.15),
            z,
            h0: harmonics(r, [0.04, 0.03, 0.015]),
            h1: harmonics(r, [0.04, 0.02, 0.01]),
        };
        let kidney_right = kidney(-1.0, kidney_z);
        let kidney_left = kidney(1.0, kidney_z.map(|z| z + left_shift));
        let kidney_notch = r.random_range(0.35..0.45);

        // Gallbladder: under the liver, patient right, anterior.
        let gallbladder = Blob {
            centre: [
                -0.28 * ai + r.random_range(-8.0..8.0),
                -0.40 * bi + r.random_range(-6.0..6.0),
            ],
            drift: [0.0, 0.0],
            radii: [r.random_range(11.0..17.0), r.random_range(16.0..26.0)],
            angle: r.random_range(-0.8..0.8),
            z: [
                r.random_range(0.38..0.42),
                r.random_range(0.48..0.53),
                r.random_range(0.58..0.62),
            ],
            h0: harmonics(r, [0.05, 0.03, 0.02]),
            h1: harmonics(r, [0.05, 0.03, 0.02]),
        };

        // Stomach: patient left, anterior; the antrum (lower) swings medially and anteriorly.
        let stomach_size = r.random_range(0.85..1.15);
        let stomach = Blob {
            centre: [
                0.36 * ai + r.random_range(-6.0..6.0),
                -0.28 * bi + r.random_range(-6.0..6.0),
            ],
            drift: [0.35 * ai, 0.35 * bi],
            radii: [0.28 * ai * stomach_size, 0.36 * bi * stomach_size],
            angle: r.random_range(-0.5..-0.1),
            z: [
                r.random_range(0.52..0.56),
                r.random_range(0.74..0.80),
                r.random_range(0.94..0.98),
            ],
            h0: harmonics(r, [0.08, 0.06, 0.04]),
            h1: harmonics(r, [0.08, 0.06, 0.04]),
        };
        let stomach_air = (r.random::<f32>() < 0.7).then(|| r.random_range(0.25..0.7));

        // Pancreas: from the duodenum (patient right) anterior to the IVC and aorta to the
        // splenic hilum (patient left), anterior to the left kidney.
        let y_mid = aorta_y - aorta_r - r.random_range(9.0..13.0);
        let z_head = r.random_range(0.50..0.54);
        let pancreas = Pancreas {
            x: [-r.random_range(36.0..50.0), r.random_range(72.0..90.0)],
            y: [
                y_mid + r.random_range(2.0..8.0),
                y_mid,
                spine_y - r.random_range(16.0..24.0),
            ],
            w: [
                r.random_range(11.0..15.0),
                r.random_range(6.0..9.0),
                r.random_range(7.0..10.0),
            ],
            z: [z_head, z_head + r.random_range(0.03..0.06)],
            hz: r.random_range(0.065..0.08),
            phase: [
                r.random_range(0.0..TAU),
                r.random_range(0.0..TAU),
                r.random_range(0.0..TAU),
            ],
        };

        let noise_sigma = r.random_range(10.0..20.0);

        Phantom {
            seed,
            body,
            spine,
            vessels,
            tissue,
            texture,
            liver: [liver_right, liver_left],
            spleen,
            kidneys: [kidney_right, kidney_left],
            kidney_notch,
            gallbladder,
            stomach,
            stomach_air,
            pancreas,
            noise_sigma,
        }
    }
}
