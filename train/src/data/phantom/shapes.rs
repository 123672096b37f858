//! Shape primitives of the phantom: irregular boundaries (angular harmonics),
//! blobs, organ sections and the pancreas ribbon, plus small numeric helpers.

use super::*;

/// Boundary irregularity: `[a_k cos φ_k, a_k sin φ_k]` for the angular harmonics k = 2, 3, 4.
pub(super) type Harmonics = [[f32; 2]; 3];

/// Random harmonics with amplitudes in `[amp/2, amp)` and uniform phases.
pub(super) fn harmonics(rng: &mut StdRng, amp: [f32; 3]) -> Harmonics {
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
pub(super) fn harmonic_sum(h: &Harmonics, c: f32, s: f32) -> f32 {
    let (c2, s2) = (c * c - s * s, 2.0 * c * s);
    let (c3, s3) = (c2 * c - s2 * s, s2 * c + c2 * s);
    let (c4, s4) = (c2 * c2 - s2 * s2, 2.0 * c2 * s2);
    h[0][0] * c2 + h[0][1] * s2 + h[1][0] * c3 + h[1][1] * s3 + h[2][0] * c4 + h[2][1] * s4
}

/// Upper bound of |harmonic_sum|.
pub(super) fn harmonic_bound(h: &Harmonics) -> f32 {
    h.iter().map(|[p, q]| p.hypot(*q)).sum()
}

/// Smooth z profile of an organ: 1 at `pk`, 0 outside `(lo, hi)`, shaped like the radius of an
/// ellipsoid's cross-section (`sqrt(1 - t²)`), with different extents below and above the peak.
#[inline]
pub(super) fn profile(z: f32, [lo, pk, hi]: [f32; 3]) -> f32 {
    let t = if z < pk {
        (pk - z) / (pk - lo)
    } else {
        (z - pk) / (hi - pk)
    };
    (1.0 - t * t).max(0.0).sqrt()
}

#[inline]
pub(super) fn smoothstep(x: f32) -> f32 {
    let x = x.clamp(0.0, 1.0);
    x * x * (3.0 - 2.0 * x)
}

#[inline]
pub(super) fn lerp(a: f32, b: f32, t: f32) -> f32 {
    a + (b - a) * t
}

/// SplitMix64 finaliser, to derive independent seeds.
pub(super) fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Two independent standard normal samples (Box–Muller).
#[inline]
pub(super) fn gauss_pair(rng: &mut StdRng) -> (f32, f32) {
    let u1 = 1.0 - rng.random::<f32>(); // in (0, 1], so ln is finite
    let u2 = rng.random::<f32>();
    let r = (-2.0 * u1.ln()).sqrt();
    let (s, c) = (TAU * u2).sin_cos();
    (r * c, r * s)
}

/// A 3D organ as a stack of irregular ellipses: centre, radii and boundary vary smoothly with z.
#[derive(Debug, Clone)]
pub(super) struct Blob {
    /// Centre (mm, body frame) at the peak height.
    pub(super) centre: [f32; 2],
    /// Centre displacement in mm per unit of z.
    pub(super) drift: [f32; 2],
    /// Half-axes (mm) at the peak height, along the rotated u and v axes.
    pub(super) radii: [f32; 2],
    /// Direction of the u axis, radians from +x (patient left) towards +y (posterior).
    pub(super) angle: f32,
    /// Lowest, peak and highest z of the organ.
    pub(super) z: [f32; 3],
    /// Boundary harmonics at the peak, and their change per unit of z.
    pub(super) h0: Harmonics,
    pub(super) h1: Harmonics,
}

impl Blob {
    pub(super) fn section(&self, z: f32) -> Option<Section> {
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
pub(super) struct Section {
    pub(super) cx: f32,
    pub(super) cy: f32,
    pub(super) cos: f32,
    pub(super) sin: f32,
    pub(super) inv_rx: f32,
    pub(super) inv_ry: f32,
    pub(super) ry: f32,
    pub(super) h: Harmonics,
    /// Square of the largest normalised radius the boundary can reach.
    pub(super) gate2: f32,
    /// Largest distance (mm) of the boundary from the centre.
    pub(super) reach: f32,
}

impl Section {
    pub(super) fn new(centre: [f32; 2], radii: [f32; 2], angle: f32, h: Harmonics) -> Self {
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

    pub(super) fn ellipse(centre: [f32; 2], radii: [f32; 2], angle: f32) -> Self {
        Self::new(centre, radii, angle, [[0.0; 2]; 3])
    }

    /// If `(x, y)` is inside, its normalised radius ρ ∈ [0, 1) (0 at the centre, 1 on the
    /// boundary) and its coordinates `(u, v)` in units of the half-axes.
    #[inline]
    pub(super) fn locate(&self, x: f32, y: f32) -> Option<(f32, f32, f32)> {
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
    pub(super) fn contains(&self, x: f32, y: f32) -> bool {
        self.locate(x, y).is_some()
    }
}

/// The pancreas: a thin band around a parabolic centre line from the head (patient right, by the
/// duodenum) to the tail (patient left, at the splenic hilum); the tail lies a little higher.
#[derive(Debug, Clone)]
pub(super) struct Pancreas {
    /// x of the head and tail ends (mm).
    pub(super) x: [f32; 2],
    /// y of the centre line at the head, at x = 0 and at the tail (mm).
    pub(super) y: [f32; 3],
    /// Half-thickness of head, body and tail (mm).
    pub(super) w: [f32; 3],
    /// Height (z) of the centre line at the head and at the tail, and the half-extent in z.
    pub(super) z: [f32; 2],
    pub(super) hz: f32,
    pub(super) phase: [f32; 3],
}

impl Pancreas {
    pub(super) fn z_range(&self) -> (f32, f32) {
        (
            self.z[0].min(self.z[1]) - self.hz,
            self.z[0].max(self.z[1]) + self.hz,
        )
    }

    /// Centre line y(x): the parabola through the three control points, with a gentle wiggle.
    #[inline]
    pub(super) fn centre_y(&self, x: f32) -> f32 {
        let [x0, x2] = self.x;
        let [y0, y1, y2] = self.y;
        let l0 = x * (x - x2) / (x0 * (x0 - x2));
        let l1 = (x - x0) * (x - x2) / (x0 * x2);
        let l2 = (x - x0) * x / ((x2 - x0) * x2);
        y0 * l0 + y1 * l1 + y2 * l2 + 3.0 * (0.06 * x + self.phase[2]).sin()
    }

    /// Half-thickness (mm) at `x` in the slice at height `z` (≤ 0 where absent).
    #[inline]
    pub(super) fn half_width(&self, x: f32, z: f32) -> f32 {
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
