//! Surface elements ("surfels") of a binary mask: the 8-bit code of a voxel
//! corner's 2×2×2 neighbourhood and the area (mm²) of the marching-cubes
//! surface through that neighbourhood, as in DeepMind's `surface-distance`.
//!
//! The corner at `p` sees the voxels `p − 1 + (a, b, c)`, `a, b, c ∈ {0, 1}`
//! along axes 0, 1, 2; voxel `(a, b, c)` sets bit `128 >> (4a + 2b + c)`.
//!
//! The area table is built here from its definition rather than copied:
//! marching cubes with vertices at edge midpoints; on a face whose diagonal
//! corners agree (the ambiguous case) the minority corners are cut off on
//! their own (inside corners when at most four corners are inside, outside
//! corners otherwise); each closed loop of crossing points is triangulated
//! the way that has the largest area on a unit grid, and the same triangles
//! are then measured at the actual spacing. This reproduces DeepMind's
//! lookup table for all 256 codes (checked against their package by
//! `tests/eval.rs` at anisotropic spacings).

use std::sync::OnceLock;

/// A point in doubled unit-cube coordinates (corners 0 or 2, midpoints 1).
type P = [i32; 3];

/// Is voxel `(a, b, c)` of the neighbourhood inside for `code`?
fn inside(code: u8, v: [i32; 3]) -> bool {
    code & (128u8 >> (4 * v[0] + 2 * v[1] + v[2])) != 0
}

/// Crossing segments of one cube face (`axis` fixed at `val`).
fn face_segments(code: u8, axis: usize, val: i32, separate_inside: bool, out: &mut Vec<[P; 2]>) {
    let others: Vec<usize> = (0..3).filter(|&a| a != axis).collect();
    let pts: Vec<[i32; 3]> = [(0, 0), (1, 0), (1, 1), (0, 1)]
        .iter()
        .map(|&(u, v)| {
            let mut p = [0; 3];
            p[axis] = val;
            p[others[0]] = u;
            p[others[1]] = v;
            p
        })
        .collect();
    let ins: Vec<bool> = pts.iter().map(|&p| inside(code, p)).collect();
    // Midpoint of edge i (corner i to corner i+1), doubled, where it crosses.
    let mids: Vec<Option<P>> = (0..4)
        .map(|i| {
            let j = (i + 1) % 4;
            (ins[i] != ins[j]).then(|| [0, 1, 2].map(|d| pts[i][d] + pts[j][d]))
        })
        .collect();
    let crossing: Vec<P> = mids.iter().flatten().copied().collect();
    match crossing.len() {
        2 => out.push([crossing[0], crossing[1]]),
        4 => {
            for i in (0..4).filter(|&i| ins[i] == separate_inside) {
                out.push([mids[(i + 3) % 4].unwrap(), mids[i].unwrap()]);
            }
        }
        _ => {}
    }
}

/// The closed loops of crossing points of `code`.
fn loops(code: u8) -> Vec<Vec<P>> {
    let separate_inside = code.count_ones() <= 4;
    let mut segs = Vec::new();
    for axis in 0..3 {
        for val in [0, 1] {
            face_segments(code, axis, val, separate_inside, &mut segs);
        }
    }
    let mut out = Vec::new();
    while let Some([a, b]) = segs.pop() {
        let mut lp = vec![a, b];
        while let Some(i) = segs.iter().position(|s| s.contains(lp.last().unwrap())) {
            let s = segs.swap_remove(i);
            let next = if s[0] == *lp.last().unwrap() {
                s[1]
            } else {
                s[0]
            };
            if next == lp[0] {
                break;
            }
            lp.push(next);
        }
        out.push(lp);
    }
    out
}

/// Every triangulation of the polygon `poly` (vertex lists in cyclic order).
fn triangulations(poly: &[P]) -> Vec<Vec<[P; 3]>> {
    let n = poly.len();
    if n < 3 {
        return vec![vec![]];
    }
    let mut all = Vec::new();
    // The triangle on the edge (first, last) has its apex at k.
    for k in 1..n - 1 {
        for l in triangulations(&poly[..=k]) {
            for r in triangulations(&poly[k..]) {
                let mut t = l.clone();
                t.extend(r);
                t.push([poly[0], poly[k], poly[n - 1]]);
                all.push(t);
            }
        }
    }
    all
}

/// Area vector of a triangle in unit-cube coordinates.
fn normal(t: &[P; 3]) -> [f64; 3] {
    let u = [0, 1, 2].map(|d| t[1][d] - t[0][d]);
    let v = [0, 1, 2].map(|d| t[2][d] - t[0][d]);
    let c = [
        u[1] * v[2] - u[2] * v[1],
        u[2] * v[0] - u[0] * v[2],
        u[0] * v[1] - u[1] * v[0],
    ];
    // Doubled coordinates: the cross product is 4× too large; area = |cross| / 2.
    c.map(|x| x as f64 / 8.0)
}

/// Area (mm²) of the surface with area vector `n` (unit cube) at `spacing`.
fn scaled_area(n: &[f64; 3], s: [f64; 3]) -> f64 {
    let m = [n[0] * s[1] * s[2], n[1] * s[0] * s[2], n[2] * s[0] * s[1]];
    (m[0] * m[0] + m[1] * m[1] + m[2] * m[2]).sqrt()
}

/// The area vectors of the chosen triangles of every code.
fn normals() -> &'static [Vec<[f64; 3]>] {
    static TABLE: OnceLock<Vec<Vec<[f64; 3]>>> = OnceLock::new();
    TABLE.get_or_init(|| {
        (0..=255u8)
            .map(|code| {
                let mut tris = Vec::new();
                for lp in loops(code) {
                    let best = triangulations(&lp)
                        .into_iter()
                        .map(|t| {
                            let a: f64 = t.iter().map(|t| scaled_area(&normal(t), [1.0; 3])).sum();
                            (a, t)
                        })
                        .fold(None::<(f64, Vec<[P; 3]>)>, |acc, (a, t)| match acc {
                            Some((b, _)) if b >= a - 1e-12 => acc,
                            _ => Some((a, t)),
                        });
                    if let Some((_, t)) = best {
                        tris.extend(t.iter().map(normal));
                    }
                }
                tris
            })
            .collect()
    })
}

/// Surfel area (mm²) of each of the 256 neighbourhood codes at `spacing`
/// (mm along axes 0, 1, 2). Codes 0 and 255 have none.
pub fn area_table(spacing: [f64; 3]) -> [f64; 256] {
    let mut t = [0.0; 256];
    for (a, n) in t.iter_mut().zip(normals()) {
        *a = n.iter().map(|n| scaled_area(n, spacing)).sum();
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_codes_and_symmetry() {
        let iso = area_table([1.0; 3]);
        assert_eq!((iso[0], iso[255]), (0.0, 0.0));
        // One corner in: the triangle through three edge midpoints.
        assert!((iso[1] - 3f64.sqrt() / 8.0).abs() < 1e-12);
        // Half the neighbourhood in, split by a plane: a unit square.
        assert!((iso[0b1111_0000] - 1.0).abs() < 1e-12);
        let t = area_table([3.0, 2.0, 1.0]);
        assert!((t[0b1111_0000] - 2.0).abs() < 1e-12, "{}", t[0b1111_0000]);
        for c in 0..256 {
            assert!((t[c] - t[255 - c]).abs() < 1e-12, "code {c}");
            assert_eq!(t[c] > 0.0, c != 0 && c != 255, "code {c}");
        }
    }
}
