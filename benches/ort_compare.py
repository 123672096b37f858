#!/usr/bin/env python3
"""tract (utx-edge) vs onnxruntime on the same ONNX files, same input, same threads.

For each model: onnxruntime's per-slice latency (InferenceSession,
intra_op_num_threads = inter_op_num_threads = threads, sequential execution,
all graph optimisations) and utx-edge's (`utx-edge bench --json`: tract with our
kernels swapped in; and with `--tract-kernels-only`, tract alone), same model,
same threads, batch 1, measured back to back in one run; the ratio
tract/ort; the model's FLOPs (counted from the graph: 2·MACs of Conv,
ConvTranspose, MatMul, Attention, QLinearConv); and the fraction of this
machine's measured peak fp32 FLOP rate (a large numpy/BLAS sgemm on the same
threads) each engine reaches.

    python3 benches/ort_compare.py --threads 1 models/demo-fp32.onnx models/demo-int8.onnx

The engines are measured in alternation, `--rounds` times, and each keeps its
best round (the median of `--iterations` runs in each): on a shared machine a
neighbour's burst then costs a round, not one engine's whole figure.

Prints a Markdown table (paste into BENCHMARKS.md), the int8 / fp32 ratio of
each engine for every model pair named `X-fp32.onnx` / `X-int8.onnx`, and
writes --json.
"""
import argparse, json, os, subprocess, sys, time

# BLAS reads its thread count when numpy is imported: set it first.
_THREADS = sys.argv[sys.argv.index("--threads") + 1] if "--threads" in sys.argv else "1"
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = _THREADS

import numpy as np
import onnx
from onnx import numpy_helper, shape_inference


def flops(path):
    """2 × multiply-accumulates of the compute ops, from inferred shapes at batch 1."""
    m = onnx.load(path)
    inp = m.graph.input[0].type.tensor_type.shape.dim
    if inp[0].dim_param:
        inp[0].dim_value = 1
    m = shape_inference.infer_shapes(m)
    shapes = {}
    for vi in list(m.graph.value_info) + list(m.graph.input) + list(m.graph.output):
        shapes[vi.name] = [d.dim_value for d in vi.type.tensor_type.shape.dim]
    for t in m.graph.initializer:
        shapes[t.name] = list(t.dims)
    attrs = lambda n: {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
    total = 0
    for n in m.graph.node:
        out = shapes.get(n.output[0])
        if n.op_type in ("Conv", "QLinearConv", "ConvTranspose"):
            w = shapes[n.input[3] if n.op_type == "QLinearConv" else n.input[1]]
            x = shapes[n.input[0]]
            if n.op_type == "ConvTranspose":
                # every input pixel scatters a Cout×k×k patch from Cin inputs
                total += 2 * x[2] * x[3] * w[0] * w[1] * w[2] * w[3]
            else:
                total += 2 * out[1] * out[2] * out[3] * w[1] * w[2] * w[3]
        elif n.op_type == "MatMul":
            a, b = shapes[n.input[0]], shapes[n.input[1]]
            batch = int(np.prod(out[:-2])) if len(out) > 2 else 1
            total += 2 * batch * a[-2] * a[-1] * b[-1]
        elif n.op_type == "Attention":
            q, k = shapes[n.input[0]], shapes[n.input[1]]
            # QKᵀ and PV: 2 · (Tq · Tk · C) each, C summed over heads
            total += 2 * 2 * q[-2] * k[-2] * q[-1]
    return total


def peak_gflops(threads):
    """Best sgemm rate of numpy's BLAS on `threads` threads (set before import in main)."""
    n = 2048
    a = np.random.rand(n, n).astype(np.float32)
    b = np.random.rand(n, n).astype(np.float32)
    a @ b
    best = 0.0
    for _ in range(5):
        t = time.perf_counter()
        a @ b
        best = max(best, 2 * n**3 / (time.perf_counter() - t) / 1e9)
    return best


def ort_latency(path, threads, iters):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    i = s.get_inputs()[0]
    n = i.shape[-1]
    x = synthetic(n)
    for _ in range(3):
        s.run(None, {i.name: x})
    ms = []
    for _ in range(iters):
        t = time.perf_counter()
        s.run(None, {i.name: x})
        ms.append((time.perf_counter() - t) * 1000)
    return float(np.median(ms))


def synthetic(n):
    """The same body-like slice `utx-edge bench` uses without --scan."""
    c = n / 2
    y, x = np.mgrid[0:n, 0:n].astype(np.float32) - c
    body = (x / (0.45 * n)) ** 2 + (y / (0.35 * n)) ** 2 < 1
    organ = (x - 0.1 * n) ** 2 + y**2 < (0.12 * n) ** 2
    img = np.where(organ, 0.7, np.where(body, 0.45, 0.0)).astype(np.float32)
    return img[None, None]


def tract_latency(exe, path, threads, iters, extra=()):
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "bench.json")
        subprocess.run(
            [exe, "bench", "--model", path, "--threads", str(threads), "--iterations", str(iters),
             "--json", out, "--allow-slow-fp16", *extra],
            check=True, capture_output=True, text=True)
        with open(out) as fh:
            j = json.load(fh)
    return j["ms_per_slice"]["p50"], j.get("peak_rss_mb")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-tract-alone", action="store_true",
                    help="skip tract's own plan (slow on the paper preset)")
    ap.add_argument("--exe", default="target/release/utx-edge")
    ap.add_argument("--json")
    a = ap.parse_args()
    peak = peak_gflops(a.threads)
    rows = []
    for m in a.models:
        f = flops(m)
        ort_ms, tract_ms, plain_ms, rss = [], [], [], None
        for _ in range(a.rounds):
            ort_ms.append(ort_latency(m, a.threads, a.iterations))
            t, rss = tract_latency(a.exe, m, a.threads, a.iterations)
            tract_ms.append(t)
            if not a.no_tract_alone:
                plain_ms.append(tract_latency(a.exe, m, a.threads, a.iterations, ["--tract-kernels-only"])[0])
        ort_ms, tract_ms = min(ort_ms), min(tract_ms)
        plain_ms = min(plain_ms) if plain_ms else float("nan")
        rows.append(dict(model=m, gflop=f / 1e9, ort_ms=ort_ms, tract_ms=tract_ms, tract_plain_ms=plain_ms,
                         ratio=tract_ms / ort_ms, tract_peak_rss_mb=rss,
                         ort_frac=f / (ort_ms / 1000) / 1e9 / peak,
                         tract_frac=f / (tract_ms / 1000) / 1e9 / peak))
    print(f"peak sgemm (numpy BLAS, {a.threads} thread(s)): {peak:.1f} GFLOP/s")
    print("| model | GFLOP/slice | onnxruntime ms | utx-edge ms | tract alone ms | utx-edge / ort | ort % of peak | utx-edge % of peak | peak RSS MB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {os.path.basename(r['model'])} | {r['gflop']:.2f} | {r['ort_ms']:.1f} | {r['tract_ms']:.1f} | "
              f"{r['tract_plain_ms']:.1f} | {r['ratio']:.2f} | {100*r['ort_frac']:.1f} | {100*r['tract_frac']:.1f} | "
              f"{r['tract_peak_rss_mb'] or 0:.0f} |")
    by_name = {os.path.basename(r["model"]): r for r in rows}
    pairs = [(n[:-len("-fp32.onnx")], r, by_name.get(n.replace("-fp32.onnx", "-int8.onnx")))
             for n, r in by_name.items() if n.endswith("-fp32.onnx")]
    pairs = [p for p in pairs if p[2]]
    if pairs:
        print()
        print("| model | onnxruntime int8 / fp32 | utx-edge int8 / fp32 |")
        print("| --- | ---: | ---: |")
        for name, fp32, int8 in pairs:
            print(f"| {name} | {int8['ort_ms'] / fp32['ort_ms']:.2f} | {int8['tract_ms'] / fp32['tract_ms']:.2f} |")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(dict(threads=a.threads, peak_gflops=peak, rows=rows), fh, indent=1)


if __name__ == "__main__":
    main()
