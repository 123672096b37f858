//! The streaming slice scheduler (shared/DESIGN.md §4): slices are read,
//! windowed, resampled onto the model grid, inferred in batches, resampled
//! back as probabilities, labelled by argmax and written, through buffers
//! allocated once per run from the model and volume geometry.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use serde::Serialize;

use crate::metrics::count_labels;
use crate::model::SegModel;
use crate::volume::write::LabelWriter;
use crate::volume::{LabelSink, PlaneReader, PlaneSource, SliceFrame, SliceResampler, Window};

/// Per-class result of a segmentation.
#[derive(Debug, Clone, Serialize)]
pub struct ClassVolume {
    pub id: u8,
    pub name: String,
    pub voxels: u64,
    pub volume_ml: f64,
}

/// What `segment --report` writes.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub input: String,
    pub output: String,
    pub model: String,
    pub arch: String,
    pub precision: String,
    pub threads: usize,
    pub batch: usize,
    pub dims: [usize; 3],
    pub spacing_mm: [f64; 3],
    pub orientation: String,
    pub slices: usize,
    pub streamed: bool,
    pub voxel_ml: f64,
    pub classes: Vec<ClassVolume>,
    pub seconds_total: f64,
    pub seconds_inference: f64,
    pub ms_per_slice: f64,
    /// Things the user should know (e.g. only the first volume of a 4D file was used).
    pub warnings: Vec<String>,
}

/// Buffers sized once from the model and the volume.
struct Buffers {
    plane: Vec<f32>,
    native: Vec<f32>,
    input: Vec<f32>,
    logits: Vec<f32>,
    prob_native: Vec<f32>,
    best_native: Vec<f32>,
    label_slice: Vec<u8>,
    label_plane: Vec<u8>,
}

/// Segments the NIfTI scan `input` into the NIfTI label volume `output`
/// (refused if it exists, unless `force`). `progress(done, total)` is called
/// after each batch.
pub fn segment(
    model: &SegModel,
    threads: usize,
    input: &Path,
    output: &Path,
    force: bool,
    progress: impl FnMut(usize, usize),
) -> Result<Report> {
    let mut reader = PlaneReader::open(input)?;
    let mut writer = LabelWriter::create(
        output,
        reader.header(),
        &label_extension(model).to_string(),
        force,
    )?;
    let mut report = segment_stream(model, threads, &mut reader, &mut writer, progress)?;
    report.output = output.display().to_string();
    Ok(report)
}

/// What a label file says about itself: class names and the model that made it.
pub fn label_extension(model: &SegModel) -> serde_json::Value {
    let spec = &model.metadata.spec;
    serde_json::json!({
        "labels": spec.class_names.iter().enumerate().map(|(i, n)| (i.to_string(), serde_json::Value::from(n.clone()))).collect::<serde_json::Map<_, _>>(),
        "model": model.name,
        "arch": spec.arch,
        "precision": model.metadata.precision.name(),
        "generator": concat!("utx-edge ", env!("CARGO_PKG_VERSION")),
    })
}

/// Segments every plane of `source` into `sink` (finished on success). The
/// report's `output` is left empty for the caller to name.
pub fn segment_stream(
    model: &SegModel,
    threads: usize,
    reader: &mut dyn PlaneSource,
    writer: &mut dyn LabelSink,
    mut progress: impl FnMut(usize, usize),
) -> Result<Report> {
    let t0 = Instant::now();
    let spec = &model.metadata.spec;
    let (n, k, batch) = (spec.input_size, spec.classes, model.batch);
    let header = reader.header().clone();
    let input = header.path.clone();
    let frame = SliceFrame::from_header(&header)?;
    let (rows, cols, slices) = (frame.rows(), frame.cols(), frame.slices());
    let rs = SliceResampler::new(
        rows,
        cols,
        frame.row_spacing,
        frame.col_spacing,
        n,
        spec.spacing_mm,
    );
    let mut warnings = Vec::new();
    if header.volumes > 1 {
        warnings.push(format!(
            "{}: 4D file with {} volumes; only the first was segmented",
            input.display(),
            header.volumes
        ));
    }
    let window: Window = model.metadata.window();

    // A scan whose slice axis is not stored last cannot be streamed plane by
    // plane: it is read whole (bounded by the header limits) and permuted.
    let whole = if frame.streamable() {
        None
    } else {
        let plane = header.dims[0] * header.dims[1];
        let mut data = vec![0f32; plane * header.dims[2]];
        for c in data.chunks_exact_mut(plane) {
            reader.read_into(c)?;
        }
        Some(data)
    };
    let mut labels_whole = whole.as_ref().map(|w| vec![0u8; w.len()]);

    let mut b = Buffers {
        plane: vec![0.0; header.dims[0] * header.dims[1]],
        native: vec![0.0; rows * cols],
        input: vec![0.0; batch * n * n],
        logits: vec![0.0; batch * k * n * n],
        prob_native: vec![0.0; rows * cols],
        best_native: vec![0.0; rows * cols],
        label_slice: vec![0; rows * cols],
        label_plane: vec![0; header.dims[0] * header.dims[1]],
    };
    let mut counts = vec![0u64; k];
    let mut infer_s = 0.0;
    for start in (0..slices).step_by(batch) {
        let count = batch.min(slices - start);
        for slot in 0..batch {
            let x = &mut b.input[slot * n * n..(slot + 1) * n * n];
            if slot >= count {
                x.fill(0.0);
                continue;
            }
            match &whole {
                Some(data) => frame.gather(data, start + slot, &mut b.native),
                None => {
                    reader.read_into(&mut b.plane)?;
                    frame.gather_plane(&b.plane, &mut b.native);
                }
            }
            b.native.iter_mut().for_each(|v| *v = window.apply(*v));
            rs.image_to_model(&b.native, 0.0, x);
        }
        let ti = Instant::now();
        model.run(&b.input, &mut b.logits)?;
        infer_s += ti.elapsed().as_secs_f64();
        for slot in 0..count {
            let logits = &mut b.logits[slot * k * n * n..(slot + 1) * k * n * n];
            softmax_channels(logits, k, n * n);
            argmax_native(
                logits,
                k,
                n * n,
                &rs,
                &mut b.prob_native,
                &mut b.best_native,
                &mut b.label_slice,
            );
            count_labels(&b.label_slice, &mut counts);
            match labels_whole.as_mut() {
                Some(vol) => frame.scatter(&b.label_slice, start + slot, vol),
                None => {
                    frame.scatter_plane(&b.label_slice, &mut b.label_plane);
                    writer.write_plane(&b.label_plane)?;
                }
            }
        }
        progress(start + count, slices);
    }
    if let Some(vol) = &labels_whole {
        for plane in vol.chunks_exact(header.dims[0] * header.dims[1]) {
            writer.write_plane(plane)?;
        }
    }
    writer.finish()?;

    let spacing = header.spacing();
    let voxel_ml = header.voxel_volume_mm3() / 1000.0;
    let total = t0.elapsed().as_secs_f64();
    Ok(Report {
        input: input.display().to_string(),
        output: String::new(),
        model: model.name.clone(),
        arch: spec.arch.clone(),
        precision: model.metadata.precision.name().into(),
        threads,
        batch,
        dims: header.dims,
        spacing_mm: spacing,
        orientation: header.axcodes(),
        slices,
        streamed: whole.is_none(),
        voxel_ml,
        classes: counts
            .iter()
            .enumerate()
            .map(|(i, &v)| ClassVolume {
                id: i as u8,
                name: spec.class_names[i].clone(),
                voxels: v,
                volume_ml: v as f64 * voxel_ml,
            })
            .collect(),
        seconds_total: total,
        seconds_inference: infer_s,
        ms_per_slice: infer_s * 1000.0 / slices as f64,
        warnings,
    })
}

/// In-place soft-max over `k` class maps of `pixels` each.
fn softmax_channels(logits: &mut [f32], k: usize, pixels: usize) {
    for p in 0..pixels {
        let max = (0..k)
            .map(|c| logits[c * pixels + p])
            .fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0;
        for c in 0..k {
            let e = (logits[c * pixels + p] - max).exp();
            logits[c * pixels + p] = e;
            sum += e;
        }
        for c in 0..k {
            logits[c * pixels + p] /= sum;
        }
    }
}

/// Resamples each class probability to the native grid and keeps the most
/// probable class per native pixel; outside the model's view, background.
fn argmax_native(
    probs: &[f32],
    k: usize,
    pixels: usize,
    rs: &SliceResampler,
    prob: &mut [f32],
    best: &mut [f32],
    labels: &mut [u8],
) {
    best.fill(f32::NEG_INFINITY);
    for c in 0..k {
        let fill = if c == 0 { 1.0 } else { 0.0 };
        rs.map_to_native(&probs[c * pixels..(c + 1) * pixels], fill, prob);
        for ((b, l), &p) in best.iter_mut().zip(labels.iter_mut()).zip(prob.iter()) {
            if p > *b {
                *b = p;
                *l = c as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_and_native_argmax() {
        let mut logits = vec![0.0, 2.0, 1.0, 0.0];
        softmax_channels(&mut logits, 2, 2);
        assert!(
            (logits[0] + logits[2] - 1.0).abs() < 1e-6
                && logits[2] > logits[0]
                && logits[1] > logits[3]
        );
        // Model grid 2×2 at 2 mm onto a 1×4 native row at 1 mm: column argmax follows.
        let rs = SliceResampler::new(1, 4, 2.0, 1.0, 2, 2.0);
        let probs = [0.9, 0.1, 0.9, 0.1, 0.1, 0.9, 0.1, 0.9];
        let (mut p, mut b, mut l) = (vec![0.0; 4], vec![0.0; 4], vec![9u8; 4]);
        argmax_native(&probs, 2, 4, &rs, &mut p, &mut b, &mut l);
        assert_eq!(l, vec![0, 0, 1, 1]);
    }
}
