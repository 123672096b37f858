//! Per-slice latency of the shipped demo models on a real slice: fp32 and
//! int8 at batch 1 and 4 on 1 and 2 threads, fp16 at batch 1 (in f16 on
//! CPUs with native fp16 arithmetic; elsewhere the runtime computes its
//! fp16 weights in f32), and whole-volume throughput of the streaming pipeline
//! on the bundled sample (read → infer → write to memory).
//! `cargo bench --bench latency`; results and the machine in BENCHMARKS.md.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use utx_edge::model::{native_fp16, LoadedModel, ModelSource, Precision, SegModel};
use utx_edge::pipeline::segment_stream;
use utx_edge::volume::{model_slices, read_volume, LabelVolume, PlaneReader};

const SAMPLE: &str = "data/sample/ct_small.nii.gz";

fn model(precision: Precision, batch: usize, threads: usize) -> SegModel {
    LoadedModel::load(ModelSource::Embedded(precision))
        .unwrap()
        .plan(batch, threads)
        .unwrap()
}

fn latency(c: &mut Criterion) {
    let vol = read_volume(std::path::Path::new(SAMPLE)).unwrap();
    let mut group = c.benchmark_group("slice_latency");
    group.sample_size(10);
    let mut configs = vec![];
    for precision in [Precision::Fp32, Precision::Int8] {
        for threads in [1, 2] {
            for batch in [1, 4] {
                configs.push((precision, threads, batch));
            }
        }
    }
    configs.push((Precision::Fp16, if native_fp16() { 2 } else { 1 }, 1));
    for (precision, threads, batch) in configs {
        let model = model(precision, batch, threads);
        let spec = &model.metadata.spec;
        let n = spec.input_size;
        let slices = model_slices(&vol, n, spec.spacing_mm, model.metadata.window()).unwrap();
        let input = slices[12 * n * n..(12 + batch) * n * n].to_vec();
        let mut logits = vec![0f32; batch * spec.classes * n * n];
        group.throughput(Throughput::Elements(batch as u64));
        let id = BenchmarkId::new(precision.name(), format!("threads{threads}/batch{batch}"));
        group.bench_function(id, |b| b.iter(|| model.run(&input, &mut logits).unwrap()));
    }
    group.finish();
}

fn volume(c: &mut Criterion) {
    let mut group = c.benchmark_group("volume_throughput");
    group.sample_size(10);
    let slices = PlaneReader::open(std::path::Path::new(SAMPLE))
        .unwrap()
        .header()
        .dims[2];
    group.throughput(Throughput::Elements(slices as u64));
    for precision in [Precision::Fp32, Precision::Int8] {
        let model = model(precision, 1, 2);
        group.bench_function(BenchmarkId::new(precision.name(), "sample/threads2"), |b| {
            b.iter(|| {
                let mut reader = PlaneReader::open(std::path::Path::new(SAMPLE)).unwrap();
                let mut sink = LabelVolume::new(reader.header().dims);
                segment_stream(&model, 2, &mut reader, &mut sink, |_, _| {}).unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, latency, volume);
criterion_main!(benches);
