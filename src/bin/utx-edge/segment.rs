//! `utx-edge segment`: a CT volume in, a label volume on the same grid out.
//! Input: NIfTI, or (feature `dicom`) a DICOM series folder or .zip; output:
//! NIfTI labels, or a DICOM SEG referencing the source series.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use utx_edge::input_error;

use crate::model_args::{load_model, write_atomic, ModelArgs};

#[derive(Args)]
pub struct SegmentArgs {
    /// Input CT volume (.nii or .nii.gz), or a DICOM series: a folder (searched
    /// recursively) or a .zip.
    input: PathBuf,
    /// Output label volume (.nii or .nii.gz), or a DICOM SEG (.dcm).
    #[arg(short, long)]
    output: PathBuf,
    /// Output format (default: from the output name: .dcm → dicom-seg, else nifti).
    #[arg(long, value_enum)]
    format: Option<OutputFormat>,
    /// DICOM input with several series: the SeriesInstanceUID to segment.
    #[arg(long)]
    series: Option<String>,
    /// Print patient name and ID of a DICOM input (hidden otherwise).
    #[arg(long)]
    show_phi: bool,
    /// Write a JSON report (per-organ volumes, timings) here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Overwrite an existing output.
    #[arg(long)]
    force: bool,
    /// No progress bar or summary.
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    model: ModelArgs,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// uint8 NIfTI labels on the input's grid.
    Nifti,
    /// A DICOM Segmentation (binary, one segment per organ) referencing the source.
    DicomSeg,
}

pub fn run(a: SegmentArgs) -> Result<()> {
    let format = a.format.unwrap_or_else(|| {
        let name = a.output.to_string_lossy().to_lowercase();
        if name.ends_with(".dcm") {
            OutputFormat::DicomSeg
        } else {
            OutputFormat::Nifti
        }
    });
    #[cfg(feature = "dicom")]
    let dicom_in = utx_edge::dicom::is_dicom_input(&a.input);
    #[cfg(not(feature = "dicom"))]
    let dicom_in = false;
    if !dicom_in {
        if a.input.is_dir() || a.input.to_string_lossy().to_lowercase().ends_with(".zip") {
            return Err(input_error!(
                "{}: DICOM input needs utx-edge built with the `dicom` feature",
                a.input.display()
            ));
        }
        if format == OutputFormat::DicomSeg {
            return Err(input_error!(
                "{}: DICOM SEG output needs a DICOM input (a series folder or .zip): a SEG references its source slices; write .nii.gz instead",
                a.output.display()
            ));
        }
        if a.series.is_some() {
            return Err(input_error!(
                "{}: --series is for DICOM input (a folder or .zip)",
                a.input.display()
            ));
        }
    }
    // Open (scan, sort, check) a DICOM series before loading the model, so
    // bad input fails fast.
    #[cfg(feature = "dicom")]
    let dicom = if dicom_in {
        Some(utx_edge::dicom::DicomSource::open(
            &a.input,
            a.series.as_deref(),
        )?)
    } else {
        None
    };
    let (model, t) = load_model(&a.model)?;
    let show = !a.quiet && std::io::stderr().is_terminal();
    let bar = if show {
        ProgressBar::new(0)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} segmenting [{bar:30}] {pos}/{len} slices ({eta})")?
            .progress_chars("=> "),
    );
    let progress = |done: usize, total: usize| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    };
    #[cfg(feature = "dicom")]
    let report = if let Some(source) = dicom {
        segment_dicom(&a, source, format, &model, t, progress)?
    } else {
        utx_edge::pipeline::segment(&model, t, &a.input, &a.output, a.force, progress)?
    };
    #[cfg(not(feature = "dicom"))]
    let report = utx_edge::pipeline::segment(&model, t, &a.input, &a.output, a.force, progress)?;
    bar.finish_and_clear();
    for w in &report.warnings {
        eprintln!("utx-edge: warning: {w}");
    }
    if let Some(r) = &a.report {
        write_atomic(r, &(serde_json::to_string_pretty(&report)? + "\n"))?;
    }
    if !a.quiet {
        eprintln!(
            "{} → {}: {} slices in {:.2} s ({:.1} ms/slice, {} {}, {} threads)",
            a.input.display(),
            a.output.display(),
            report.slices,
            report.seconds_total,
            report.ms_per_slice,
            report.arch,
            report.precision,
            t
        );
        for c in report.classes.iter().skip(1) {
            eprintln!("  {:<14} {:>9.1} mL", c.name, c.volume_ml);
        }
    }
    Ok(())
}

/// A DICOM series in; NIfTI labels or a DICOM SEG out.
#[cfg(feature = "dicom")]
fn segment_dicom(
    a: &SegmentArgs,
    mut source: utx_edge::dicom::DicomSource,
    format: OutputFormat,
    model: &utx_edge::model::SegModel,
    threads: usize,
    progress: impl FnMut(usize, usize),
) -> Result<utx_edge::pipeline::Report> {
    use utx_edge::dicom::{SegInfo, SegWriter};
    use utx_edge::pipeline::{label_extension, segment_stream};
    use utx_edge::volume::write::LabelWriter;
    use utx_edge::volume::{LabelSink, PlaneSource};

    let first = source.first_header()?;
    if a.show_phi {
        let get = |tag| {
            first
                .element_opt(tag)
                .ok()
                .flatten()
                .and_then(|e| e.to_str().ok().map(|s| s.trim().to_string()))
                .unwrap_or_default()
        };
        eprintln!(
            "patient: {} (ID {})",
            get(dicom_dictionary_std::tags::PATIENT_NAME),
            get(dicom_dictionary_std::tags::PATIENT_ID)
        );
    }
    let mut sink: Box<dyn LabelSink> = match format {
        OutputFormat::Nifti => Box::new(LabelWriter::create(
            &a.output,
            source.header(),
            &label_extension(model).to_string(),
            a.force,
        )?),
        OutputFormat::DicomSeg => {
            let spec = &model.metadata.spec;
            let info = SegInfo {
                class_names: spec.class_names.clone(),
                algorithm: format!("utx-edge {} {}", spec.arch, model.metadata.precision.name()),
                version: env!("CARGO_PKG_VERSION").to_string(),
            };
            Box::new(SegWriter::create(
                &a.output,
                source.series(),
                &first,
                info,
                a.force,
            )?)
        }
    };
    let warnings = source.warnings().to_vec();
    let mut report = segment_stream(model, threads, &mut source, sink.as_mut(), progress)?;
    report.output = a.output.display().to_string();
    report.warnings.splice(0..0, warnings);
    Ok(report)
}
