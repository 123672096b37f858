//! Synthetic abdominal CT phantom: deterministic 2D axial slices with a label map.
//!
//! The phantom is used by tests (a known, reproducible input for the data pipeline and the
//! models) and to pre-train the segmentation networks when real, labelled CT is scarce. Each
//! [`Phantom`] is one synthetic patient whose anatomy (body habitus, organ sizes, positions and
//! boundary irregularities, contrast phase, noise level) is fixed by a seed. Any axial slice of
//! that patient can then be rendered at any resolution: all anatomy is defined in physical
//! millimetres, so a 128 px × 3 mm grid and a 256 px × 1.5 mm grid show the same 384 mm field
//! of view and the same organ areas in mm².
//!
//! # Coordinate convention
//!
//! * `z` is the relative height of the slice in the abdomen, in `[0, 1]`: `0` is the lower
//!   abdomen (pelvic inlet, iliac wings, aortic bifurcation), `1` the lung bases and the dome of
//!   the liver.
//! * Images are `size × size`, row-major. Row 0 is **anterior**, the last row **posterior**;
//!   column 0 is the patient's **right**, the last column the patient's **left**: the
//!   radiological display convention (the patient is seen from the feet, lying supine). The
//!   field of view is centred on the grid.
//! * Intensities are Hounsfield units (air −1000, fat ≈ −100, water 0, soft tissue 30–70,
//!   contrast-enhanced blood 150–250, bone up to ≈ 1000), clamped to `[-1024, 3071]`.
//! * Labels are `0` for background and `1..=7` for [`ORGANS`] (index + 1), the seven organs of
//!   the U-Transformer multi-organ task (TotalSegmentator ids 1..7). Each pixel has exactly one
//!   label: overlapping organs are resolved by a fixed priority (gallbladder > pancreas >
//!   kidneys > spleen > liver > stomach), and organs are only drawn in the abdominal cavity, so
//!   they never cover bone, muscle, large vessels or the body wall and never leave the body.
//!
//! # Example
//!
//! ```rust
//! use utx_train::data::phantom::{Phantom, ORGANS};
//!
//! let patient = Phantom::new(42);
//! let size = 128; // 128 px × 3 mm = 384 mm field of view
//! let mut hu = vec![0.0f32; size * size];
//! let mut labels = vec![0u8; size * size];
//! patient.render(0.75, size, 3.0, 0, &mut hu, &mut labels);
//!
//! let liver = 1 + ORGANS.iter().position(|&name| name == "liver").unwrap() as u8;
//! assert!(labels.contains(&liver));
//! assert!(hu[0] < -900.0); // the corner of the field of view is air
//! ```

use std::f32::consts::{PI, TAU};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Class ids of the seven organs (the U-Transformer paper's multi-organ task; TotalSegmentator ids 1..7).
pub const ORGANS: [&str; 7] = [
    "spleen",
    "kidney_right",
    "kidney_left",
    "gallbladder",
    "liver",
    "stomach",
    "pancreas",
];

const SPLEEN: u8 = 1;
const KIDNEY_RIGHT: u8 = 2;
const KIDNEY_LEFT: u8 = 3;
const GALLBLADDER: u8 = 4;
const LIVER: u8 = 5;
const STOMACH: u8 = 6;
const PANCREAS: u8 = 7;

/// Scratch label of abdominal-cavity pixels that organs may claim while a slice is drawn;
/// turned into background (0) before `render` returns.
const FREE: u8 = u8::MAX;

const AIR_HU: f32 = -1000.0;
const HU_MIN: f32 = -1024.0;
const HU_MAX: f32 = 3071.0;

/// Boundary irregularity: `[a_k cos φ_k, a_k sin φ_k]` for the angular harmonics k = 2, 3, 4.
type Harmonics = [[f32; 2]; 3];

/// Random harmonics with amplitudes in `[amp/2, amp)` and uniform phases.
fn harmonics(rng: &mut StdRng, amp: [f32; 3]) -> Harmonics {
    let mut h = [[0.0; 2]; 3];
    for (hk, a) in h.iter_mut().zip(amp) {
        let mag = a * rng.random_range(0.5f32..1.0);
        let (s, c) = rng.random_range(0.0..TAU).sin_cos();
        *hk = [mag * c, mag * s];
    }
    h
}

/// Σ_k a_k cos(kθ − φ_k), from `c = cos θ`, `s = sin θ` (no trigonometric calls).
#[inline]
fn harmonic_sum(h: &Harmonics, c: f32, s: f32) -> f32 {
    let (c2, s2) = (c * c - s * s, 2.0 * c * s);
    let (c3, s3) = (c2 * c - s2 * s, s2 * c + c2 * s);
    let (c4, s4) = (c2 * c2 - s2 * s2, 2.0 * c2 * s2);
    h[0][0] * c2 + h[0][1] * s2 + h[1][0] * c3 + h[1][1] * s3 + h[2][0] * c4 + h[2][1] * s4
}

/// Upper bound of |harmonic_sum|.
fn harmonic_bound(h: &Harmonics) -> f32 {
    h.iter().map(|[p, q]| p.hypot(*q)).sum()
}

/// Smooth z profile of an organ: 1 at `pk`, 0 outside `(lo, hi)`, shaped like the radius of an
/// ellipsoid's cross-section (`sqrt(1 - t²)`), with different extents below and above the peak.
#[inline]
fn profile(z: f32, [lo, pk, hi]: [f32; 3]) -> f32 {
    let t = if z < pk {
        (pk - z) / (pk - lo)
    } else {
        (z - pk) / (hi - pk)
    };
    (1.0 - t * t).max(0.0).sqrt()
}

#[inline]
fn smoothstep(x: f32) -> f32 {
    let x = x.clamp(0.0, 1.0);
    x * x * (3.0 - 2.0 * x)
}

#[inline]
fn lerp(a: f32, b: f32, t: f32) -> f32 {
    a + (b - a) * t
}

/// SplitMix64 finaliser, to derive independent seeds.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Two independent standard normal samples (Box–Muller).
#[inline]
fn gauss_pair(rng: &mut StdRng) -> (f32, f32) {
    let u1 = 1.0 - rng.random::<f32>(); // in (0, 1], so ln is finite
    let u2 = rng.random::<f32>();
    let r = (-2.0 * u1.ln()).sqrt();
    let (s, c) = (TAU * u2).sin_cos();
    (r * c, r * s)
}

/// A 3D organ as a stack of irregular ellipses: centre, radii and boundary vary smoothly with z.
#[derive(Debug, Clone)]
struct Blob {
    /// Centre (mm, body frame) at the peak height.
    centre: [f32; 2],
    /// Centre displacement in mm per unit of z.
    drift: [f32; 2],
    /// Half-axes (mm) at the peak height, along the rotated u and v axes.
    radii: [f32; 2],
    /// Direction of the u axis, radians from +x (patient left) towards +y (posterior).
    angle: f32,
    /// Lowest, peak and highest z of the organ.
    z: [f32; 3],
    /// Boundary harmonics at the peak, and their change per unit of z.
    h0: Harmonics,
    h1: Harmonics,
}

impl Blob {
    fn section(&self, z: f32) -> Option<Section> {
        let s = profile(z, self.z);
        if s <= 1e-3 {
            return None;
        }
        let dz = z - self.z[1];
        let mut h = self.h0;
        for (hk, dk) in h.iter_mut().zip(&self.h1) {
            hk[0] += dz * dk[0];
            hk[1] += dz * dk[1];
        }
        Some(Section::new(
            [
                self.centre[0] + dz * self.drift[0],
                self.centre[1] + dz * self.drift[1],
            ],
            [self.radii[0] * s, self.radii[1] * s],
            self.angle,
            h,
        ))
    }
}

/// One irregular ellipse in the plane of a slice.
#[derive(Debug, Clone, Copy)]
struct Section {
    cx: f32,
    cy: f32,
    cos: f32,
    sin: f32,
    inv_rx: f32,
    inv_ry: f32,
    ry: f32,
    h: Harmonics,
    /// Square of the largest normalised radius the boundary can reach.
    gate2: f32,
    /// Largest distance (mm) of the boundary from the centre.
    reach: f32,
}

impl Section {
    fn new(centre: [f32; 2], radii: [f32; 2], angle: f32, h: Harmonics) -> Self {
        let (sin, cos) = angle.sin_cos();
        let gate = 1.0 + harmonic_bound(&h);
        Section {
            cx: centre[0],
            cy: centre[1],
            cos,
            sin,
            inv_rx: 1.0 / radii[0],
            inv_ry: 1.0 / radii[1],
            ry: radii[1],
            h,
            gate2: gate * gate,
            reach: gate * radii[0].max(radii[1]),
        }
    }

    fn ellipse(centre: [f32; 2], radii: [f32; 2], angle: f32) -> Self {
        Self::new(centre, radii, angle, [[0.0; 2]; 3])
    }

    /// If `(x, y)` is inside, its normalised radius ρ ∈ [0, 1) (0 at the centre, 1 on the
    /// boundary) and its coordinates `(u, v)` in units of the half-axes.
    #[inline]
    fn locate(&self, x: f32, y: f32) -> Option<(f32, f32, f32)> {
        let dx = x - self.cx;
        let dy = y - self.cy;
        let u = (dx * self.cos + dy * self.sin) * self.inv_rx;
        let v = (dy * self.cos - dx * self.sin) * self.inv_ry;
        let r2 = u * u + v * v;
        if r2 >= self.gate2 {
            return None;
        }
        let r = r2.sqrt();
        if r < 1e-6 {
            return Some((0.0, u, v));
        }
        let rho = r / (1.0 + harmonic_sum(&self.h, u / r, v / r));
        (rho < 1.0).then_some((rho, u, v))
    }

    #[inline]
    fn contains(&self, x: f32, y: f32) -> bool {
        self.locate(x, y).is_some()
    }
}

/// The pancreas: a thin band around a parabolic centre line from the head (patient right, by the
/// duodenum) to the tail (patient left, at the splenic hilum); the tail lies a little higher.
#[derive(Debug, Clone)]
struct Pancreas {
    /// x of the head and tail ends (mm).
    x: [f32; 2],
    /// y of the centre line at the head, at x = 0 and at the tail (mm).
    y: [f32; 3],
    /// Half-thickness of head, body and tail (mm).
    w: [f32; 3],
    /// Height (z) of the centre line at the head and at the tail, and the half-extent in z.
    z: [f32; 2],
    hz: f32,
    phase: [f32; 3],
}

impl Pancreas {
    fn z_range(&self) -> (f32, f32) {
        (
            self.z[0].min(self.z[1]) - self.hz,
            self.z[0].max(self.z[1]) + self.hz,
        )
    }

    /// Centre line y(x): the parabola through the three control points, with a gentle wiggle.
    #[inline]
    fn centre_y(&self, x: f32) -> f32 {
        let [x0, x2] = self.x;
        let [y0, y1, y2] = self.y;
        let l0 = x * (x - x2) / (x0 * (x0 - x2));
        let l1 = (x - x0) * (x - x2) / (x0 * x2);
        let l2 = (x - x0) * x / ((x2 - x0) * x2);
        y0 * l0 + y1 * l1 + y2 * l2 + 3.0 * (0.06 * x + self.phase[2]).sin()
    }

    /// Half-thickness (mm) at `x` in the slice at height `z` (≤ 0 where absent).
    #[inline]
    fn half_width(&self, x: f32, z: f32) -> f32 {
        let t = (x - self.x[0]) / (self.x[1] - self.x[0]);
        if !(0.0..=1.0).contains(&t) {
            return 0.0;
        }
        let dz = (z - lerp(self.z[0], self.z[1], t)) / self.hz;
        let q = 1.0 - dz * dz;
        if q <= 0.0 {
            return 0.0;
        }
        let w = if t < 0.3 {
            lerp(self.w[0], self.w[1], smoothstep(t / 0.3))
        } else {
            lerp(self.w[1], self.w[2], smoothstep((t - 0.3) / 0.7))
        };
        let e = (2.0 * t - 1.0).powi(8);
        let wobble =
            1.0 + 0.15 * (0.13 * x + self.phase[0]).sin() + 0.08 * (0.29 * x + self.phase[1]).sin();
        w * q.sqrt() * (1.0 - e).sqrt() * wobble
    }
}

/// Hounsfield units of the tissues of one patient.
#[derive(Debug, Clone)]
struct Tissue {
    fat: f32,
    visceral_fat: f32,
    bowel: f32,
    gas: f32,
    muscle: f32,
    cortical: f32,
    cancellous: f32,
    disc: f32,
    csf: f32,
    lung: f32,
    aorta: f32,
    ivc: f32,
    liver: f32,
    spleen: f32,
    kidney_cortex: f32,
    kidney_medulla: f32,
    gallbladder: f32,
    stomach_wall: f32,
    stomach_contents: f32,
    stomach_air: f32,
    pancreas: f32,
}

/// Body outline and wall, in mm.
#[derive(Debug, Clone)]
struct Body {
    /// Half-width (left-right) and half-depth (antero-posterior) of the skin outline.
    a: f32,
    b: f32,
    /// Relative widening towards the pelvis (a and b scale by 1 + taper (0.5 − z)).
    taper: f32,
    /// Subcutaneous fat and abdominal wall muscle thickness.
    fat: f32,
    muscle: f32,
    h: Harmonics,
    /// Position of the body centre in the field of view (mm, +x = patient left, +y = posterior).
    offset: [f32; 2],
}

/// Lumbar spine, paraspinal muscles and psoas, in mm; x is 0 on the midline.
#[derive(Debug, Clone)]
struct Spine {
    /// y of the vertebral body centre.
    y: f32,
    /// Vertebral body half-axes and cortical shell thickness.
    body: [f32; 2],
    cortex: f32,
    canal_r: f32,
    arch: f32,
    spinous_len: f32,
    spinous_w: f32,
    /// Transverse process centre (x, y offset from the canal centre) and half-axes.
    tp_c: [f32; 2],
    tp_r: [f32; 2],
    /// Intervertebral discs: period and phase in z, and the fraction of a period they occupy.
    disc_period: f32,
    disc_phase: f32,
    disc_frac: f32,
    /// Paraspinal (erector spinae) muscles: x offset, y offset from `y`, half-axes.
    paraspinal: [f32; 4],
    /// Psoas radius at z = 0 (it vanishes at z = PSOAS_TOP).
    psoas_r: f32,
    /// Rib pattern phases.
    rib_phase: [f32; RIBS_PER_SIDE],
    rib_freq: f32,
}

const RIBS_PER_SIDE: usize = 5;
const PSOAS_TOP: f32 = 0.62;
const LUNG_BOTTOM: f32 = 0.86;
const ILIAC_TOP: f32 = 0.16;

/// Large vessels: aorta and inferior vena cava, with their bifurcations low in the abdomen.
#[derive(Debug, Clone)]
struct Vessels {
    aorta: [f32; 2],
    aorta_r: f32,
    ivc: [f32; 2],
    ivc_r: [f32; 2],
    z_bifurcation: f32,
    z_confluence: f32,
}

/// Texture of the remaining cavity: bowel loops in mesenteric fat, with some gas.
#[derive(Debug, Clone)]
struct Texture {
    k: [f32; 4],
    phase: [f32; 4],
    z_freq: f32,
    threshold: f32,
    gas_threshold: f32,
}

/// One synthetic patient: random anatomy fixed by the seed (body size, organ sizes/positions, contrast).
#[derive(Debug, Clone)]
pub struct Phantom {
    seed: u64,
    body: Body,
    spine: Spine,
    vessels: Vessels,
    tissue: Tissue,
    texture: Texture,
    /// Right lobe and left lobe.
    liver: [Blob; 2],
    spleen: Blob,
    /// Right and left kidney.
    kidneys: [Blob; 2],
    /// Radius (in units of the kidney half-axes) of the hilar notch that makes the kidney a bean.
    kidney_notch: f32,
    gallbladder: Blob,
    stomach: Blob,
    /// Air-fluid level of the gastric air pocket, as a fraction of the stomach's half-axis
    /// above its centre; `None` without gastric air.
    stomach_air: Option<f32>,
    pancreas: Pancreas,
    noise_sigma: f32,
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

    fn paint_pancreas(&self, grid: &Grid, z: f32, hu: &mut [f32], labels: &mut [u8]) {
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
struct Grid {
    size: usize,
    spacing: f32,
    /// Position (mm, body frame) of the grid's left / top edge, negated.
    ox: f32,
    oy: f32,
}

impl Grid {
    fn new(size: usize, spacing: f32, body_offset: [f32; 2]) -> Self {
        let half = 0.5 * size as f32 * spacing;
        Grid {
            size,
            spacing,
            ox: half + body_offset[0],
            oy: half + body_offset[1],
        }
    }

    #[inline]
    fn x(&self, col: usize) -> f32 {
        (col as f32 + 0.5) * self.spacing - self.ox
    }

    #[inline]
    fn y(&self, row: usize) -> f32 {
        (row as f32 + 0.5) * self.spacing - self.oy
    }

    /// Inclusive range of indices whose pixel centres lie in `[lo, hi]`.
    fn range(&self, lo: f32, hi: f32, offset: f32) -> Option<(usize, usize)> {
        let first = ((lo + offset) / self.spacing - 0.5).ceil().max(0.0);
        let last = ((hi + offset) / self.spacing - 0.5)
            .floor()
            .min(self.size as f32 - 1.0);
        (first <= last).then_some((first as usize, last as usize))
    }

    fn cols(&self, lo: f32, hi: f32) -> Option<(usize, usize)> {
        self.range(lo, hi, self.ox)
    }

    fn rows(&self, lo: f32, hi: f32) -> Option<(usize, usize)> {
        self.range(lo, hi, self.oy)
    }
}

/// Draws an organ section on the pixels still available to organs (cavity or a lower-priority
/// organ); `tissue(ρ, u, v, x, y)` gives its HU, or `None` to leave a pixel out.
fn paint(
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

/// A rib cross-section: a small ellipse elongated along the body wall.
#[derive(Debug, Clone, Copy, Default)]
struct Rib {
    cx: f32,
    cy: f32,
    tx: f32,
    ty: f32,
}

const RIB_HALF: [f32; 2] = [8.0, 4.5];

/// Everything about one slice that does not depend on the pixel.
struct Scene<'a> {
    p: &'a Phantom,
    inv_a: f32,
    inv_b: f32,
    inv_fa: f32,
    inv_fb: f32,
    inv_ma: f32,
    inv_mb: f32,
    body_gate2: f32,
    disc: bool,
    psoas_r: f32,
    ribs: [Rib; 2 * RIBS_PER_SIDE],
    n_ribs: usize,
    lungs: Option<[Section; 2]>,
    iliac: Option<[Section; 2]>,
    arteries: [Section; 2],
    n_arteries: usize,
    veins: [Section; 2],
    n_veins: usize,
    tex_z: f32,
}

impl<'a> Scene<'a> {
    fn new(p: &'a Phantom, z: f32) -> Self {
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
    fn background(&self, x: f32, y: f32) -> Option<f32> {
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
    fn bone(&self, x: f32, y: f32) -> Option<f32> {
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
    fn rib(&self, x: f32, y: f32) -> Option<f32> {
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
    fn muscle(&self, x: f32, y: f32) -> bool {
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
    fn texture_x(&self, x: f32) -> [f32; 5] {
        let q = &self.p.texture;
        let (s2, c2) = (x * q.k[2] + self.tex_z + q.phase[2]).sin_cos();
        let (s3, c3) = (x * q.k[3] - 0.7 * self.tex_z + q.phase[3]).sin_cos();
        [(x * q.k[0] + q.phase[0]).sin(), s2, c2, s3, c3]
    }

    /// Row factors of the bowel texture (see [`Scene::texture`]).
    fn texture_y(&self, y: f32) -> [f32; 5] {
        let q = &self.p.texture;
        let (s3, c3) = (y * q.k[3]).sin_cos();
        let (s2, c2) = (y * q.k[2]).sin_cos();
        [(y * q.k[1] + q.phase[1]).sin(), c3, s3, c2, s2]
    }

    /// Bowel loops in mesenteric fat, with scattered gas: thresholds of the smooth field
    /// `sin(k0 x + p0) sin(k1 y + p1) + 0.6 sin(k2 x - k3 y + ...) + 0.4 sin(k3 x + k2 y + ...)`,
    /// evaluated from its column and row factors.
    #[inline]
    fn texture(&self, cx: &[f32; 5], ry: &[f32; 5]) -> f32 {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn render(p: &Phantom, z: f32, size: usize, spacing: f32, noise: u64) -> (Vec<f32>, Vec<u8>) {
        let mut hu = vec![0.0; size * size];
        let mut labels = vec![0; size * size];
        p.render(z, size, spacing, noise, &mut hu, &mut labels);
        (hu, labels)
    }

    /// (pixel count, mean row, mean col) of label `id`.
    fn centroid(labels: &[u8], size: usize, id: u8) -> (usize, f32, f32) {
        let (mut n, mut r, mut c) = (0usize, 0.0f64, 0.0f64);
        for (i, _) in labels.iter().enumerate().filter(|(_, l)| **l == id) {
            n += 1;
            r += (i / size) as f64;
            c += (i % size) as f64;
        }
        if n == 0 {
            return (0, f32::NAN, f32::NAN);
        }
        (n, (r / n as f64) as f32, (c / n as f64) as f32)
    }

    fn count(labels: &[u8], id: u8) -> usize {
        labels.iter().filter(|&&l| l == id).count()
    }

    #[test]
    fn ids_match_organ_names() {
        for (id, name) in [
            (SPLEEN, "spleen"),
            (KIDNEY_RIGHT, "kidney_right"),
            (KIDNEY_LEFT, "kidney_left"),
            (GALLBLADDER, "gallbladder"),
            (LIVER, "liver"),
            (STOMACH, "stomach"),
            (PANCREAS, "pancreas"),
        ] {
            assert_eq!(ORGANS[id as usize - 1], name);
        }
    }

    #[test]
    fn deterministic() {
        let a = Phantom::new(7);
        let b = Phantom::new(7);
        for z in [0.1, 0.5, 0.8] {
            let (hu1, l1) = render(&a, z, 96, 4.0, 3);
            let (hu2, l2) = render(&b, z, 96, 4.0, 3);
            assert_eq!(l1, l2);
            assert!(hu1
                .iter()
                .zip(&hu2)
                .all(|(x, y)| x.to_bits() == y.to_bits()));

            // Another noise seed changes the noise only.
            let (hu3, l3) = render(&a, z, 96, 4.0, 4);
            assert_eq!(l1, l3);
            let changed = hu1.iter().zip(&hu3).filter(|(x, y)| x != y).count();
            assert!(
                changed > hu1.len() / 2,
                "noise seed changed only {changed} pixels"
            );
        }

        // Different seeds give different anatomy.
        let (_, l7) = render(&a, 0.7, 128, 3.0, 0);
        for seed in [1, 2, 3] {
            let (_, other) = render(&Phantom::new(seed), 0.7, 128, 3.0, 0);
            let differ = l7.iter().zip(&other).filter(|(x, y)| x != y).count();
            assert!(
                differ > 200,
                "seed {seed}: only {differ} labels differ from seed 7"
            );
        }
    }

    #[test]
    fn anatomy_sides() {
        let size = 128;
        let mid = size as f32 / 2.0;
        let mut stomach_checks = 0;
        for seed in 0..8 {
            let p = Phantom::new(seed);
            // Liver on the image left (patient right), spleen on the image right.
            let (_, labels) = render(&p, 0.75, size, 3.0, 0);
            let (n_liver, _, liver_col) = centroid(&labels, size, LIVER);
            let (n_spleen, _, spleen_col) = centroid(&labels, size, SPLEEN);
            assert!(
                n_liver > 100 && n_spleen > 20,
                "seed {seed}: {n_liver} {n_spleen}"
            );
            assert!(liver_col < mid, "seed {seed}: liver col {liver_col}");
            assert!(spleen_col > mid, "seed {seed}: spleen col {spleen_col}");

            // Right kidney on the image left of the left kidney.
            let (_, labels) = render(&p, 0.4, size, 3.0, 0);
            let (n_r, _, col_r) = centroid(&labels, size, KIDNEY_RIGHT);
            let (n_l, _, col_l) = centroid(&labels, size, KIDNEY_LEFT);
            assert!(n_r > 20 && n_l > 20, "seed {seed}: kidneys {n_r} {n_l}");
            assert!(col_r < mid && mid < col_l, "seed {seed}: {col_r} {col_l}");

            // Stomach anterior to the kidneys wherever both are in the slice.
            for k in 0..=20 {
                let z = 0.5 + 0.01 * k as f32;
                let (_, labels) = render(&p, z, size, 3.0, 0);
                let (n_s, row_s, _) = centroid(&labels, size, STOMACH);
                for kidney in [KIDNEY_RIGHT, KIDNEY_LEFT] {
                    let (n_k, row_k, _) = centroid(&labels, size, kidney);
                    if n_s >= 10 && n_k >= 10 {
                        assert!(row_s < row_k, "seed {seed} z {z}: {row_s} vs {row_k}");
                        stomach_checks += 1;
                    }
                }
            }

            // The right kidney sits lower than the left: compare area-weighted mean heights.
            let (mut zr, mut wr, mut zl, mut wl) = (0.0, 0.0, 0.0, 0.0);
            for k in 0..=50 {
                let z = k as f32 / 50.0;
                let (_, labels) = render(&p, z, 64, 6.0, 0);
                let (nr, nl) = (
                    count(&labels, KIDNEY_RIGHT) as f32,
                    count(&labels, KIDNEY_LEFT) as f32,
                );
                zr += z * nr;
                wr += nr;
                zl += z * nl;
                wl += nl;
            }
            assert!(zr / wr < zl / wl, "seed {seed}: {} vs {}", zr / wr, zl / wl);
        }
        assert!(stomach_checks > 0);
    }

    #[test]
    fn all_organs_appear_and_pancreas_is_small() {
        for seed in [0, 11, 222, 3333, 44444] {
            let p = Phantom::new(seed);
            let mut total = [0usize; 8];
            for k in 0..=50 {
                let z = k as f32 / 50.0;
                let (_, labels) = render(&p, z, 128, 3.0, 0);
                for &l in &labels {
                    assert!(l <= 7, "seed {seed} z {z}: label {l}");
                    total[l as usize] += 1;
                }
            }
            for (i, name) in ORGANS.iter().enumerate() {
                assert!(total[i + 1] > 0, "seed {seed}: {name} never appears");
            }
            let (pancreas, liver) = (total[PANCREAS as usize], total[LIVER as usize]);
            assert!(
                pancreas * 5 < liver,
                "seed {seed}: pancreas {pancreas} px vs liver {liver} px"
            );
            assert!(total[GALLBLADDER as usize] * 5 < liver);
        }
    }

    #[test]
    fn organ_heights() {
        for seed in 0..5 {
            let p = Phantom::new(seed);
            let at = |z: f32| render(&p, z, 128, 3.0, 0).1;
            let low = at(0.05);
            assert!(
                low.iter().all(|&l| l == 0),
                "seed {seed}: organs at z = 0.05"
            );
            let top = at(0.97);
            assert!(count(&top, LIVER) > 100, "seed {seed}: no liver dome");
            for id in [KIDNEY_RIGHT, KIDNEY_LEFT, GALLBLADDER, PANCREAS] {
                assert_eq!(count(&top, id), 0, "seed {seed}: organ {id} at z = 0.97");
            }
            // The liver is largest high up.
            assert!(count(&at(0.8), LIVER) > count(&at(0.45), LIVER));
        }
    }

    #[test]
    fn organs_stay_inside_the_body() {
        let size = 128;
        for seed in 0..4 {
            let p = Phantom::new(seed);
            for k in 0..=20 {
                let z = k as f32 / 20.0;
                let (hu, labels) = render(&p, z, size, 3.0, 0);
                for row in 0..size {
                    let line = &hu[row * size..(row + 1) * size];
                    let first = line.iter().position(|&h| h > -500.0);
                    let last = line.iter().rposition(|&h| h > -500.0);
                    for col in 0..size {
                        if labels[row * size + col] == 0 {
                            continue;
                        }
                        let (first, last) = (first.unwrap(), last.unwrap());
                        assert!(
                            first + 3 < col && col + 3 < last,
                            "seed {seed} z {z}: organ at ({row}, {col}) outside body {first}..{last}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn hu_plausibility() {
        let size = 128;
        for seed in 0..6 {
            let p = Phantom::new(seed);
            let (hu, labels) = render(&p, 0.75, size, 3.0, 9);
            for i in [0, size - 1, size * (size - 1), size * size - 1] {
                assert!(
                    (-1024.0..=-920.0).contains(&hu[i]),
                    "seed {seed}: corner {i} is {}",
                    hu[i]
                );
            }
            let liver: Vec<f32> = labels
                .iter()
                .zip(&hu)
                .filter(|(l, _)| **l == LIVER)
                .map(|(_, h)| *h)
                .collect();
            let mean = liver.iter().sum::<f32>() / liver.len() as f32;
            assert!((40.0..=140.0).contains(&mean), "seed {seed}: liver {mean}");
            for z in [0.05, 0.5, 0.9] {
                let (hu, _) = render(&p, z, size, 3.0, 9);
                let bone = hu.iter().filter(|&&h| h > 500.0).count();
                assert!(bone > 5, "seed {seed} z {z}: {bone} bone pixels");
                let fat = hu.iter().filter(|&&h| (-150.0..-60.0).contains(&h)).count();
                assert!(fat > 200, "seed {seed} z {z}: {fat} fat pixels");
            }
            // Noise: the difference of two noise realisations inside the body has std σ√2.
            let (h1, _) = render(&p, 0.5, size, 3.0, 1);
            let (h2, _) = render(&p, 0.5, size, 3.0, 2);
            let d: Vec<f64> = h1
                .iter()
                .zip(&h2)
                .filter(|(a, b)| **a > -800.0 && **b > -800.0)
                .map(|(a, b)| f64::from(a - b))
                .collect();
            let var = d.iter().map(|x| x * x).sum::<f64>() / d.len() as f64;
            let sigma = (var / 2.0).sqrt();
            assert!(
                (9.0..=21.0).contains(&sigma),
                "seed {seed}: noise σ {sigma}"
            );
        }
    }

    #[test]
    fn physical_scale() {
        for seed in 0..5 {
            let p = Phantom::new(seed);
            for z in [0.5, 0.8] {
                let (hu_c, coarse) = render(&p, z, 128, 3.0, 0);
                let (hu_f, fine) = render(&p, z, 256, 1.5, 0);
                let area_c = count(&coarse, LIVER) as f32 * 9.0;
                let area_f = count(&fine, LIVER) as f32 * 2.25;
                assert!(area_f > 1000.0, "seed {seed} z {z}: liver {area_f} mm²");
                let ratio = area_c / area_f;
                assert!(
                    (0.9..=1.1).contains(&ratio),
                    "seed {seed} z {z}: liver {area_c} vs {area_f} mm²"
                );
                // Body width along the middle row: 300–360 mm.
                let width = |hu: &[f32], size: usize, spacing: f32| {
                    let row = &hu[size / 2 * size..(size / 2 + 1) * size];
                    let first = row.iter().position(|&h| h > -500.0).unwrap();
                    let last = row.iter().rposition(|&h| h > -500.0).unwrap();
                    (last - first + 1) as f32 * spacing
                };
                let (wc, wf) = (width(&hu_c, 128, 3.0), width(&hu_f, 256, 1.5));
                assert!((290.0..=370.0).contains(&wc), "seed {seed}: width {wc} mm");
                assert!((wc - wf).abs() <= 6.0, "seed {seed}: width {wc} vs {wf}");
            }
        }
    }

    #[test]
    #[should_panic(expected = "size*size")]
    fn wrong_buffer_length_panics() {
        let mut hu = vec![0.0; 10];
        let mut labels = vec![0; 16];
        Phantom::new(0).render(0.5, 4, 1.0, 0, &mut hu, &mut labels);
    }
}
