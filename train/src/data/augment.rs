//! Augmentation that keeps anatomy plausible: small rotations, isotropic
//! scaling, shifts, intensity jitter and noise. No left–right flips: they
//! would swap the kidneys (and put the liver on the wrong side).

use rand::{rngs::StdRng, Rng};

#[derive(Debug, Clone, Copy)]
pub struct Augment {
    pub max_rotation_deg: f32,
    pub scale: (f32, f32),
    pub max_shift: f32,
    pub contrast: (f32, f32),
    pub brightness: f32,
    pub max_noise: f32,
}

impl Default for Augment {
    fn default() -> Self {
        Self {
            max_rotation_deg: 10.0,
            scale: (0.9, 1.1),
            max_shift: 0.04,
            contrast: (0.9, 1.1),
            brightness: 0.05,
            max_noise: 0.02,
        }
    }
}

impl Augment {
    /// Warps `image` and `label` (`n`×`n`) into `img_out` / `lab_out`.
    pub fn apply(
        &self,
        rng: &mut StdRng,
        n: usize,
        image: &[f32],
        label: &[u8],
        img_out: &mut [f32],
        lab_out: &mut [u8],
    ) {
        let theta = rng
            .random_range(-self.max_rotation_deg..=self.max_rotation_deg)
            .to_radians();
        let s = rng.random_range(self.scale.0..=self.scale.1);
        let (tx, ty) = (
            rng.random_range(-self.max_shift..=self.max_shift) * n as f32,
            rng.random_range(-self.max_shift..=self.max_shift) * n as f32,
        );
        let a = rng.random_range(self.contrast.0..=self.contrast.1);
        let b = rng.random_range(-self.brightness..=self.brightness);
        let sigma = rng.random_range(0.0..=self.max_noise);
        // Output pixel → source pixel: inverse rotation and scale about the centre.
        let (cos, sin) = (theta.cos() / s, theta.sin() / s);
        let c = (n as f32 - 1.0) / 2.0;
        for r in 0..n {
            for col in 0..n {
                let (x, y) = (col as f32 - c - tx, r as f32 - c - ty);
                let sx = cos * x + sin * y + c;
                let sy = -sin * x + cos * y + c;
                let o = r * n + col;
                img_out[o] = bilinear(image, n, sx, sy) * a + b + sigma * gaussian(rng);
                let (nx, ny) = (sx.round(), sy.round());
                lab_out[o] = if nx >= 0.0 && ny >= 0.0 && (nx as usize) < n && (ny as usize) < n {
                    label[ny as usize * n + nx as usize]
                } else {
                    0
                };
            }
        }
    }
}

fn bilinear(img: &[f32], n: usize, x: f32, y: f32) -> f32 {
    if x < 0.0 || y < 0.0 || x > (n - 1) as f32 || y > (n - 1) as f32 {
        return 0.0;
    }
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(n - 1), (y0 + 1).min(n - 1));
    let (wx, wy) = (x - x0 as f32, y - y0 as f32);
    let top = img[y0 * n + x0] * (1.0 - wx) + img[y0 * n + x1] * wx;
    let bot = img[y1 * n + x0] * (1.0 - wx) + img[y1 * n + x1] * wx;
    top * (1.0 - wy) + bot * wy
}

fn gaussian(rng: &mut StdRng) -> f32 {
    let u1: f32 = rng.random::<f32>().max(1e-7);
    let u2: f32 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}
