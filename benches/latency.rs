//! Per-slice latency of the shipped demo models: fp32 and int8 (fp16 too on
//! CPUs with native fp16), batch 1 and 4, 1 and 2 threads, on a real slice.
//! `cargo bench --bench latency`; results and the machine in BENCHMARKS.md.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use utx_edge::model::{native_fp16, LoadedModel, ModelSource, Precision};
use utx_edge::volume::{model_slices, read_volume};

fn latency(c: &mut Criterion) {
    let vol = read_volume(std::path::Path::new("data/sample/ct_small.nii.gz")).unwrap();
    let mut group = c.benchmark_group("slice_latency");
    group.sample_size(10);
    let mut precisions = vec![Precision::Fp32, Precision::Int8];
    if native_fp16() {
        precisions.push(Precision::Fp16);
    }
    for precision in precisions {
        for threads in [1, 2] {
            for batch in [1, 4] {
                let model = LoadedModel::load(ModelSource::Embedded(precision))
                    .unwrap()
                    .plan(batch, threads)
                    .unwrap();
                let spec = &model.metadata.spec;
                let n = spec.input_size;
                let slices =
                    model_slices(&vol, n, spec.spacing_mm, model.metadata.window()).unwrap();
                let input = slices[12 * n * n..(12 + batch) * n * n].to_vec();
                let mut logits = vec![0f32; batch * spec.classes * n * n];
                group.throughput(Throughput::Elements(batch as u64));
                let id =
                    BenchmarkId::new(precision.name(), format!("threads{threads}/batch{batch}"));
                group.bench_function(id, |b| b.iter(|| model.run(&input, &mut logits).unwrap()));
            }
        }
    }
    group.finish();
}

criterion_group!(benches, latency);
criterion_main!(benches);
