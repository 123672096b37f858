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
