//! Model-grid slices: each volume read, oriented, windowed and resampled in
//! plane exactly as the runtime will do it (`utx_edge::volume`), its labels
//! mapped and resampled by nearest neighbour.

use anyhow::{bail, Result};
use utx_edge::volume::{model_slices, read_volume, SliceFrame, SliceResampler, Window};

use super::cases::Case;
use super::phantom::Phantom;
use crate::config::ModelConfig;
use utx_edge::labels::LabelMap;

/// Where a slice came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SliceOrigin {
    /// Index of the case (or phantom) in load order.
    pub case: usize,
    /// Slice index within its volume (model frame = stored order).
    pub slice: usize,
    /// True for synthetic phantom slices.
    pub synthetic: bool,
}

/// Normalised images and class labels on the model grid, `size`² each.
#[derive(Debug, Clone, Default)]
pub struct SliceSet {
    pub size: usize,
    pub images: Vec<f32>,
    pub labels: Vec<u8>,
    pub origins: Vec<SliceOrigin>,
    pub case_names: Vec<String>,
}

impl SliceSet {
    pub fn new(size: usize) -> Self {
        Self {
            size,
            ..Default::default()
        }
    }

    pub fn len(&self) -> usize {
        self.origins.len()
    }

    pub fn is_empty(&self) -> bool {
        self.origins.is_empty()
    }

    pub fn image(&self, i: usize) -> &[f32] {
        let n = self.size * self.size;
        &self.images[i * n..(i + 1) * n]
    }

    pub fn label(&self, i: usize) -> &[u8] {
        let n = self.size * self.size;
        &self.labels[i * n..(i + 1) * n]
    }

    fn push(&mut self, image: &[f32], label: &[u8], origin: SliceOrigin) {
        self.images.extend_from_slice(image);
        self.labels.extend_from_slice(label);
        self.origins.push(origin);
    }

    /// Reads one case and appends its slices.
    pub fn add_case(&mut self, case: &Case, cfg: &ModelConfig, map: &LabelMap) -> Result<()> {
        let image = read_volume(&case.image)?;
        let label = read_volume(&case.label)?;
        if image.dims() != label.dims() {
            bail!(
                "{}: label shape {:?} differs from the image {} shape {:?}",
                case.label.display(),
                label.dims(),
                case.image.display(),
                image.dims()
            );
        }
        let (ai, al) = (&image.header.affine, &label.header.affine);
        let off = (0..3)
            .flat_map(|r| (0..4).map(move |c| (ai[r][c] - al[r][c]).abs()))
            .fold(0.0, f64::max);
        if off > 1e-2 {
            bail!(
                "{}: label affine differs from the image's ({}) by {off:.3} mm",
                case.label.display(),
                case.image.display()
            );
        }
        let frame = SliceFrame::from_header(&image.header)?;
        let n = cfg.input_size;
        let rs = SliceResampler::new(
            frame.rows(),
            frame.cols(),
            frame.row_spacing,
            frame.col_spacing,
            n,
            cfg.spacing_mm,
        );
        let window = Window::new(cfg.window_hu[0], cfg.window_hu[1]);
        let images = model_slices(&image, n, cfg.spacing_mm, window)?;
        let plane = frame.rows() * frame.cols();
        let (mut ids, mut classes, mut lab_m) =
            (vec![0f32; plane], vec![0u8; plane], vec![0u8; n * n]);
        let case_idx = self.case_names.len();
        for (s, img_m) in images.chunks_exact(n * n).enumerate() {
            frame.gather(&label.data, s, &mut ids);
            map.apply(&ids, &mut classes, &case.label)?;
            rs.labels_to_model(&classes, &mut lab_m);
            self.push(
                img_m,
                &lab_m,
                SliceOrigin {
                    case: case_idx,
                    slice: s,
                    synthetic: false,
                },
            );
        }
        self.case_names.push(case.name.clone());
        Ok(())
    }

    /// Appends `slices` slices of a synthetic patient, evenly over its height.
    pub fn add_phantom(&mut self, seed: u64, slices: usize, cfg: &ModelConfig) {
        let n = cfg.input_size;
        let phantom = Phantom::new(seed);
        let window = Window::new(cfg.window_hu[0], cfg.window_hu[1]);
        let (mut hu, mut img, mut lab) = (vec![0f32; n * n], vec![0f32; n * n], vec![0u8; n * n]);
        let case_idx = self.case_names.len();
        for s in 0..slices {
            let z = (s as f32 + 0.5) / slices as f32;
            phantom.render(
                z,
                n,
                cfg.spacing_mm as f32,
                seed.wrapping_mul(1000).wrapping_add(s as u64),
                &mut hu,
                &mut lab,
            );
            window.apply_slice(&hu, &mut img);
            self.push(
                &img,
                &lab,
                SliceOrigin {
                    case: case_idx,
                    slice: s,
                    synthetic: true,
                },
            );
        }
        self.case_names.push(format!("phantom-{seed}"));
    }

    /// The subset of slices whose index satisfies `keep`.
    pub fn select(&self, keep: impl Fn(usize, &SliceOrigin) -> bool) -> SliceSet {
        let mut out = SliceSet::new(self.size);
        out.case_names = self.case_names.clone();
        for (i, o) in self.origins.iter().enumerate() {
            if keep(i, o) {
                out.push(self.image(i), self.label(i), o.clone());
            }
        }
        out
    }

    /// Voxel count per class over the set.
    pub fn class_counts(&self, classes: usize) -> Vec<u64> {
        let mut c = vec![0u64; classes];
        utx_edge::metrics::count_labels(&self.labels, &mut c);
        c
    }
}
