//! Exact Euclidean distance transform on an anisotropic 3D grid
//! (Felzenszwalb & Huttenlocher, "Distance transforms of sampled functions",
//! 2012): three passes of the 1D lower envelope of parabolas, one per axis.
//!
//! The squared distance is accumulated axis 0 first, `(Δ0·s0)² + (Δ1·s1)² +
//! (Δ2·s2)²` in that order, as SciPy's `distance_transform_edt` (which
//! DeepMind's library calls) sums it, so both agree to the last bit whenever
//! they pick the same nearest point.

/// Distance (mm) from every point of the grid `dims` (axis 0 fastest) with
/// `spacing` (mm) to the nearest point where `feature` is true; `+∞` for
/// every point when there is no feature.
pub fn distance_transform(feature: &[bool], dims: [usize; 3], spacing: [f64; 3]) -> Vec<f64> {
    let n: usize = dims.iter().product();
    assert_eq!(feature.len(), n, "feature mask of the wrong size");
    let mut f: Vec<f64> = feature
        .iter()
        .map(|&b| if b { 0.0 } else { f64::INFINITY })
        .collect();
    let strides = [1, dims[0], dims[0] * dims[1]];
    let longest = *dims.iter().max().unwrap_or(&0);
    let (mut line, mut out) = (vec![0.0; longest], vec![0.0; longest]);
    let (mut v, mut z) = (Vec::with_capacity(longest), Vec::with_capacity(longest));
    for axis in 0..3 {
        let (len, stride) = (dims[axis], strides[axis]);
        if len == 0 {
            continue;
        }
        // Every line along `axis`: its first point has coordinate 0 on that axis.
        for start in (0..n).filter(|&i| (i / stride) % len == 0) {
            for (t, l) in line[..len].iter_mut().enumerate() {
                *l = f[start + t * stride];
            }
            envelope(&line[..len], spacing[axis], &mut out[..len], &mut v, &mut z);
            for (t, &o) in out[..len].iter().enumerate() {
                f[start + t * stride] = o;
            }
        }
    }
    f.iter_mut().for_each(|d| *d = d.sqrt());
    f
}

/// `out[x] = min_q f[q] + ((x − q)·s)²` over the finite `f[q]`; all `+∞` if none.
fn envelope(f: &[f64], s: f64, out: &mut [f64], v: &mut Vec<usize>, z: &mut Vec<f64>) {
    v.clear();
    z.clear();
    let s2 = s * s;
    for (q, &fq) in f.iter().enumerate() {
        if !fq.is_finite() {
            continue;
        }
        // Drop the parabolas that q's hides, then append q.
        while let Some(&p) = v.last() {
            let qf = q as f64;
            let pf = p as f64;
            let x = ((fq - f[p]) / s2 + qf * qf - pf * pf) / (2.0 * (qf - pf));
            if x <= *z.last().unwrap() {
                v.pop();
                z.pop();
            } else {
                z.push(x);
                break;
            }
        }
        if v.is_empty() {
            z.push(f64::NEG_INFINITY);
        }
        v.push(q);
    }
    if v.is_empty() {
        out.fill(f64::INFINITY);
        return;
    }
    let mut j = 0;
    for (x, o) in out.iter_mut().enumerate() {
        while j + 1 < v.len() && z[j + 1] < x as f64 {
            j += 1;
        }
        let d = (x as f64 - v[j] as f64) * s;
        *o = f[v[j]] + d * d;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift), so the test needs no crate.
    fn rng(seed: &mut u64) -> u64 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    }

    #[test]
    fn matches_brute_force_on_random_masks() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for case in 0..40 {
            let dims = [0, 1, 2].map(|_| 1 + (rng(&mut seed) % 9) as usize);
            let spacing = [0, 1, 2].map(|_| 0.3 + (rng(&mut seed) % 1000) as f64 / 300.0);
            let density = 1 + rng(&mut seed) % 30;
            let n = dims.iter().product::<usize>();
            let feature: Vec<bool> = (0..n).map(|_| rng(&mut seed) % 100 < density).collect();
            let got = distance_transform(&feature, dims, spacing);
            let coord = |i: usize| {
                [
                    i % dims[0],
                    (i / dims[0]) % dims[1],
                    i / (dims[0] * dims[1]),
                ]
            };
            for (i, &g) in got.iter().enumerate() {
                let want = (0..n)
                    .filter(|&j| feature[j])
                    .map(|j| {
                        let (a, b) = (coord(i), coord(j));
                        (0..3)
                            .map(|d| ((a[d] as f64 - b[d] as f64) * spacing[d]).powi(2))
                            .sum::<f64>()
                            .sqrt()
                    })
                    .fold(f64::INFINITY, f64::min);
                assert!(
                    g == want || (g - want).abs() <= 1e-12 * want,
                    "case {case} dims {dims:?} spacing {spacing:?} point {i}: {g} vs {want}"
                );
            }
        }
    }

    #[test]
    fn no_feature_is_infinitely_far() {
        let d = distance_transform(&[false; 6], [3, 2, 1], [1.0; 3]);
        assert!(d.iter().all(|x| x.is_infinite()));
    }
}
