//! Our convolution kernels alone, on the 3 × 3 layers of the `edge` preset
//! (256², 32 → 256 channels), 1 thread: f32 `PackedConv` and int8 `QConv`
//! (quantise the input, VNNI products, requantise and dequantise in the
//! store). Throughput is in FLOP (2 per multiply–add), so criterion's
//! "elem/s" reads as FLOP/s; compare with the machine's sgemm peak in
//! BENCHMARKS.md. `cargo bench --bench conv`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use utx_edge::kernels::conv::{ConvShape, PackedConv};
use utx_edge::kernels::qconv::{QConv, Quant};

fn shapes() -> Vec<(&'static str, ConvShape)> {
    vec![
        (
            "enc0.c2 32→32 @256²",
            ConvShape::new(32, 32, 256, 256, 3, 1, 1),
        ),
        (
            "enc1.c2 64→64 @128²",
            ConvShape::new(64, 64, 128, 128, 3, 1, 1),
        ),
        (
            "enc2.c2 128→128 @64²",
            ConvShape::new(128, 128, 64, 64, 3, 1, 1),
        ),
        (
            "bottleneck.c2 256→256 @32²",
            ConvShape::new(256, 256, 32, 32, 3, 1, 1),
        ),
        (
            "dec0.conv.c1 64→32 @256²",
            ConvShape::new(64, 32, 256, 256, 3, 1, 1),
        ),
    ]
}

fn convs(c: &mut Criterion) {
    let mut group = c.benchmark_group("conv");
    group.sample_size(10);
    for (name, s) in shapes() {
        group.throughput(Throughput::Elements(2 * s.macs() as u64));
        let x: Vec<f32> = (0..s.cin * s.h * s.w)
            .map(|i| (i % 97) as f32 / 97.0)
            .collect();
        let mut y = vec![0f32; s.cout * s.pixels()];
        let w: Vec<f32> = (0..s.cout * s.k())
            .map(|i| ((i % 13) as f32 - 6.0) / 100.0)
            .collect();
        let f32_conv = PackedConv::new(s, &w, &vec![0.1; s.cout]);
        group.bench_with_input(BenchmarkId::new("f32", name), &s, |b, _| {
            b.iter(|| f32_conv.run(&x, &mut y, true, None))
        });
        let wq: Vec<i8> = (0..s.cout * s.k()).map(|i| (i % 251) as i8).collect();
        let q = QConv::new(
            s,
            &wq,
            &vec![0.001; s.cout],
            &vec![7; s.cout],
            Quant::new(1.0 / 255.0, 0),
            Quant::new(0.05, 0),
        );
        group.bench_with_input(BenchmarkId::new("int8", name), &s, |b, _| {
            b.iter(|| q.run(&x, &mut y, true, None))
        });
    }
    group.finish();
}

criterion_group!(benches, convs);
criterion_main!(benches);
